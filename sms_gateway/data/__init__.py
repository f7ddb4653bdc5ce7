"""Shipped data files of sms_gateway (the versioned number-segment table)."""
