"""User-facing zh/en text of the portal's shared leaves, and the one helper every catalog uses.

Audience: an API client or console user (why a submitted string is not acceptable text,
:mod:`portal.text`) and whoever reads a quota figure (:mod:`portal.units`). Entries are
``(zh, en)`` pairs; a text with parameters is a ``str.format`` template with named fields, filled
by :func:`fill`. Each portal area keeps its own catalog beside its code (``portal/<area>/texts.py``;
the venue editor's variable help in ``portal/venues/page_help_texts.py``); the phone's error codes
are mapped in ``portal/web/errors.py``; the libraries have theirs (``ad_pages/texts.py``,
``ad_pages/editor_texts.py``, ``sms_gateway/texts.py``, ``ac_adapters/texts.py``).
"""

from __future__ import annotations

__all__ = ["CONTROL_CHARACTER", "LONE_SURROGATE", "MB_NOTE", "fill"]


def fill(entry: tuple[str, str], **fields: object) -> tuple[str, str]:
    """``entry`` (a ``(zh, en)`` pair of ``str.format`` templates) with the same named fields
    filled in both languages."""
    return entry[0].format(**fields), entry[1].format(**fields)


# portal.text: why a string from outside is refused.
LONE_SURROGATE = ("含有无效的 Unicode 字符（单独的代理项）",
                  "contains a lone UTF-16 surrogate (invalid Unicode)")
CONTROL_CHARACTER = ("含有控制字符 U+{code:04X}", "contains the control character U+{code:04X}")

# portal.units: what "MB" means in every figure the portal shows.
MB_NOTE = ("1 MB = 1,000,000 字节", "1 MB = 1,000,000 bytes")
