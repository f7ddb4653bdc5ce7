"""RADIUS server: authentication, accounting, plans in the NAS vendor's dialect, RFC 5176."""
