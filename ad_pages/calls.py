"""What the methods of plain data and the operators a venue template can use may cost.

Like :mod:`ad_pages.guards` for filters: each prediction is made from the inputs, before the
work, and charged to the render's budget. Methods are an allow-list per type: what is not
listed (``str.format``, ``encode``, ``translate``, ``int.to_bytes``, ``dict.fromkeys``…) is not
reachable from a template (:func:`method_allowed`, asked by the sandbox on attribute access).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

from jinja2.sandbox import SecurityError
from markupsafe import Markup, escape

from ad_pages.budget import Budget, RenderLimitExceeded, measure, str_bytes, width
from ad_pages.guards import SMALL, check_expanded, escaped_len, materialize, text_size

__all__ = ["PLAIN_TYPES", "binop_bytes", "iter_checked", "method_allowed", "method_bytes"]


# --- methods of plain data --------------------------------------------------------------------------

_CASE = frozenset({"capitalize", "casefold", "lower", "upper", "swapcase", "title"})
_SHRINK = frozenset({"strip", "lstrip", "rstrip", "removeprefix", "removesuffix", "striptags", "unescape"})
_STR_SCALAR = frozenset({
    "count", "find", "rfind", "index", "rindex", "startswith", "endswith", "isalnum", "isalpha",
    "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable",
    "isspace", "istitle", "isupper"})
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_OTHER_METHODS: dict[type, frozenset[str]] = {
    list: frozenset({"count", "index", "copy"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "items", "keys", "values", "copy"}),
    int: frozenset({"bit_length", "bit_count", "conjugate", "as_integer_ratio"}),
    float: frozenset({"is_integer", "as_integer_ratio", "hex", "conjugate"}),
}
_STR_METHODS = _CASE | _SHRINK | _STR_SCALAR | frozenset({
    "split", "rsplit", "splitlines", "partition", "rpartition", "replace", "join", "center", "ljust",
    "rjust", "zfill", "expandtabs"})
PLAIN_TYPES = (str, list, tuple, dict, int, float)


def method_allowed(receiver: Any, name: str) -> bool:
    """Whether venue templates may call method ``name`` of plain value ``receiver``."""
    if isinstance(receiver, str):
        return name in _STR_METHODS
    kind = next((t for t in (bool, int, float, list, tuple, dict) if isinstance(receiver, t)), None)
    return kind is not None and name in _OTHER_METHODS.get(int if kind is bool else kind, frozenset())


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _str_method_bytes(budget: Budget, s: str, name: str, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> tuple[int, tuple[Any, ...]]:
    markup = isinstance(s, Markup)     # Markup's methods escape their string arguments
    w = width(s)
    if name in _STR_SCALAR:
        return SMALL, args
    if name in _SHRINK:
        return str_bytes(len(s), w), args
    if name in _CASE:
        return str_bytes(3 * len(s), w), args
    if name in ("split", "rsplit"):
        sep, maxsplit = _arg(args, kwargs, 0, "sep", None), _arg(args, kwargs, 1, "maxsplit", -1)
        pieces = len(s) // 2 + 1 if sep is None else (s.count(sep) + 1 if isinstance(sep, str) and sep else 1)
        if isinstance(maxsplit, int) and maxsplit >= 0:
            pieces = min(pieces, maxsplit + 1)
        return 56 + 72 * pieces + len(s) * w, args
    if name == "splitlines":
        pieces = sum(s.count(ch) for ch in _LINE_BREAKS) + 1
        return 56 + 72 * pieces + len(s) * w, args
    if name in ("partition", "rpartition"):
        return 3 * 72 + len(s) * w, args
    if name == "replace":
        old, new = _arg(args, kwargs, 0, "old", None), _arg(args, kwargs, 1, "new", None)
        count = _arg(args, kwargs, 2, "count", -1)
        if markup:
            old, new = escape(old), escape(new)
        if not (isinstance(old, str) and isinstance(new, str)):
            return SMALL, args          # str.replace raises TypeError
        n = len(s) + 1 if old == "" else s.count(old)
        if isinstance(count, int) and count >= 0:
            n = min(n, count)
        return str_bytes(len(s) + n * (len(new) - len(old)), width(s, new)), args
    if name == "join":
        if not args:
            return SMALL, args
        items = materialize(budget, args[0], "join")
        chars, iw = 0, w
        for i, item in enumerate(items):
            if i % 256 == 0:
                budget.check()
            if markup:
                n, item_w = text_size(budget, item, "join")
                chars += 5 * n
            elif isinstance(item, str):
                n, item_w = len(item), width(item)
                chars += n
            else:
                return SMALL, (items,)  # str.join raises TypeError
            iw = max(iw, item_w)
            if chars > budget.value_cap():
                break
        chars += max(0, len(items) - 1) * len(s)
        return str_bytes(chars, iw), (items, *args[1:])
    if name in ("center", "ljust", "rjust", "zfill"):
        n = _arg(args, kwargs, 0, "width", 0)
        if isinstance(n, bool) or not isinstance(n, int):
            return SMALL, args
        return str_bytes(max(len(s), n), w), args
    if name == "expandtabs":
        size = _arg(args, kwargs, 0, "tabsize", 8)
        if isinstance(size, bool) or not isinstance(size, int):
            return SMALL, args
        return str_bytes(len(s) + s.count("\t") * max(0, size), w), args
    raise SecurityError(f"the string method {name!r} is not allowed")


def method_bytes(budget: Budget, receiver: Any, name: str, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> tuple[int, tuple[Any, ...]]:
    """The predicted size of ``receiver.name(*args, **kwargs)`` (and the arguments to call it
    with: an iterator argument is read into a list first); SecurityError for a method venue
    templates may not call (``format``, ``translate``, ``encode``, ``to_bytes``…)."""
    if not method_allowed(receiver, name):
        raise SecurityError(f"the method {name!r} of a {type(receiver).__name__} is not allowed")
    if isinstance(receiver, str):
        return _str_method_bytes(budget, receiver, name, args, kwargs)
    if name == "copy":
        return sys.getsizeof(receiver), args
    return SMALL, args


# --- operators ----------------------------------------------------------------------------------------

def _bits(value: int | float) -> int:
    return value.bit_length() if isinstance(value, int) else 64


def binop_bytes(budget: Budget | None, operator: str, left: Any, right: Any) -> int:
    """The predicted size of ``left <operator> right``; refuses %-formatting always, and with a
    budget any result over the limits (repetition, concatenation, big integers)."""
    if operator == "%" and isinstance(left, str | bytes):
        raise SecurityError("string formatting with % is not allowed")
    if budget is None:
        return 0
    limits = budget.limits
    numbers = (int, float)
    if isinstance(left, numbers) and isinstance(right, numbers):
        if isinstance(left, int) and isinstance(right, int):
            if operator == "**":
                if abs(right) > 64:
                    raise RenderLimitExceeded("exponent too large")
                bits = _bits(left) * max(0, right)
            elif operator == "*":
                bits = _bits(left) + _bits(right)
            else:
                bits = max(_bits(left), _bits(right)) + 1
            if bits > limits.max_int_bits:
                raise RenderLimitExceeded(f"integer result over {limits.max_int_bits} bits")
            return 32 + bits // 8
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise RenderLimitExceeded("exponent too large")
        return 32
    sequences = (str, list, tuple)
    if operator == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, sequences) and isinstance(n, int):
                count = len(seq) * max(0, n)
                if count > limits.max_sequence:
                    raise RenderLimitExceeded("repetition too large")
                if isinstance(seq, str):
                    return str_bytes(count, width(seq))
                # [big] * n holds n references to one value: as large as printing or comparing it.
                check_expanded(budget, measure(seq, budget.value_cap()).nbytes * max(0, n), "'*'")
                return 56 + 8 * count
    if operator == "+" and isinstance(left, sequences) and isinstance(right, sequences):
        if len(left) + len(right) > limits.max_sequence * 4:
            raise RenderLimitExceeded("concatenation too large")
        if isinstance(left, str) and isinstance(right, str):
            lm, rm = isinstance(left, Markup), isinstance(right, Markup)
            chars = (len(left) if lm or not rm else escaped_len(left)) + (
                escaped_len(right) if lm else len(right))
            return str_bytes(chars, width(left, right))
        cap = budget.value_cap()
        check_expanded(budget, measure(left, cap).nbytes + measure(right, cap).nbytes, "'+'")
        return 56 + 8 * (len(left) + len(right))
    return SMALL


def iter_checked(budget: Budget, iterable: Iterable[Any]) -> Iterable[Any]:
    """``iterable`` with the deadline checked before every item (a loop body may be empty)."""
    for item in iterable:
        budget.check()
        yield item


# --- how functions look in a page -----------------------------------------------------------------

class TemplateFunction:
    """A function handed to templates (a global, or a method of a plain value) that prints as
    ``<function NAME>``: the default repr of a bound method names our classes and shows a
    memory address (``{{ range }}``, ``{{ ''.upper }}``), which a page has no business seeing."""

    __slots__ = ("func", "name")

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self.func = func
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<function {self.name}>"

    __str__ = __repr__


def wrap_method(obj: Any, value: Any) -> Any:
    """``value`` (an attribute of ``obj`` a template read), a method of plain data wrapped."""
    if isinstance(obj, PLAIN_TYPES) and callable(value) and getattr(value, "__self__", None) is obj:
        return TemplateFunction(value, str(getattr(value, "__name__", "method")))
    return value


_ADDRESS = re.compile(r" (?:object )?at 0x[0-9a-fA-F]+")


def without_addresses(text: str) -> str:
    """``text`` (the printed form of something that is not plain data) with memory addresses
    removed (``<jinja2.runtime.BlockReference object at 0x7f…>``)."""
    return _ADDRESS.sub("", text) if " at 0x" in text else text
