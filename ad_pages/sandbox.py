"""Sandboxed rendering of venue pages (docs/templates.md: "The language").

Venue operators upload page templates; we treat them as hostile:

* ``ImmutableSandboxedEnvironment``: no attribute starting with ``_`` (so no
  ``''.__class__.__mro__``), no mutation of lists/dicts, no unsafe callables.
* The context holds only plain data (str, int, float, bool, None, lists/tuples and dicts of
  those) — :func:`plain` refuses anything else, so no object with methods reaches a template.
  There is no ``config``, ``request`` or ``self`` in it.
* Templates load only by exact name from the shipped list (:mod:`ad_pages.loader`): no file
  system path can be named by ``{% include %}``, ``{% extends %}`` or ``{% import %}``.
* Resources (:mod:`ad_pages.budget`, :mod:`ad_pages.guards`): every filter, test, method call,
  operator (``+ * ~ ** …``), list/dict literal, slice, printed value and block buffer predicts the
  size of what it builds and charges it before building it; the wall-clock deadline is checked
  on each of those and on every loop step. A render over the time, single-value or total
  memory limit is stopped there, by :class:`RenderLimitExceeded`. Source size and token count
  are limited, which bounds parsing and compiling too.
* Any failure of a venue template (syntax, security, limits, runtime error) falls back to the
  shipped default template of the same page; the reason is returned for the log.

The default templates go through the same compiler (with no budget: they are ours, and the
fallback must render even on a saturated CPU).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, TemplateError, nodes
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, Undefined, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import pass_context, pass_eval_context
from jinja2.visitor import NodeTransformer

from ad_pages import budget as budgets
from ad_pages.budget import RenderLimitExceeded, RenderLimits, measure, str_bytes, width
from ad_pages.calls import (
    PLAIN_TYPES,
    TemplateFunction,
    binop_bytes,
    iter_checked,
    method_allowed,
    method_bytes,
    without_addresses,
    wrap_method,
)
from ad_pages.guards import ALLOWED_TESTS, FILTER_GUARDS, SMALL, FilterGuard, output_bytes, run, test_guard
from ad_pages.loader import PAGES, THEMES, ShippedLoader
from ad_pages.plain_data import plain
from ad_pages.script_nonce import NonceInlineScripts

__all__ = [
    "PAGES",
    "PageRenderer",
    "RenderLimitExceeded",
    "RenderLimits",
    "RenderResult",
    "TemplateProblem",
    "plain",
]

log = logging.getLogger(__name__)


class TemplateProblem(Exception):
    """Why a venue template cannot be published: ``kind`` is "syntax", "security", "limit" or
    "runtime"; ``line`` the template line (None when unknown); ``reason`` Jinja2's own words."""

    def __init__(self, kind: str, reason: str, line: int | None = None) -> None:
        super().__init__(f"{kind} error{f' on line {line}' if line else ''}: {reason}")
        self.kind = kind
        self.reason = reason
        self.line = line


def _template_line(exc: BaseException) -> int | None:
    """The innermost template line of a render-time error (Jinja2 rewrites tracebacks so that
    template frames carry the template's own line numbers and the filename "<template>")."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line if isinstance(line, int) else None


@dataclass(frozen=True, slots=True)
class RenderResult:
    html: str
    source: str                      # "venue" or "default"
    fallback_reason: str = ""        # why the venue template was not used ("" = it was)


# --- guards the compiler inserts ---------------------------------------------------------------------

_GUARD_VALUE, _GUARD_ITER, _GUARD_CONCAT = "_guard_value", "_guard_iter", "_guard_concat"


@pass_context
def _guard_value(context: Context, value: Any) -> Any:
    """After a list/tuple/dict literal with variables, or a slice: the new value's size."""
    budget = budgets.current()
    if budget is not None:
        budget.check()
        if measure(value, budget.value_cap()).over:
            raise RenderLimitExceeded("a list, dict or slice grew too large")
        budget.charge(sys.getsizeof(value), "value")
    return value


@pass_context
def _guard_iter(context: Context, value: Any) -> Any:
    """Around every ``{% for %}`` iterable: the deadline is checked on each step."""
    budget = budgets.current()
    return value if budget is None else iter_checked(budget, value)


@pass_context
def _guard_concat(context: Context, parts: tuple[Any, ...]) -> Any:
    """``a ~ b ~ c``: size the joined text before joining."""
    autoescape = context.eval_ctx.autoescape
    budget = budgets.current()
    if budget is not None:
        budget.check()
        total = sum(output_bytes(budget, part, autoescape, "'~'") for part in parts)
        budget.charge(total, "'~'")
    return markup_join(parts) if autoescape else str_join(parts)


@pass_eval_context
def _finalize(eval_ctx: EvalContext, value: Any) -> Any:
    """Every ``{{ … }}``: the text it prints is sized (escaping included) before it is made."""
    budget = budgets.current()
    if budget is not None:
        budget.check()
        budget.charge(output_bytes(budget, value, eval_ctx.autoescape, "output"), "output")
    if not isinstance(value, _PRINTABLE) and not hasattr(value, "__html__"):
        return without_addresses(str(value))    # a function, a block reference, a list of them
    return value


_PRINTABLE = (str, int, float, bool, type(None), Undefined)


class _InsertGuards(NodeTransformer):
    """Rewrites a parsed template so that what the sandbox cannot intercept goes through a
    guard: loop iterables, literals holding variables, slices and ``~`` concatenation."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _GUARD_ITER, [], [], None, None, lineno=node.lineno)
        return node

    def _literal(self, node: nodes.Expr, children: Sequence[nodes.Node]) -> nodes.Node:
        self.generic_visit(node)
        if all(isinstance(c, nodes.Const) or (isinstance(c, nodes.Pair) and isinstance(c.key, nodes.Const)
                                              and isinstance(c.value, nodes.Const)) for c in children):
            return node         # constants only: bounded by the source
        return nodes.Filter(node, _GUARD_VALUE, [], [], None, None, lineno=node.lineno)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return self._literal(node, node.items)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        return self._literal(node, node.items)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        if node.ctx != "load":          # an assignment or loop target, not a value
            self.generic_visit(node)
            return node
        return self._literal(node, node.items)

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        self.generic_visit(node)
        if isinstance(node.arg, nodes.Slice):       # slices bypass the sandbox's getitem
            return nodes.Filter(node, _GUARD_VALUE, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        parts = nodes.Tuple(node.nodes, "load", lineno=node.lineno)
        return nodes.Filter(parts, _GUARD_CONCAT, [], [], None, None, lineno=node.lineno)


def _guarded_filter(name: str, original: Callable[..., Any], guard: FilterGuard) -> Callable[..., Any]:
    @pass_context      # also keeps Jinja2 from running the filter at compile time, unbudgeted
    def guarded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = budgets.current()
        if budget is None:
            return run(original, context, value, *args, **kwargs)
        budget.check()
        return guard(budget, context, original, value, *args, **kwargs)

    guarded.__name__ = f"guarded_{name}"
    return guarded


def _guarded_test(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @pass_context
    def guarded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        test_guard(budgets.current(), name, value)
        return run(original, context, value, *args, **kwargs)

    guarded.__name__ = f"guarded_{name}"
    return guarded


class _GuardedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox plus the guards of :mod:`ad_pages.guards`. One per renderer."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, limits: RenderLimits) -> None:
        super().__init__(loader=ShippedLoader(), autoescape=True, auto_reload=False, cache_size=64,
                         finalize=_finalize)
        self.limits = limits
        self.filters = {name: _guarded_filter(name, self.filters[name], guard)
                        for name, guard in FILTER_GUARDS.items() if name in self.filters}
        self.filters.update({_GUARD_VALUE: _guard_value, _GUARD_ITER: _guard_iter,
                             _GUARD_CONCAT: _guard_concat})
        tests: dict[str, Any] = dict(self.tests)
        self.tests = {name: _guarded_test(name, test) for name, test in tests.items()
                      if name in ALLOWED_TESTS}
        self.globals.clear()
        self.globals["range"] = TemplateFunction(self._range, "range")

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        tree = NonceInlineScripts().visit(tree)     # before the guards: they see the whole tree
        tree = _InsertGuards().visit(tree)
        tree.set_environment(self)
        return tree

    # deadline (per thread) ------------------------------------------------------------------------
    def arm(self) -> None:
        budgets.arm(self.limits)

    def disarm(self) -> None:
        budgets.disarm()

    def check(self) -> None:
        budget = budgets.current()
        if budget is not None:
            budget.check()

    def _range(self, *args: int) -> Iterator[int]:
        span = range(*args)
        if len(span) > self.limits.max_sequence:
            raise RenderLimitExceeded("range too large")
        for i in span:
            self.check()
            yield i

    # block buffers: macros, {% set %}…{% endset %}, {% filter %}, blocks -------------------------
    def concat(self, parts: Any) -> str:
        budget = budgets.current()
        if budget is not None:
            budget.check()
            parts = list(parts)
            chars = sum(map(len, parts))
            w = 4 if chars <= 4096 else width(*parts) if chars <= budget.value_cap() else 1
            budget.charge(str_bytes(chars, w), "block")
        return "".join(parts)

    # sandbox hooks ----------------------------------------------------------------------------------
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        self.check()
        if isinstance(obj, PLAIN_TYPES) and callable(value) and not method_allowed(obj, attr):
            return False        # str.format, str.encode, int.to_bytes, dict.fromkeys …
        return bool(super().is_safe_attribute(obj, attr, value))

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # The stock sandbox returns an Undefined that prints as ""; we refuse loudly so a
        # probing template falls back to the default page and the attempt is logged.
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed")

    def wrap_str_format(self, value: Any) -> None:
        # Jinja2 hands out a sandboxed ``str.format`` before asking is_safe_attribute; its
        # widths still allocate what the template asks ('{:0999999999}'.format(1)): refuse it.
        return None

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.check()
        if isinstance(obj, TemplateFunction):       # nothing to read on a function
            raise SecurityError(f"access to {argument!r} of a function is not allowed")
        return wrap_method(obj, super().getitem(obj, argument))

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, TemplateFunction):
            raise SecurityError(f"access to attribute {attribute!r} of a function is not allowed")
        return wrap_method(obj, super().getattr(obj, attribute))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(__obj, TemplateFunction):
            __obj = __obj.func
        receiver = getattr(__obj, "__self__", None)
        if isinstance(receiver, type):
            raise SecurityError(f"calling {getattr(__obj, '__name__', 'a class method')!r} is not allowed")
        budget = budgets.current()
        if budget is not None:
            budget.check()
            budget.charge(SMALL + 8 * (len(args) + len(kwargs)), "call")
            if isinstance(receiver, PLAIN_TYPES):
                name = str(getattr(__obj, "__name__", ""))
                nbytes, args = method_bytes(budget, receiver, name, args, kwargs)
                budget.charge(nbytes, f"{name}()")
        return ImmutableSandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = budgets.current()
        if budget is not None:
            budget.check()
        nbytes = binop_bytes(budget, operator, left, right)
        if budget is not None:
            budget.charge(nbytes, f"'{operator}'")
        return super().call_binop(context, operator, left, right)


class _TrustedEnvironment(Environment):
    """Our shipped templates (default pages, a failed venue page's fallback): same loader,
    finalize and script nonces, without the sandbox's per-attribute hooks (~40 % of their render)."""

    def __init__(self) -> None:
        super().__init__(loader=ShippedLoader(), autoescape=True, auto_reload=False, cache_size=64,
                         finalize=_finalize)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = NonceInlineScripts().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def getattr(self, obj: Any, attribute: str) -> Any:
        # ``a.b`` in a template: Jinja tries the attribute first and the key only after catching
        # the AttributeError. Our contexts are plain dicts (plain()), so nearly every ``a.b`` of
        # a page built and threw away an exception (≈ 180 per login). A dict has no attribute
        # beyond its type's, so for a plain dict the answer is the same taken in this order.
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


_DICT_ATTRIBUTES = frozenset(dir(dict))


class PageRenderer:
    """Render a page from a venue template (if any) or the default, safely.

    ``render(page, context, venue_source=None)`` → RenderResult. Thread-safe.
    """

    def __init__(self, limits: RenderLimits | None = None, theme: str = "default",
                 cache_size: int = 256, cache_tokens: int = 100_000) -> None:
        if theme not in THEMES:
            raise ValueError(f"unknown theme {theme!r} (shipped: {', '.join(THEMES)})")
        self.limits = limits or RenderLimits()
        self.theme = theme
        self.cache_size = cache_size
        self.cache_tokens = cache_tokens
        self.env = _GuardedEnvironment(self.limits)
        self.trusted = _TrustedEnvironment()
        self._lock = threading.Lock()
        self._templates: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._cached_tokens = 0

    def render(self, page: str, context: Mapping[str, Any], venue_source: str | None = None) -> RenderResult:
        if page not in PAGES:
            raise ValueError(f"unknown page {page!r}")
        ctx = plain(dict(context))
        reason = ""
        if venue_source:
            try:
                return RenderResult(self._render_source(venue_source, ctx), "venue")
            except RecursionError:
                reason = "recursion"
            except RenderLimitExceeded as exc:
                reason = f"limit: {exc}"
            except SecurityError as exc:
                reason = f"security: {exc}"
            except TemplateError as exc:
                reason = f"template error: {exc.__class__.__name__}: {exc}"
            except Exception as exc:   # a venue template must never break the page
                reason = f"runtime error: {exc.__class__.__name__}: {exc}"
            log.warning("venue template for page %s not used (%s); default page served", page, reason)
        html = self._render_template(f"{self.theme}/{page}.html", ctx)
        return RenderResult(html, "default", reason)

    def check(self, source: str, context: Mapping[str, Any]) -> str:
        """Compile ``source`` and render it once with ``context`` under the limits; the HTML, or
        :class:`TemplateProblem` naming the line and reason (the publish-time check)."""
        from jinja2 import TemplateSyntaxError

        try:
            self._check_size(source)
            self.env.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateProblem("syntax", exc.message or str(exc), exc.lineno) from None
        except RenderLimitExceeded as exc:
            raise TemplateProblem("limit", str(exc)) from None
        except RecursionError:
            raise TemplateProblem("limit", "template nested too deeply") from None
        ctx = plain(dict(context))
        try:
            return self._render_source(source, ctx)
        except RecursionError as exc:
            raise TemplateProblem("limit", "recursion too deep", _template_line(exc)) from None
        except RenderLimitExceeded as exc:
            raise TemplateProblem("limit", str(exc), _template_line(exc)) from None
        except SecurityError as exc:
            raise TemplateProblem("security", str(exc), _template_line(exc)) from None
        except Exception as exc:    # TemplateError or whatever the template's code raised
            raise TemplateProblem("runtime", f"{type(exc).__name__}: {exc}", _template_line(exc)) from None

    def _check_size(self, source: str) -> int:
        """The token count of ``source``; RenderLimitExceeded past ``max_source`` characters or
        ``max_tokens`` tokens (parsing and compiling cost grows with tokens, not characters)."""
        if len(source) > self.limits.max_source:
            raise RenderLimitExceeded(f"template source longer than {self.limits.max_source} characters")
        tokens = 0
        for _line, kind, _value in self.env.lex(source):
            if kind in ("whitespace", "comment", "comment_begin", "comment_end", "linecomment",
                        "linecomment_begin", "linecomment_end"):
                continue
            tokens += 1
            if tokens > self.limits.max_tokens:
                raise RenderLimitExceeded(f"template has more than {self.limits.max_tokens} tokens "
                                          "(tags, expressions and text runs)")
        return tokens

    def _render_source(self, source: str, ctx: dict[str, Any]) -> str:
        template = self._compiled(source)
        self.env.arm()      # after compiling: the budget is for running the venue's code
        try:
            return self._collect(template.generate(ctx))
        finally:
            self.env.disarm()

    def _compiled(self, source: str) -> Any:
        """The compiled template of ``source`` (compiling costs ~50x a render: keep the most
        recent ones, at most ``cache_size`` of them and ``cache_tokens`` tokens in all — a
        compiled template holds ~150 bytes per token; a Template renders safely from several threads)."""
        with self._lock:
            hit = self._templates.get(source)
            if hit is not None:
                self._templates.move_to_end(source)
                return hit[0]
        tokens = self._check_size(source)
        template = self.env.from_string(source)
        with self._lock:
            if source not in self._templates:
                self._templates[source] = (template, tokens)
                self._cached_tokens += tokens
            while len(self._templates) > 1 and (self._cached_tokens > self.cache_tokens
                                                or len(self._templates) > self.cache_size):
                _, (_, dropped) = self._templates.popitem(last=False)
                self._cached_tokens -= dropped
        return template

    def _render_template(self, name: str, ctx: dict[str, Any]) -> str:
        # Our own templates are trusted and are the fallback: no budget (on a saturated CPU the
        # first render, with compiling, can take longer than a venue's budget) and no sandbox.
        self.env.disarm()
        html = str(self.trusted.get_template(name).render(ctx))   # one join, not a check per chunk
        if len(html) > self.limits.max_output:
            raise RenderLimitExceeded("page too large")
        return html

    def _collect(self, chunks: Iterator[str]) -> str:
        budget = budgets.current()
        out: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > self.limits.max_output:
                raise RenderLimitExceeded("page too large")
            if budget is not None:
                budget.check()
            out.append(chunk)
        return "".join(out)

