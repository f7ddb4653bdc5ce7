"""From the RADIUS User-Name an AC sends to the phone number our credentials are kept under.

ACs do not all send the number the portal logged in with. Huawei and H3C "domain included"
formats append the ISP domain (``18900000015@default``; RFC 7542 §2.2 puts the realm after
the last ``@``, but a phone number holds none, so everything from the first one goes), and some
send the number in international form (``8618900000015``,
``008618900000015``, ``+8618900000015``). Per AC the realm is stripped (``AcRecord.strip_realm``,
on by default); the country prefix is removed whenever what is left is a mainland mobile number
(11 digits starting 1[3-9]), so a bare number is never cut.

Pure; no Redis here.
"""

from __future__ import annotations

import re

__all__ = ["phone_of_user_name"]

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_SEPARATORS = str.maketrans("", "", " -()")
_MAX = 64    # a longer User-Name is no phone number (RADIUS allows 253 octets)


def phone_of_user_name(user_name: str, *, strip_realm: bool = True) -> str | None:
    """The phone digits ``user_name`` names, or None when it is no phone number.

    ``"18900000015@default"`` → ``"18900000015"`` (with ``strip_realm``), ``"8618900000015"``,
    ``"008618900000015"``, ``"+86 189-0000-0015"`` → ``"18900000015"``; other digit strings of
    5–20 digits are returned as they are (test numbers, other numbering plans)."""
    if len(user_name) > _MAX:
        return None
    text = user_name.strip()
    if strip_realm and "@" in text:
        text = text.partition("@")[0].strip()
    text = text.translate(_SEPARATORS)
    for prefix in ("+86", "0086", "86"):
        if text.startswith(prefix) and _MOBILE.fullmatch(text[len(prefix):]):
            return text[len(prefix):]
    if text.startswith("+86"):
        text = text[3:]
    if not text.isascii() or not text.isdigit() or not 5 <= len(text) <= 20:
        return None
    return text
