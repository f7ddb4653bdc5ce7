"""The resource budget of one venue-template render: time, and memory counted before it is used.

A render gets a wall-clock deadline and two memory limits:

* ``max_value_bytes`` — no single value a template builds (string, list, dict, number) may be
  larger. Every operation that can build one predicts its result's size from its inputs and
  is refused *before* it runs when the prediction is over the limit (``'a'*20000|replace('a',
  'a'*20000)`` is refused in microseconds instead of allocating 400 MB);
* ``max_render_bytes`` — everything one render builds, added up (a loop of allowed steps
  cannot pile up memory either: what it builds is charged as it goes).

:func:`measure` sizes plain data without trusting its shape: shared sub-lists count once per
reference (``[[s]*100]*100`` is as big as what printing it would produce), and the walk stops
as soon as the cap is passed, so measuring costs at most ~cap/8 steps.

The budget lives in a thread-local (:func:`current`): one render runs per thread at a time.
``None`` means no budget (the shipped default templates, which are trusted and are the
fallback) — the guards then do nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from jinja2.sandbox import SecurityError
from markupsafe import Markup

__all__ = [
    "Budget",
    "RenderLimitExceeded",
    "RenderLimits",
    "Size",
    "arm",
    "current",
    "disarm",
    "measure",
    "str_bytes",
    "width",
]


class RenderLimitExceeded(SecurityError):
    """A template used too much time or memory, or produced too much output."""


@dataclass(frozen=True, slots=True)
class RenderLimits:
    seconds: float = 0.25            # wall-clock budget of one render
    max_output: int = 60_000         # characters of HTML (pages must stay < 50 KB with images)
    max_sequence: int = 20_000       # longest string/list a single `*` or `+` may build
    max_source: int = 40_000         # characters of a venue template's source
    max_tokens: int = 4_000          # tokens of a venue template (bounds parse + compile cost)
    max_value_bytes: int = 1 << 20   # the largest single value a template may build
    max_render_bytes: int = 16 << 20  # all values one render builds, added up
    max_int_bits: int = 4_096        # the largest integer arithmetic may build
    max_text_filter: int = 20_000    # input characters of wordwrap/urlize (super-linear)


class Budget:
    """The running render's deadline and memory account."""

    __slots__ = ("deadline", "limits", "spent")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.spent = 0

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderLimitExceeded("template took too long")

    def charge(self, nbytes: int, what: str) -> None:
        """Account for a value of ``nbytes`` about to be built by ``what``; refuse it first if it
        is over the single-value limit or would take the render over its total."""
        if nbytes > self.limits.max_value_bytes:
            raise RenderLimitExceeded(f"{what} would build {nbytes} bytes "
                                      f"(limit {self.limits.max_value_bytes})")
        self.spent += nbytes
        if self.spent > self.limits.max_render_bytes:
            raise RenderLimitExceeded(f"template built more than {self.limits.max_render_bytes} bytes")

    def value_cap(self) -> int:
        return self.limits.max_value_bytes


class _Local(threading.local):
    # None until a render on this thread arms a budget: read on every {{ … }} of every page,
    # and getattr(…, None) on a thread that never armed one raised and caught an AttributeError.
    budget: Budget | None = None


_local = _Local()


def current() -> Budget | None:
    """The budget of the render running on this thread (None = trusted, unlimited)."""
    return _local.budget


def arm(limits: RenderLimits) -> Budget:
    budget = Budget(limits)
    _local.budget = budget
    return budget


def disarm() -> None:
    _local.budget = None


# --- sizes ------------------------------------------------------------------------------------------

def width(*texts: str) -> int:
    """Bytes per character of a string built from ``texts`` (CPython stores 1, 2 or 4)."""
    w = 1
    for text in texts:
        if text and not text.isascii():
            top = ord(max(text))
            w = max(w, 4 if top > 0xFFFF else 2 if top > 0xFF else 1)
    return w


def str_bytes(chars: int, w: int = 1) -> int:
    """Memory of a string of ``chars`` characters, ``w`` bytes each."""
    return 64 + max(0, chars) * w


class Size(NamedTuple):
    """``nbytes``: memory, counting shared parts once per reference; ``text``: an upper bound of
    ``len(str(value))``; ``json``: of ``len(json.dumps(value))`` (HTML-safe escaping included);
    ``nodes`` and ``depth`` of the structure. ``over``: the walk stopped at the cap."""

    nbytes: int
    text: int
    json: int
    nodes: int
    depth: int
    over: bool


_SINGLETONS = (bool, type(None))


def measure(value: Any, cap: int) -> Size:
    """Size of ``value`` (see :class:`Size`), stopping once ``nbytes`` exceeds ``cap``."""
    if isinstance(value, str):      # the common case, O(1)
        n = len(value)
        nbytes = sys.getsizeof(value)
        return Size(nbytes, n, 12 * n + 2, 1, 0, nbytes > cap)
    nbytes = text = js = nodes = depth = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        obj, level = stack.pop()
        nodes += 1
        depth = max(depth, level)
        nested = level > 0
        if isinstance(obj, str):
            n = len(obj)
            nbytes += sys.getsizeof(obj)
            # repr() inside a container: quotes, and up to 10 characters per character
            # ('\U000e0000'); Markup adds its name.
            text += (10 * n + 12) if nested else n
            js += 12 * n + 2
        elif isinstance(obj, _SINGLETONS):
            text += 5
            js += 5
        elif isinstance(obj, int):
            nbytes += sys.getsizeof(obj)
            digits = obj.bit_length() // 3 + 2
            text += digits
            js += digits
        elif isinstance(obj, float):
            nbytes += 24
            text += 25
            js += 25
        elif isinstance(obj, list | tuple):
            nbytes += sys.getsizeof(obj)
            text += 2 + 2 * len(obj)
            js += 2 + 2 * len(obj)
            if nbytes <= cap:
                stack.extend((item, level + 1) for item in obj)
        elif isinstance(obj, dict):
            nbytes += sys.getsizeof(obj)
            text += 2 + 4 * len(obj)
            js += 2 + 4 * len(obj)
            if nbytes <= cap:
                for k, v in obj.items():
                    stack.append((k, level + 1))
                    stack.append((v, level + 1))
        else:
            # Jinja's own objects (macros, loop, undefined): small, and their str() is short.
            nbytes += 64
            text += 200
            js += 200
        if nbytes > cap:     # every node costs at least its 8-byte reference: the walk is short
            return Size(nbytes, text, js, nodes, depth, True)
    return Size(nbytes, text, js, nodes, depth, False)


def is_markup(value: Any) -> bool:
    return isinstance(value, Markup)
