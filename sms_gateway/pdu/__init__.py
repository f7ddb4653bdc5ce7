"""Pure PDU codecs (bytes in, dataclasses out) for SMGP 3.0, CMPP 2.0/3.0 and SMPP 3.4."""
