"""What counts as text in anything a console form or the JSON API hands the core.

JSON may carry ``"\\ud800"`` — a lone UTF-16 surrogate, which Python keeps in a ``str`` but
which no UTF-8 encoder accepts, so it used to surface as a 500 when the value reached Redis or
a response. Control characters are legal in both encodings but have no business in names,
titles or templates, and become terminal escapes or forged lines in the audit log and CSV
exports. So every string from outside is checked once, where it is decoded (the API's body
parser, the consoles' form hook), and refused with the field's name.

Allowed: any Unicode scalar value except the C0 controls (but TAB, LF, CR), DEL and the C1
controls. Pure functions, no Flask.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from portal.texts import CONTROL_CHARACTER, LONE_SURROGATE, fill

__all__ = ["TextProblem", "first_problem", "text_problem"]

_BAD = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class TextProblem(ValueError):
    """``where`` (a field path like ``creative/html``) holds ``what`` (zh and en)."""

    def __init__(self, where: str, en: str, zh: str) -> None:
        super().__init__(f"{where}: {en}")
        self.where, self.en, self.zh = where, en, zh


def text_problem(value: str) -> tuple[str, str] | None:
    """Why ``value`` is not acceptable text (en, zh), or None."""
    match = _BAD.search(value)
    if match is None:
        return None
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        return LONE_SURROGATE[1], LONE_SURROGATE[0]
    zh, en = fill(CONTROL_CHARACTER, code=ord(char))
    return en, zh


def _walk(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """(path, string) for every key and string in a parsed JSON value, depth first."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            yield path, node
        elif isinstance(node, dict):
            for key, item in node.items():
                child = f"{path}/{key}" if path else str(key)
                yield child, str(key)
                stack.append((item, child))
        elif isinstance(node, list):
            stack.extend((item, f"{path}/{i}" if path else str(i)) for i, item in enumerate(node))


def first_problem(value: Any, where: str = "") -> TextProblem | None:
    """The first bad string (or key) anywhere in ``value``, as a :class:`TextProblem`."""
    for path, text in _walk(value, where):
        problem = text_problem(text)
        if problem is not None:
            shown = path if text_problem(path) is None else "(a field name)"
            return TextProblem(shown[:80] or "(body)", *problem)
    return None
