"""portal/legal/logtext.py: what the legal logs store and print has no control characters."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.legal.logtext import escape_fields, escape_raw, printable, unescape_raw


def test_examples() -> None:
    assert escape_raw("城市WiFi 🎉") == "城市WiFi 🎉"                 # ordinary text unchanged
    assert escape_raw("\x00\x1b[31m\r\n") == r"\x00\x1b[31m\x0d\x0a"
    assert escape_raw("a\\x1b") == r"a\\x1b"                         # a literal backslash
    assert escape_raw("\x85\u202e\u2028\x7f") == r"\u0085\u202e\u2028\x7f"
    assert printable("a\\b\x1b") == r"a\b\x1b"                      # backslashes kept
    assert escape_fields({"a": "x", "b": "\n"}) == {"a": "x", "b": r"\x0a"}


@given(st.text())
def test_escape_is_reversible_and_printable(text: str) -> None:
    stored = escape_raw(text)
    assert unescape_raw(stored) == text
    assert not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in stored)
    assert printable(stored) == stored                               # an export prints it as is
    assert not any(unicodedata.category(c) == "Cc" for c in printable(text))


_ASCII = st.text(alphabet=st.characters(max_codepoint=0x7F))


@settings(deadline=None)     # a loaded shared machine stretches single examples past 200 ms
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), _ASCII | st.text()))
def test_escape_fields_is_escape_raw_of_each_value(fields: dict[str, str]) -> None:
    # escape_fields decides plain ASCII without the regex (isascii/isprintable): same answer
    assert escape_fields(fields) == {k: escape_raw(v) for k, v in fields.items()}


def test_escape_fields_ascii_edges() -> None:
    assert escape_fields({"a": "x\\y"}) == {"a": "x\\\\y"}
    assert escape_fields({"a": "ok", "b": "\x7f"}) == {"a": "ok", "b": r"\x7f"}
    assert escape_fields({"a": "tab\there"}) == {"a": r"tab\x09here"}
    assert escape_fields({"a": " ~!"}) == {"a": " ~!"}
    assert escape_fields({"a": "\x85"}) == {"a": r"\u0085"}      # not ASCII: the regex decides
