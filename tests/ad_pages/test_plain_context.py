"""``plain()`` (what may reach a template: plain data, copied) takes a mapping's scalar values
without a call each, and must answer exactly as the one-call-per-value version it replaced:
the same copy, the same refusals, the depth limit included at its edge."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import pytest
from markupsafe import Markup

from ad_pages.sandbox import plain


def reference(value: Any, _depth: int = 0) -> Any:
    """The previous implementation, kept here as the specification."""
    if _depth > 12:
        raise TypeError("context nested too deeply")
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    if isinstance(value, list | tuple):
        return [reference(v, _depth + 1) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"context key {k!r} is not a string")
            out[k] = reference(v, _depth + 1)
        return out
    raise TypeError(f"context value of type {type(value).__name__} is not plain data")


class Level(enum.IntEnum):
    HIGH = 2


def nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


CASES = [
    {"t": {"title": "标题", "n": 3, "x": 1.5, "b": True, "none": None}, "l": [1, ("a", {"z": "q"})]},
    {"m": Markup("<b>x</b>"), "e": Level.HIGH},
    *[nested(d, "leaf") for d in (11, 12, 13, 14)],
    *[nested(d, [1]) for d in (11, 12)],
    {"obj": object()},
    {"deep": {1: "a"}},
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_plain_answers_as_the_reference(case: int) -> None:
    value = CASES[case]
    try:
        expected: Any = reference(value)
    except TypeError as exc:
        with pytest.raises(TypeError) as got:
            plain(value)
        assert str(got.value) == str(exc)
        return
    copied = plain(value)
    assert copied == expected
    assert [type(v) for v in _leaves(copied)] == [type(v) for v in _leaves(expected)]


def test_the_copy_is_a_copy() -> None:
    inner = {"a": "b"}
    copied = plain({"inner": inner, "l": [inner]})
    copied["inner"]["a"] = "changed"
    copied["l"][0]["a"] = "changed"
    assert inner == {"a": "b"}


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]
