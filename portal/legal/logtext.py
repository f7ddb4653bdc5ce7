"""Text from outside (ACs, phones) as the legal logs store and print it: no control characters.

An AC controls SSIDs, session ids, user names and NAS identifiers; a phone controls parts of its
login. Stored raw, a value such as ``"\\x00\\x1b[31m…\\r\\n…"`` reaches the operator's terminal
(``citywifi archive export``), splits CSV rows in tools that read line by line and fakes log
lines. So:

* ``escape_raw`` is applied when a record is written to a legal-log stream: every control
  character becomes a C-style escape (``\\x1b`` for C0 controls and DEL, ``\\u0085`` for C1
  controls, line/paragraph separators and bidirectional overrides) and a backslash is doubled, so
  the stored text is printable AND the original characters can be recovered exactly
  (``unescape_raw``). Ordinary text (Chinese SSIDs, emoji) is kept as it is.
* ``printable`` is applied to every value an export writes, whatever its age: records stored
  before this escaping existed (or written by other code) still cannot print a control
  character. It escapes control characters only, so an already escaped value passes unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["escape_fields", "escape_raw", "printable", "unescape_raw"]

# C0 controls, DEL, C1 controls, Arabic letter mark, LRM/RLM, line/paragraph separators,
# bidirectional embeddings/overrides/isolates (they reorder what a terminal or editor shows).
_CONTROLS = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{_CONTROLS}]")
_RAW = re.compile(f"[\\\\{_CONTROLS}]")
_ESCAPE = re.compile(r"\\(?:\\|x([0-9a-f]{2})|u([0-9a-f]{4}))")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


def escape_raw(text: str) -> str:
    """``text`` with controls escaped and backslashes doubled (reversible; see module doc)."""
    return _RAW.sub(_escape, text) if _RAW.search(text) else text


def unescape_raw(text: str) -> str:
    """The inverse of ``escape_raw``."""
    def back(match: re.Match[str]) -> str:
        hexa = match.group(1) or match.group(2)
        return "\\" if hexa is None else chr(int(hexa, 16))

    return _ESCAPE.sub(back, text)


def printable(text: str) -> str:
    """``text`` with control characters escaped (backslashes kept): safe for a terminal or CSV."""
    return _CONTROL.sub(_escape, text) if _CONTROL.search(text) else text


def escape_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """``escape_raw`` over every value of a stream entry (one scan when nothing needs it: the
    accounting hot path writes one entry per record)."""
    joined = "".join(fields.values())
    # ASCII text without controls (0x00-0x1f, 0x7f: what isprintable() refuses in ASCII) and
    # without a backslash is all _RAW can find in ASCII: decided by C loops, where the regex's
    # character class cost ~13k instructions per accounting entry. Anything else: the regex.
    if (joined.isascii() and joined.isprintable() and "\\" not in joined) or not _RAW.search(joined):
        return dict(fields)
    return {k: escape_raw(v) for k, v in fields.items()}
