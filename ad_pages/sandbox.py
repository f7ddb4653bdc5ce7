"""Sandboxed rendering of venue pages (ARCHITECTURE: "Venue templates run in Jinja2's sandbox").

Venue operators upload page templates; we treat them as hostile:

* ``ImmutableSandboxedEnvironment``: no attribute starting with ``_`` (so no
  ``''.__class__.__mro__``), no mutation of lists/dicts, no unsafe callables.
* The context holds only plain data (str, int, float, bool, None, lists/tuples and dicts of
  those) — :func:`plain` refuses anything else, so no object with methods reaches a template.
  There is no ``config``, ``request`` or ``self`` in it.
* Resource guards: a wall-clock deadline checked on every loop step (``range`` and ``loop``
  iteration), call and attribute access; string/list repetition and concatenation capped;
  string formatting and padding methods refused; output streamed and capped in size;
  recursion ends in ``RecursionError``.
* Any failure of a venue template (syntax, security, limits, runtime error) falls back to the
  shipped default template of the same page; the reason is returned for the log.

The default templates go through the same path, so they obey the same rules.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jinja2 import BaseLoader, TemplateError, TemplateNotFound
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

__all__ = [
    "PAGES",
    "PageRenderer",
    "RenderLimits",
    "RenderResult",
    "TemplateProblem",
    "plain",
]

log = logging.getLogger(__name__)

PAGES = ("login", "success", "ad", "status", "error")


class RenderLimitExceeded(SecurityError):
    """A template used too much time or produced too much output."""


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
class RenderLimits:
    seconds: float = 0.25            # wall-clock budget of one render
    max_output: int = 60_000         # characters of HTML (pages must stay < 50 KB with images)
    max_sequence: int = 20_000       # longest string/list a single `*` or `+` may build
    max_source: int = 40_000         # characters of a venue template's source


@dataclass(frozen=True, slots=True)
class RenderResult:
    html: str
    source: str                      # "venue" or "default"
    fallback_reason: str = ""        # why the venue template was not used ("" = it was)


_PLAIN_SCALARS = (str, int, float, bool, type(None))


def plain(value: Any, _depth: int = 0) -> Any:
    """A deep copy of ``value`` made only of plain data; raises TypeError for anything else."""
    if _depth > 12:
        raise TypeError("context nested too deeply")
    if isinstance(value, _PLAIN_SCALARS):
        return value
    if isinstance(value, list | tuple):
        return [plain(v, _depth + 1) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"context key {k!r} is not a string")
            out[k] = plain(v, _depth + 1)
        return out
    raise TypeError(f"context value of type {type(value).__name__} is not plain data")


# String methods that can allocate unbounded memory from a small template, or format objects.
_REFUSED_METHODS = frozenset({
    "format", "format_map", "center", "ljust", "rjust", "zfill", "expandtabs", "mro",
})
# Filters that pad or reflow text to a template-chosen width.
_REFUSED_FILTERS = ("center", "indent", "wordwrap", "format", "xmlattr", "attr", "map", "pprint")


class _GuardedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox plus time and size guards. One per renderer; the deadline is per thread."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, limits: RenderLimits, loader: BaseLoader) -> None:
        super().__init__(loader=loader, autoescape=True, auto_reload=False, cache_size=256)
        self.limits = limits
        import threading

        self._local = threading.local()
        for name in _REFUSED_FILTERS:
            self.filters.pop(name, None)
        self.globals.clear()
        self.globals["range"] = self._range

    # deadline ---------------------------------------------------------------------------------
    def arm(self) -> None:
        self._local.deadline = time.monotonic() + self.limits.seconds

    def disarm(self) -> None:
        self._local.deadline = None

    def check(self) -> None:
        deadline = getattr(self._local, "deadline", None)
        if deadline is not None and time.monotonic() > deadline:
            raise RenderLimitExceeded("template took too long")

    def _range(self, *args: int) -> Iterator[int]:
        span = range(*args)
        if len(span) > self.limits.max_sequence:
            raise RenderLimitExceeded("range too large")
        for i in span:
            self.check()
            yield i

    # sandbox hooks ----------------------------------------------------------------------------
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        self.check()
        if attr in _REFUSED_METHODS:
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # The stock sandbox returns an Undefined that prints as ""; we refuse loudly so a
        # probing template falls back to the default page and the attempt is logged.
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.check()
        return ImmutableSandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.check()
        limit = self.limits.max_sequence
        if operator == "%" and isinstance(left, str):
            raise SecurityError("string formatting with % is not allowed")
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise RenderLimitExceeded("exponent too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > limit:
                    raise RenderLimitExceeded("repetition too large")
        sequences = str | list | tuple
        if (operator == "+" and isinstance(left, sequences) and isinstance(right, sequences)
                and len(left) + len(right) > limit * 4):
            raise RenderLimitExceeded("concatenation too large")
        return super().call_binop(context, operator, left, right)


class _DefaultLoader(BaseLoader):
    """Shipped templates ``default/<page>.html`` plus, per render, one venue source."""

    def get_source(self, environment: Any, template: str) -> tuple[str, str | None, Callable[[], bool]]:
        if "/" not in template or ".." in template:
            raise TemplateNotFound(template)
        folder, name = template.split("/", 1)
        try:
            res = resources.files("ad_pages").joinpath("templates", folder, name)
            source = res.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError, OSError):
            raise TemplateNotFound(template) from None
        return source, None, lambda: True


class PageRenderer:
    """Render a page from a venue template (if any) or the default, safely.

    ``render(page, context, venue_source=None)`` → RenderResult. Thread-safe.
    """

    def __init__(self, limits: RenderLimits | None = None, theme: str = "default",
                 cache_size: int = 256) -> None:
        self.limits = limits or RenderLimits()
        self.theme = theme
        self.cache_size = cache_size
        self.env = _GuardedEnvironment(self.limits, _DefaultLoader())
        self._lock = threading.Lock()
        self._templates: OrderedDict[str, Any] = OrderedDict()

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

        if len(source) > self.limits.max_source:
            raise TemplateProblem("limit", f"template source longer than {self.limits.max_source} characters")
        try:
            self.env.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateProblem("syntax", exc.message or str(exc), exc.lineno) from None
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

    def _render_source(self, source: str, ctx: dict[str, Any]) -> str:
        if len(source) > self.limits.max_source:
            raise RenderLimitExceeded("template source too large")
        template = self._compiled(source)
        self.env.arm()      # after compiling: the budget is for running the venue's code
        return self._collect(template.generate(ctx))

    def _compiled(self, source: str) -> Any:
        """The compiled template of ``source`` (compiling costs ~50x a render: keep the most
        recent ones; a Template renders safely from several threads)."""
        with self._lock:
            template = self._templates.get(source)
            if template is not None:
                self._templates.move_to_end(source)
                return template
        template = self.env.from_string(source)
        with self._lock:
            self._templates[source] = template
            while len(self._templates) > self.cache_size:
                self._templates.popitem(last=False)
        return template

    def _render_template(self, name: str, ctx: dict[str, Any]) -> str:
        # Our own templates are trusted and are the fallback: no time budget (on a saturated
        # CPU the first render, with compiling, can take longer than a venue's budget).
        self.env.disarm()
        return self._collect(self.env.get_template(name).generate(ctx))

    def _collect(self, chunks: Iterator[str]) -> str:
        out: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > self.limits.max_output:
                raise RenderLimitExceeded("page too large")
            self.env.check()
            out.append(chunk)
        return "".join(out)
