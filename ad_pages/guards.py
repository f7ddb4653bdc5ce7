"""What every filter and test a venue template can use may cost (methods and operators:
:mod:`ad_pages.calls`).

Each guard predicts the size of the result from its inputs and charges it to the render's
:class:`ad_pages.budget.Budget` *before* doing the work, so a template cannot make one call
allocate more than ``max_value_bytes`` or run past the deadline inside a single C function.
Where an exact prediction is cheap it is exact (``replace`` counts the occurrences, ``join``
adds up its items); otherwise it is a safe upper bound (case changes at most triple a string,
HTML escaping multiplies it by at most five).

The tables are allow-lists: a filter or test that is not listed is not available to venue
templates at all (a newer Jinja2 adding one does not widen the sandbox).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from typing import Any

from jinja2.filters import make_attrgetter
from jinja2.runtime import Context
from jinja2.sandbox import SecurityError
from jinja2.utils import _PassArg
from markupsafe import Markup, escape

from ad_pages.budget import Budget, RenderLimitExceeded, measure, str_bytes, width

__all__ = [
    "ALLOWED_TESTS",
    "FILTER_GUARDS",
    "REFUSED_FILTERS",
    "SMALL",
    "check_expanded",
    "escaped_len",
    "materialize",
    "output_bytes",
    "run",
    "test_guard",
    "text_size",
]

SMALL = 64     # a number, a bool, a view, an iterator


def run(func: Callable[..., Any], context: Context, *args: Any, **kwargs: Any) -> Any:
    """Call a Jinja2 filter or test with what its ``pass_*`` decorator asks for."""
    pass_arg = _PassArg.from_obj(func)
    if pass_arg is _PassArg.context:
        return func(context, *args, **kwargs)
    if pass_arg is _PassArg.eval_context:
        return func(context.eval_ctx, *args, **kwargs)
    if pass_arg is _PassArg.environment:
        return func(context.environment, *args, **kwargs)
    return func(*args, **kwargs)


def escaped_len(text: str) -> int:
    """Exact length of ``markupsafe.escape(text)`` (``&<>"'`` become 4-5 characters)."""
    if isinstance(text, Markup):
        return len(text)
    return (len(text) + 4 * (text.count("&") + text.count('"') + text.count("'"))
            + 3 * (text.count("<") + text.count(">")))


def text_size(budget: Budget, value: Any, what: str) -> tuple[int, int]:
    """``(characters, bytes per character)`` of ``str(value)``, refusing a value whose text
    would be over the single-value limit."""
    if isinstance(value, str):
        return len(value), width(value)
    size = measure(value, budget.value_cap())
    if size.over or size.text > budget.value_cap():
        raise RenderLimitExceeded(f"{what}: value too large to turn into text")
    return size.text, 4


_SHORT = 256      # characters: below this, an upper bound is cheaper than an exact count


def output_bytes(budget: Budget, value: Any, autoescape: bool, what: str) -> int:
    """Memory of ``value`` printed into the page (escaped when ``autoescape``)."""
    if isinstance(value, str):
        if len(value) <= _SHORT:        # the common case: at most 5x, 4 bytes a character
            return str_bytes(5 * len(value), 4)
        return str_bytes(escaped_len(value) if autoescape else len(value), width(value))
    chars, w = text_size(budget, value, what)
    return str_bytes(5 * chars if autoescape else chars, w)


def materialize(budget: Budget, value: Any, what: str) -> Any:
    """``value`` itself when it is already data; an iterator or generator is read into a list
    under the deadline and the size limit (so a prediction can look at every item)."""
    if isinstance(value, str | list | tuple | dict):
        return value
    items: list[Any] = []
    cap = budget.value_cap() // 8
    for i, item in enumerate(value):
        if i % 256 == 0:
            budget.check()
        if i >= cap:
            raise RenderLimitExceeded(f"{what}: too many items")
        items.append(item)
    budget.charge(56 + 8 * len(items), what)
    return items


def check_expanded(budget: Budget, nbytes: int, what: str) -> None:
    """Refuse a new list whose references, followed, add up to more than one value may hold
    (it costs little memory, but printing, serialising or comparing it walks all of it)."""
    if nbytes > budget.value_cap():
        raise RenderLimitExceeded(f"{what} would build a value of {nbytes} bytes "
                                  f"(limit {budget.value_cap()})")


def _int_arg(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SecurityError(f"{what} needs a whole number")
    if not lo <= value <= hi:
        raise RenderLimitExceeded(f"{what} must be between {lo} and {hi}")
    return value


# --- filters ------------------------------------------------------------------------------------------

FilterGuard = Callable[..., Any]
"""``guard(budget, context, original_filter, value, *args, **kwargs)`` → the filter's result."""

REFUSED_FILTERS = ("attr", "format", "map", "pprint", "xmlattr")
"""Filters venue templates do not get: ``attr``/``map`` reach attributes and filters by name,
``format`` is %-formatting (widths a template chooses), ``pprint``/``xmlattr`` are not needed."""


def _check_numbers(budget: Budget, what: str, *values: Any) -> None:
    """Refuse an integer larger than arithmetic may build: a filter's work on a number grows with
    its size (``round`` of an int, ``abs``, ``sum``), so no filter gets a bigger one."""
    for value in values:
        if isinstance(value, int) and value.bit_length() > budget.limits.max_int_bits:
            raise RenderLimitExceeded(f"{what}: integer over {budget.limits.max_int_bits} bits")


def _scalar(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, *a: Any, **kw: Any) -> Any:
    """Results that are a number, one of the items, or a lazy iterator over the items."""
    _check_numbers(budget, "filter", value, *a, *kw.values())
    budget.charge(SMALL, "filter")
    return run(f, ctx, value, *a, **kw)


MAX_ROUND_DIGITS = 330
"""``round``'s precision bound: past a float's range (1e±308, denormals to 1e-324) rounding
changes nothing, while ``round(10, -N)`` and the ``ceil``/``floor`` methods build ``10**N`` — one
uninterrupted big-integer computation (N = 3e7 held a worker for minutes)."""


def _round(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, precision: Any = 0,
           method: Any = "common") -> Any:
    _int_arg(precision, "round precision", -MAX_ROUND_DIGITS, MAX_ROUND_DIGITS)
    _check_numbers(budget, "round", value)
    budget.charge(SMALL + MAX_ROUND_DIGITS // 2, "round")
    return run(f, ctx, value, precision, method)


_DIGIT_BITS = {2: 1, 4: 2, 8: 3, 16: 4, 32: 5}


def _int(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, default: Any = 0,
         base: Any = 10) -> Any:
    """``int`` of text builds a number of up to ~5 bits a character (base 2 to 36: CPython's
    digit limit does not apply to power-of-two bases); of a float, at most 1024 bits."""
    if isinstance(value, str):
        if not (isinstance(base, int) and not isinstance(base, bool)):
            raise SecurityError("int base needs a whole number")
        bits = len(value) * _DIGIT_BITS.get(base, 4 if base == 0 else 6)
        if bits > budget.limits.max_int_bits:
            raise RenderLimitExceeded(f"int: text of {len(value)} characters would build an integer "
                                      f"over {budget.limits.max_int_bits} bits")
    _check_numbers(budget, "int", value, default)
    budget.charge(SMALL + budget.limits.max_int_bits // 8, "int")
    return run(f, ctx, value, default, base)


def _textual(factor: int) -> FilterGuard:
    """Filters whose text result is at most ``factor`` times the text of their input."""
    def guard(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, *a: Any, **kw: Any) -> Any:
        chars, w = text_size(budget, value, "filter")
        extra = sum(text_size(budget, x, "filter")[0] for x in (*a, *kw.values()) if isinstance(x, str))
        budget.charge(str_bytes(factor * chars + extra, w), "filter")
        return run(f, ctx, value, *a, **kw)
    return guard


def _escape(force: bool) -> FilterGuard:
    """``escape`` leaves Markup alone; ``forceescape`` escapes it again."""
    def guard(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, *a: Any, **kw: Any) -> Any:
        if isinstance(value, Markup) and not force:
            budget.charge(SMALL, "escape")
        elif isinstance(value, str):
            budget.charge(str_bytes(escaped_len(str(value)), width(value)), "escape")
        else:
            chars, w = text_size(budget, value, "escape")
            budget.charge(str_bytes(5 * chars, w), "escape")
        return run(f, ctx, value, *a, **kw)
    return guard


def _copy(per_item: int) -> FilterGuard:
    """Filters that build a new list of (at most) the input's items."""
    def guard(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, *a: Any, **kw: Any) -> Any:
        value = materialize(budget, value, "filter")
        budget.charge(56 + per_item * len(value), "filter")
        return run(f, ctx, value, *a, **kw)
    return guard


def _replace(budget: Budget, ctx: Context, f: Callable[..., Any], s: Any, old: Any, new: Any,
             count: int | None = None) -> Any:
    # Mirrors jinja2.filters.do_replace, so the occurrences can be counted on the very strings
    # the replacement will use (escaping can create occurrences: "&" → "&amp;" holds an "a").
    if count is None:
        count = -1
    text_size(budget, s, "replace")      # refuses a value whose text is too large
    if not ctx.eval_ctx.autoescape:
        s, old, new = str(s), str(old), str(new)
    else:
        if (hasattr(old, "__html__") or hasattr(new, "__html__")) and not hasattr(s, "__html__"):
            s = escape(s)
        else:
            s = s if isinstance(s, str) else str(s)
        if isinstance(s, Markup):
            old, new = escape(old), escape(new)
        else:
            old, new = str(old), str(new)
    n = len(s) + 1 if old == "" else s.count(old)
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    budget.charge(str_bytes(len(s) + n * (len(new) - len(old)), width(s, new)), "replace")
    return s.replace(old, new, count)


def _join(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, d: Any = "",
          attribute: Any = None) -> Any:
    items = materialize(budget, value, "join")
    if attribute is not None:
        getter = make_attrgetter(ctx.environment, attribute)
        items = [getter(item) for item in items]
    autoescape = ctx.eval_ctx.autoescape
    chars, w = 0, 1
    for i, item in enumerate(items):
        if i % 256 == 0:
            budget.check()
        n, iw = text_size(budget, item, "join")
        chars += 5 * n if autoescape and not isinstance(item, Markup) else n
        w = max(w, iw)
        if chars > budget.value_cap():
            break
    dn, dw = text_size(budget, d, "join")
    chars += max(0, len(items) - 1) * (5 * dn if autoescape else dn)
    budget.charge(str_bytes(chars, max(w, dw)), "join")
    return run(f, ctx, items, d)


def _center(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, width_: Any = 80) -> Any:
    chars, w = text_size(budget, value, "center")
    n = _int_arg(width_, "center width", -sys.maxsize, budget.value_cap())
    budget.charge(str_bytes(max(chars, n), w), "center")
    return run(f, ctx, value, width_)


def _indent(budget: Budget, ctx: Context, f: Callable[..., Any], s: Any, width_: Any = 4,
            first: bool = False, blank: bool = False) -> Any:
    chars, w = text_size(budget, s, "indent")
    if isinstance(width_, str):
        pad = len(width_)
    else:
        pad = _int_arg(width_, "indent width", -sys.maxsize, budget.value_cap())
    lines = (s.count("\n") if isinstance(s, str) else chars) + 2
    budget.charge(str_bytes(chars + lines * max(0, pad), w), "indent")
    return run(f, ctx, s, width_, first, blank)


def _wordwrap(budget: Budget, ctx: Context, f: Callable[..., Any], s: Any, width_: Any = 79,
              break_long_words: bool = True, wrapstring: Any = None, break_on_hyphens: bool = True) -> Any:
    chars, w = text_size(budget, s, "wordwrap")
    if chars > budget.limits.max_text_filter:     # textwrap is quadratic on long words
        raise RenderLimitExceeded(f"wordwrap input longer than {budget.limits.max_text_filter} characters")
    _int_arg(width_, "wordwrap width", 1, budget.value_cap())
    wrap = ctx.environment.newline_sequence if wrapstring is None else wrapstring
    wn, ww = text_size(budget, wrap, "wordwrap")
    budget.charge(str_bytes(chars * (1 + wn) + wn, max(w, ww)), "wordwrap")
    return run(f, ctx, s, width_, break_long_words, wrapstring, break_on_hyphens)


def _truncate(budget: Budget, ctx: Context, f: Callable[..., Any], s: Any, *a: Any, **kw: Any) -> Any:
    chars, w = text_size(budget, s, "truncate")
    end = kw.get("end", a[2] if len(a) > 2 else "...")
    budget.charge(str_bytes(chars + text_size(budget, end, "truncate")[0], w), "truncate")
    return run(f, ctx, s, *a, **kw)


def _urlize(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, *a: Any, **kw: Any) -> Any:
    chars, w = text_size(budget, value, "urlize")
    if chars > budget.limits.max_text_filter:
        raise RenderLimitExceeded(f"urlize input longer than {budget.limits.max_text_filter} characters")
    extra = sum(text_size(budget, x, "urlize")[0] for x in (*a, *kw.values()) if isinstance(x, str))
    # Every word may become <a href="…" rel="…" target="…">…</a>, escaped.
    budget.charge(str_bytes(10 * chars + (chars // 2 + 1) * (extra + 64), w), "urlize")
    return run(f, ctx, value, *a, **kw)


def _tojson(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, indent: Any = None) -> Any:
    size = measure(value, budget.value_cap())
    if size.over:
        raise RenderLimitExceeded("tojson: value too large")
    pad = 0 if indent is None else _int_arg(indent, "tojson indent", 0, 8)
    budget.charge(str_bytes(size.json + size.nodes * (pad * (size.depth + 1) + 2)), "tojson")
    return run(f, ctx, value, indent)


def _sum(budget: Budget, ctx: Context, f: Callable[..., Any], iterable: Any, attribute: Any = None,
         start: Any = 0) -> Any:
    items = materialize(budget, iterable, "sum")
    if attribute is not None:
        getter = make_attrgetter(ctx.environment, attribute)
        items = [getter(item) for item in items]
    if not isinstance(start, list | tuple) and not any(isinstance(i, list | tuple) for i in items):
        _check_numbers(budget, "sum", start, *items)
        budget.charge(SMALL, "sum")
        return sum(items, start)
    # Adding up lists: Python's sum copies the growing list for every item (quadratic time);
    # build the result once instead, after checking its size.
    kind = type(start)
    for item in items:
        if type(item) is not kind:
            raise TypeError(f'can only concatenate {kind.__name__} (not "{type(item).__name__}") '
                            f"to {kind.__name__}")
    total = len(start) + sum(len(item) for item in items)
    if total > budget.limits.max_sequence * 4:
        raise RenderLimitExceeded("sum: result too long")
    cap, expanded = budget.value_cap(), 0
    for part in (start, *items):
        expanded += measure(part, cap).nbytes
        check_expanded(budget, expanded, "sum")
    budget.charge(56 + 8 * total, "sum")
    return kind(itertools.chain(start, *items))


def _batch(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, linecount: Any,
           fill_with: Any = None) -> Any:
    n = _int_arg(linecount, "batch size", 1, budget.limits.max_sequence)
    value = materialize(budget, value, "batch")
    if fill_with is not None:       # the last batch is padded with up to n references to it
        check_expanded(budget, n * measure(fill_with, budget.value_cap()).nbytes, "batch")
    budget.charge(8 * (len(value) + n) + 64 * (len(value) // n + 2), "batch")
    return run(f, ctx, value, linecount, fill_with)


def _slice(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any, slices: Any,
           fill_with: Any = None) -> Any:
    n = _int_arg(slices, "slice count", 1, budget.limits.max_sequence)
    value = materialize(budget, value, "slice")
    if fill_with is not None:       # every slice may be padded with a reference to it
        check_expanded(budget, n * measure(fill_with, budget.value_cap()).nbytes, "slice")
    budget.charge(8 * (len(value) + n) + 64 * n, "slice")
    return run(f, ctx, value, slices, fill_with)


def _list(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any) -> Any:
    if isinstance(value, str):
        budget.charge(56 + 64 * len(value), "list")     # one string per character
        return run(f, ctx, value)
    value = materialize(budget, value, "list")
    budget.charge(56 + 8 * len(value), "list")
    return run(f, ctx, value)


def _reverse(budget: Budget, ctx: Context, f: Callable[..., Any], value: Any) -> Any:
    if isinstance(value, str):
        budget.charge(str_bytes(len(value), width(value)), "reverse")
        return run(f, ctx, value)
    return _copy(8)(budget, ctx, f, value)


FILTER_GUARDS: dict[str, FilterGuard] = {
    **{name: _scalar for name in (
        "abs", "count", "d", "default", "filesizeformat", "first", "float", "items", "last",
        "length", "max", "min", "random", "reject", "rejectattr", "select", "selectattr",
        "unique")},
    "string": _textual(1), "safe": _textual(1), "trim": _textual(1), "striptags": _textual(1),
    "wordcount": _textual(0),
    "capitalize": _textual(3), "lower": _textual(3), "upper": _textual(3), "title": _textual(3),
    "urlencode": _textual(12),
    "e": _escape(False), "escape": _escape(False), "forceescape": _escape(True),
    "sort": _copy(8), "dictsort": _copy(80), "groupby": _copy(120),
    "reverse": _reverse, "list": _list,
    "replace": _replace, "join": _join, "center": _center, "indent": _indent, "wordwrap": _wordwrap,
    "truncate": _truncate, "urlize": _urlize, "tojson": _tojson, "sum": _sum, "batch": _batch,
    "slice": _slice, "round": _round, "int": _int,
}
"""Every filter venue templates get, with its guard."""


# --- tests --------------------------------------------------------------------------------------------

ALLOWED_TESTS = frozenset({
    "!=", "<", "<=", "==", ">", ">=", "boolean", "callable", "defined", "divisibleby", "eq", "equalto",
    "escaped", "even", "false", "filter", "float", "ge", "greaterthan", "gt", "in", "integer",
    "iterable", "le", "lessthan", "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas",
    "sequence", "string", "test", "true", "undefined", "upper"})
"""Every test venue templates get (all answer a bool; the guard checks the deadline)."""

_MODULO_TESTS = frozenset({"odd", "even", "divisibleby"})      # value % n
_TEXT_TESTS = frozenset({"lower", "upper"})                    # str(value)


def test_guard(budget: Budget | None, name: str, value: Any) -> None:
    """Refuse what a test would turn into work: ``'%0999999999d' is odd`` formats a string."""
    if name in _MODULO_TESTS and isinstance(value, str | bytes):
        raise SecurityError("string formatting with % is not allowed")
    if budget is not None:
        budget.check()
        _check_numbers(budget, f"test {name}", value)
        if name in _TEXT_TESTS:
            text_size(budget, value, f"test {name}")
