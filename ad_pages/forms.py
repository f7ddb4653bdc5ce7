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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

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


REQUIRED: dict[str, tuple[RequiredForm, ...]] = {
    "login": (
        RequiredForm("code", "code", ("c", "phone"), ("c",), "获取验证码的表单",
                     "the form that asks for a code"),
        RequiredForm("login", "login", ("c", "phone", "code"), ("c",), "登录表单", "the login form"),
    ),
    "ad": (
        RequiredForm("continue", "next", ("c", "ticket"), ("c", "ticket"), "继续上网的表单",
                     "the continue form"),
    ),
}
"""Per page, the submissions it must keep (docs/templates.md, "Forms a page must keep")."""

_NOT_FIELDS = ("submit", "image", "button", "reset")


@dataclass
class _Form:
    id: str
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    routes: list[tuple[str, str]] = field(default_factory=list)      # (formaction, formmethod)


class _FormScanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._open: _Form | None = None
        self._detached: list[tuple[str, str, str, dict[str, str]]] = []   # form id, tag, kind, attrs

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            if self._open is None:          # browsers ignore a form nested in a form
                self._open = _Form(a.get("id", ""), a.get("action", ""), a.get("method", "get").lower())
                self.forms.append(self._open)
            return
        if tag not in ("input", "button", "select", "textarea"):
            return
        owner = a.get("form")
        if owner is not None and owner != "":
            self._detached.append((owner, tag, a.get("type", "").lower(), a))
        elif self._open is not None:
            self._add(self._open, tag, a.get("type", "").lower(), a)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None

    def close(self) -> None:
        super().close()
        by_id = {f.id: f for f in self.forms if f.id}
        for owner, tag, kind, attrs in self._detached:
            if owner in by_id:
                self._add(by_id[owner], tag, kind, attrs)

    @staticmethod
    def _add(form: _Form, tag: str, kind: str, a: dict[str, str]) -> None:
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
        ok = False
        for form in scanner.forms:
            for action, method in [(form.action, form.method), *form.routes]:
                if method != "post" or not _goes_to(action, url):
                    continue
                if all(n in form.fields for n in need.fields) and all(
                        form.fields[n] == str(context.get(n, "")) for n in need.echo):
                    ok = True
        if not ok:
            missing.append(need)
    return missing


_PAGE_NAMES = {"login": ("登录页", "login page"), "ad": ("广告页", "ad page")}


def describe_missing(page: str, missing: list[RequiredForm], urls: Mapping[str, str]) -> tuple[str, str]:
    """``(zh, en)``: what the page lacks and what would satisfy it."""
    page_zh, page_en = _PAGE_NAMES.get(page, (page, page))
    zh_parts, en_parts = [], []
    for need in missing:
        url = urls.get(need.url_key, "")
        zh_fields = "、".join(f"{n}（值为 {{{{ {n} }}}}）" if n in need.echo else n for n in need.fields)
        en_fields = ", ".join(f"{n} (set to {{{{ {n} }}}})" if n in need.echo else n for n in need.fields)
        zh_parts.append(f"{need.zh}（以 POST 提交到 {url}，包含字段 {zh_fields}）")
        en_parts.append(f"{need.en} (a POST to {url} with the fields {en_fields})")
    return (f"{page_zh}缺少{'；'.join(zh_parts)}。缺少它，本场所的手机无法上网。",
            f"the {page_en} is missing {' and '.join(en_parts)}; without it, phones at this venue "
            "cannot get online.")
