"""SMS: number policy (carrier/region), gateway backends and PDU codecs. A library."""
