"""The forms a phone page cannot do without, looked for in a page's rendered HTML (pure).

A venue may redesign its pages freely, but a login page without the form that asks for a code
or the form that logs in, or an ad page without its continue form, strands every phone at that
venue. :func:`missing_forms` renders nothing itself: it reads the HTML a trial render produced
(with the sample context, whose ``urls``, ``c`` and ``ticket`` are known) and reports which of
:data:`REQUIRED` has no way to be submitted: a ``<form method="post">`` (or a submit button's
``formaction``/``formmethod``) going to the right URL and carrying the right fields, with the
signed ``c`` (and the ad ``ticket``) holding the value the page was given — a page that
hard-codes or drops them cannot log anyone in. Fields may sit inside the form or name it with
``form="<id>"``; disabled fields are not sent, so they do not count.

A form phones cannot see is no better than none: a form (or a field the visitor types into)
hidden by its own markup or an element around it — the ``hidden`` attribute, an inline
``display:none`` or ``visibility:hidden``, inside ``<template>`` (inert) or ``<noscript>`` (text
once scripts run) — is reported as hidden (:attr:`RequiredForm.hidden` names the markup).
Stylesheet rules are not evaluated: hiding by class is not caught here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from ad_pages.editor_texts import (
    ECHO_FIELD,
    FIELD_LIST,
    FORM_NAMES,
    MISSING,
    MISSING_FORM,
    MISSING_HIDDEN,
    PAGE_NAMES,
    PART_LIST,
)

__all__ = ["REQUIRED", "RequiredForm", "describe_missing", "missing_forms"]


@dataclass(frozen=True, slots=True)
class RequiredForm:
    """A submission a page must offer: POST to ``urls[url_key]`` with ``fields``; those in
    ``echo`` must carry the value the page got in its context."""

    key: str
    url_key: str
    fields: tuple[str, ...]
    echo: tuple[str, ...]
    zh: str
    en: str
    hidden: str = ""        # in missing_forms' answer: the markup that hides the page's form


REQUIRED: dict[str, tuple[RequiredForm, ...]] = {
    "login": (
        RequiredForm("code", "code", ("c", "phone"), ("c",), *FORM_NAMES["code"]),
        RequiredForm("login", "login", ("c", "phone", "code"), ("c",), *FORM_NAMES["login"]),
    ),
    "ad": (
        RequiredForm("continue", "next", ("c", "ticket"), ("c", "ticket"), *FORM_NAMES["continue"]),
    ),
}
"""Per page, the submissions it must keep (docs/templates.md, "Forms a page must keep")."""

_NOT_FIELDS = ("submit", "image", "button", "reset")
_VOID = frozenset(("area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta",
                   "param", "source", "track", "wbr"))
_DISPLAY = re.compile(r"(?:^|;)display:([^;]*)")
_VISIBILITY = re.compile(r"(?:^|;)visibility:([^;]*)")


def _hiding(tag: str, a: dict[str, str]) -> tuple[str, str | None]:
    """(markup that takes the element and its content off the page or "", markup of its own
    ``visibility``: the reason when hidden, "" when explicitly visible, None when not set)."""
    style = re.sub(r"\s+", "", a.get("style", "").lower())
    display = [v.removesuffix("!important") for v in _DISPLAY.findall(style)]
    visibility = [v.removesuffix("!important") for v in _VISIBILITY.findall(style)]
    gone = ""
    if tag in ("template", "noscript"):
        gone = f"<{tag}>"
    elif display and display[-1] == "none":
        gone = f'<{tag} style="display:none">'
    elif "hidden" in a and not display:       # an inline display value overrides [hidden]
        gone = f"<{tag} hidden>"
    seen = None
    if visibility:
        hides = visibility[-1] in ("hidden", "collapse")
        seen = f'<{tag} style="visibility:{visibility[-1]}">' if hides else ""
    return gone, seen


@dataclass
class _Form:
    id: str
    action: str
    method: str
    hidden: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    hidden_fields: dict[str, str] = field(default_factory=dict)     # typed-in field → the markup hiding it
    routes: list[tuple[str, str]] = field(default_factory=list)      # (formaction, formmethod)


class _FormScanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._open: _Form | None = None
        # form id, tag, kind, attrs, what hides it
        self._detached: list[tuple[str, str, str, dict[str, str], str]] = []
        self._stack: list[tuple[str, str, str | None]] = []     # open elements: tag, _hiding(…)

    def _hidden(self, own: tuple[str, str | None] = ("", None)) -> str:
        """What hides an element with ``own`` hiding inside the open elements ("" = visible)."""
        chain = [*((gone, seen) for _, gone, seen in self._stack), own]
        gone = next((g for g, _ in chain if g), "")
        seen = next((s for _, s in reversed(chain) if s is not None), "")
        return gone or seen

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        own = _hiding(tag, a)
        hidden = self._hidden(own)
        if tag not in _VOID:                # a '/' does not close an HTML element: only its end tag
            self._stack.append((tag, *own))
        if tag == "form":
            if self._open is None:          # browsers ignore a form nested in a form
                self._open = _Form(a.get("id", ""), a.get("action", ""), a.get("method", "get").lower(),
                                   hidden)
                self.forms.append(self._open)
            return
        if tag not in ("input", "button", "select", "textarea"):
            return
        owner = a.get("form")
        if owner is not None and owner != "":
            self._detached.append((owner, tag, a.get("type", "").lower(), a, hidden))
        elif self._open is not None:
            self._add(self._open, tag, a.get("type", "").lower(), a, hidden)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def close(self) -> None:
        super().close()
        by_id = {f.id: f for f in self.forms if f.id}
        for owner, tag, kind, attrs, hidden in self._detached:
            if owner in by_id:
                self._add(by_id[owner], tag, kind, attrs, hidden)

    @staticmethod
    def _add(form: _Form, tag: str, kind: str, a: dict[str, str], hidden: str) -> None:
        if (tag == "button" and kind in ("", "submit")) or (tag == "input" and kind in ("submit", "image")):
            if "formaction" in a or "formmethod" in a:      # this button posts elsewhere
                route = (a.get("formaction", form.action), a.get("formmethod", form.method).lower())
                form.routes.append(route)
            return
        if tag == "button" or (tag == "input" and kind in _NOT_FIELDS) or "disabled" in a:
            return
        name = a.get("name", "")
        if name:
            form.fields[name] = a.get("value", "") if tag == "input" else ""
            if hidden and kind != "hidden":         # a field the visitor cannot type into
                form.hidden_fields[name] = hidden
            else:
                form.hidden_fields.pop(name, None)


def _goes_to(action: str, url: str) -> bool:
    try:
        parts = urlsplit(action.strip())
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc and parts.path == url


def missing_forms(page: str, html: str, context: Mapping[str, Any]) -> list[RequiredForm]:
    """The submissions of ``REQUIRED[page]`` that ``html`` (rendered with ``context``) lacks."""
    required = REQUIRED.get(page, ())
    if not required:
        return []
    scanner = _FormScanner()
    scanner.feed(html)
    scanner.close()
    urls = context.get("urls") or {}
    missing = []
    for need in required:
        url = str(urls.get(need.url_key, ""))
        ok, hidden = False, ""
        for form in scanner.forms:
            for action, method in [(form.action, form.method), *form.routes]:
                if method != "post" or not _goes_to(action, url):
                    continue
                if all(n in form.fields for n in need.fields) and all(
                        form.fields[n] == str(context.get(n, "")) for n in need.echo):
                    why = form.hidden or next((form.hidden_fields[n] for n in need.fields
                                               if n in form.hidden_fields), "")
                    ok, hidden = ok or not why, hidden or why
        if not ok:
            missing.append(dataclasses.replace(need, hidden=hidden) if hidden else need)
    return missing


def describe_missing(page: str, missing: list[RequiredForm], urls: Mapping[str, str]) -> tuple[str, str]:
    """``(zh, en)``: what the page lacks and what would satisfy it."""
    page_zh, page_en = PAGE_NAMES.get(page, (page, page))
    zh_parts, en_parts = [], []
    for need in missing:
        if need.hidden:
            zh_parts.append(MISSING_HIDDEN[0].format(form=need.zh, hidden=need.hidden))
            en_parts.append(MISSING_HIDDEN[1].format(form=need.en, hidden=need.hidden))
            continue
        url = urls.get(need.url_key, "")
        zh_fields = FIELD_LIST[0].join(ECHO_FIELD[0].format(name=n) if n in need.echo else n
                                       for n in need.fields)
        en_fields = FIELD_LIST[1].join(ECHO_FIELD[1].format(name=n) if n in need.echo else n
                                       for n in need.fields)
        zh_parts.append(MISSING_FORM[0].format(form=need.zh, url=url, fields=zh_fields))
        en_parts.append(MISSING_FORM[1].format(form=need.en, url=url, fields=en_fields))
    return (MISSING[0].format(page=page_zh, parts=PART_LIST[0].join(zh_parts)),
            MISSING[1].format(page=page_en, parts=PART_LIST[1].join(en_parts)))
