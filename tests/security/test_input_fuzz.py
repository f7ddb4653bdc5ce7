"""Invalid Unicode, control characters and oversized fields never give a 500.

``PATCH /api/v1/venues/demo`` with ``{"name_zh": "\\ud800"}`` (a lone UTF-16 surrogate: legal in
JSON text, impossible to encode as UTF-8) answered 500. These tests send that, and its
relatives, to EVERY operation the served OpenAPI document lists (every body field, nested
fields too, every path and query parameter) and to EVERY form the consoles render (found by
signing in and reading the pages, like a browser), on real Redis. Whatever the status, it must
be below 500; API errors must explain themselves in both languages.
"""

from __future__ import annotations

import dataclasses
import html.parser
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.admin.accounts import Role
from portal.web import create_app
from tests.portal.web.api.test_api_contract import (
    GOOD_BODIES,
    OPERATIONS,
    PATH_VALUES,
    QUERY_VALUES,
    restore,
    seed,
    snapshot,
)
from tests.portal.web.consolekit import create_account, csrf, login, make_settings

# Strings an attacker puts in JSON (Python str after json.loads).
BAD_STRINGS: list[str] = [
    "\ud800",                       # a lone high surrogate (the reported 500)
    "\udfff",                       # a lone low surrogate
    "ok\ud83d",                     # half a surrogate pair at the end
    "\udc80\udcff",                 # what surrogateescape makes of invalid bytes
    "\x00",                         # NUL
    "a\x1b[31mred\r\nX-Injected: 1",  # terminal escape, CR/LF
    "\u2028\u2029\ufeff\u202e\uffff",  # line/paragraph separators, BOM, bidi override, non-character
    "x" * 60_000,                   # oversized but under the 64 KB body limit
]
# The same, as they can arrive in a URL or a form (percent-encoded bytes, not always UTF-8).
BAD_URL_VALUES: list[str] = ["%ED%A0%80", "%FF%FE", "%C0%AF", "%00", "%1B%5B31m%0D%0A", "%E2%80%AE",
                             "x" * 3000]
# Raw JSON texts: escapes the client library would not produce for us.
RAW_JSON: list[bytes] = [b'{"name_zh": "\\ud800"}', b'{"\\ud800": 1}', b'{"a": "\\udfff\\ud800"}',
                         b'{"a": "\xed\xa0\x80"}', b'{"a": "\xff"}']


def _values_for(schema: dict[str, Any], good: Any) -> list[Any]:
    """Hostile values for one field: each bad string where the field (or its items) is text."""
    kind = schema.get("type")
    out: list[Any] = list(BAD_STRINGS)
    if kind == "array" or isinstance(good, list):
        out += [[s] for s in BAD_STRINGS] + [["x"] * 5000]
    if kind == "object" or isinstance(good, dict):
        props = schema.get("properties") or {}
        base = good if isinstance(good, dict) else {}
        for name in props or {"x": {}}:
            out += [{**base, name: s} for s in BAD_STRINGS]
        out.append({**base, "\ud800": "x"})
    return out


class Problems:
    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, what: str, resp: Any, *, api: bool) -> None:
        if resp.status_code >= 500:
            self.found.append(f"{what}: {resp.status_code} {resp.get_data(as_text=True)[:160]!r}")
        elif api and resp.status_code >= 400:
            error = (resp.get_json(silent=True) or {}).get("error") or {}
            if not (error.get("message") and error.get("message_zh")):
                self.found.append(f"{what}: {resp.status_code} without a zh/en error body")


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    settings = make_settings(data_dir)
    # Kicks send real Disconnect-Requests to the seeded AC's (silent) loopback port: fail fast.
    settings = dataclasses.replace(settings, radius=dataclasses.replace(settings.radius, coa_timeout=0.05,
                                                                        coa_retries=1))
    flask_app = create_app(settings, redis_client)
    flask_app.config["TESTING"] = True
    return flask_app


def _url(path: str, values: dict[str, str], query: dict[str, str] | None = None, *, raw: bool = False) -> str:
    url = "/api/v1" + path
    for name, value in values.items():
        url = url.replace("{" + name + "}", value if raw else quote(value, safe=""))
    return url + ("?" + urlencode(query) if query else "")


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_operation_survives_invalid_unicode(app: Flask, redis_client: Any, method: str,
                                                path: str) -> None:
    tokens = seed(redis_client, app)
    world = snapshot(redis_client)
    client = app.test_client()
    doc = client.get("/api/v1/openapi.json").get_json()
    op = doc["paths"][path][method.lower()]
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    path_params = [p["name"] for p in op["parameters"] if p["in"] == "path"]
    good_path = {n: tokens[n] if n in tokens else PATH_VALUES[n] for n in path_params}
    good_query = {p["name"]: QUERY_VALUES[p["name"]] for p in op["parameters"]
                  if p["in"] == "query" and p.get("required")}
    good_body = GOOD_BODIES.get((method, path))
    problems = Problems()

    def send(what: str, url: str, **kwargs: Any) -> None:
        resp = client.open(url, method=method, headers=headers, **kwargs)
        problems.check(f"{method} {path} {what}", resp, api=True)
        if resp.status_code < 300 and method != "GET":
            restore(redis_client, world)

    body_kwargs: dict[str, Any] = {"json": good_body} if good_body is not None else {}
    for name in path_params:
        for value in BAD_URL_VALUES:
            send(f"path {name}={value[:12]}", _url(path, {**good_path, name: value}, good_query, raw=True),
                 **body_kwargs)
    for param in (p["name"] for p in op["parameters"] if p["in"] == "query"):
        for value in BAD_URL_VALUES:
            query = urlencode({**good_query}) + ("&" if good_query else "") + f"{param}={value}"
            send(f"query {param}={value[:12]}", _url(path, good_path) + "?" + query, **body_kwargs)
    if "requestBody" in op:
        assert good_body is not None
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        url = _url(path, good_path, good_query)
        for prop, prop_schema in (schema.get("properties") or {}).items():
            for value in _values_for(prop_schema, good_body.get(prop)):
                send(f"body {prop}={str(value)[:16]!r}", url, json={**good_body, prop: value})
        for raw in RAW_JSON:
            send(f"raw {raw[:24]!r}", url, data=raw, content_type="application/json")
    assert not problems.found, "\n".join(problems.found[:30])


def test_the_reported_request_is_a_clear_400(app: Flask, redis_client: Any) -> None:
    tokens = seed(redis_client, app)
    resp = app.test_client().patch("/api/v1/venues/v1", data=b'{"name_zh": "\\ud800"}',
                                   content_type="application/json",
                                   headers={"Authorization": f"Bearer {tokens['write']}"})
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert "name_zh" in error["message"] and "name_zh" in error["message_zh"]
    assert redis_client.ping()


# -- the consoles -----------------------------------------------------------------------------------

class _Forms(html.parser.HTMLParser):
    """Every ``<form method="post">`` of a page: its action and the fields a browser would send."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, list[tuple[str, str]]]] = []
        self._form: tuple[str, str, list[tuple[str, str]]] | None = None
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._form = (a.get("action", ""), a.get("enctype", ""), [])
        if self._form is None or (not a.get("name") and tag != "option"):
            return
        fields = self._form[2]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "file"):
                fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
            elif kind == "file":
                fields.append((a["name"], "\0file"))
        elif tag == "button" and a.get("value"):
            fields.append((a["name"], a["value"]))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], []
        elif tag == "select":
            self._select, self._select_value = a["name"], None
        elif tag == "option" and self._select is not None and (self._select_value is None
                                                                 or "selected" in a):
            self._select_value = a.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._form is None:
            return
        if tag == "textarea" and self._textarea is not None:
            self._form[2].append((self._textarea, "".join(self._text)))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            self._form[2].append((self._select, self._select_value or ""))
            self._select = None
        elif tag == "form":
            self.forms.append(self._form)
            self._form = None


CONSOLE_PAGES = [
    "/login", "/account/password", "/admin/users", "/admin/users/acct1", "/noc/acs", "/noc/acs/new",
    "/noc/acs/ac1", "/noc/blocklist", "/noc/logs", "/noc/plans", "/noc/plans/new", "/noc/plans/basic",
    "/noc/sessions", "/noc/tokens", "/noc/users", "/noc/users/13800138000", "/venue", "/venue/new",
    "/venue/v1", "/venue/v1/settings", "/venue/v1/assets", "/venue/v1/pages/login",
    "/venue/campaigns", "/venue/campaigns/new", "/venue/campaigns/c1/edit",
]
# Form values as they arrive percent-encoded in a urlencoded body (bytes, not always UTF-8).
BAD_FORM_VALUES: list[bytes] = [b"%ED%A0%80", b"%FF%FE%00", b"%00", b"a%1B%5B31m%0D%0Ab",
                                b"%E2%80%AE%EF%BF%BF", b"x" * 60_000, b"%C2%85%E2%80%A8"]


def _console_forms(client: FlaskClient) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """action → (enctype, fields), from every console page (signed in as an administrator)."""
    forms: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for page in CONSOLE_PAGES:
        resp = client.get(page)
        assert resp.status_code == 200, (page, resp.status_code)
        parser = _Forms()
        parser.feed(resp.get_data(as_text=True))
        for action, enctype, fields in parser.forms:
            key = action or page
            if key not in forms or len(fields) > len(forms[key][1]):
                forms[key] = (enctype, fields)
    return forms


def _encode(fields: list[tuple[str, str]], name: str, bad: bytes) -> bytes:
    parts = []
    for field, value in fields:
        encoded = bad if field == name else quote(value, safe="").encode()
        parts.append(quote(field, safe="").encode() + b"=" + encoded)
    return b"&".join(parts)


def _multipart(fields: list[tuple[str, str]], name: str, bad: bytes) -> tuple[bytes, str]:
    boundary = "fuzzboundary7MA4YWxkTrZu0gW"
    raw_bad = re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), bad)
    chunks = []
    for field, value in fields:
        if value == "\0file":
            filename = raw_bad if field == name else b"logo.png"
            chunks.append(b'Content-Disposition: form-data; name="' + field.encode() + b'"; filename="'
                          + filename.replace(b'"', b"") + b'"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n')
        else:
            data = raw_bad if field == name else value.encode()
            chunks.append(b'Content-Disposition: form-data; name="' + field.encode() + b'"\r\n\r\n' + data)
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + c + b"\r\n" for c in chunks)
    return body + b"--" + boundary.encode() + b"--\r\n", f"multipart/form-data; boundary={boundary}"


def test_every_console_form_survives_invalid_unicode(app: Flask, redis_client: Any) -> None:
    seed(redis_client, app)
    _, password = create_account(redis_client, "fuzzadmin", Role.ADMIN)
    client = app.test_client()
    assert login(client, "fuzzadmin", password).status_code == 302
    forms = _console_forms(client)
    assert len(forms) >= 20, sorted(forms)       # the crawl really found the consoles' forms
    token = csrf(client, "/account/password")
    world = snapshot(redis_client)
    problems = Problems()
    for action, (enctype, fields) in sorted(forms.items()):
        fields = [(n, v) for n, v in fields if n != "csrf_token"] + [("csrf_token", token)]
        for name, _value in fields:
            if name == "csrf_token":
                continue
            for bad in BAD_FORM_VALUES:
                if "multipart" in enctype:
                    body, content_type = _multipart(fields, name, bad)
                else:
                    body, content_type = _encode(fields, name, bad), "application/x-www-form-urlencoded"
                resp = client.post(action, data=body, content_type=content_type)
                problems.check(f"POST {action} {name}={bad[:14]!r}", resp, api=False)
                restore(redis_client, world)
    # The sign-in form, as a stranger (no session).
    stranger = app.test_client()
    for bad in BAD_FORM_VALUES:
        token = csrf(stranger, "/login")
        for name in ("username", "password", "next"):
            fields = [("username", "fuzzadmin"), ("password", "nope"), ("next", "/noc"),
                      ("csrf_token", token)]
            resp = stranger.post("/login", data=_encode(fields, name, bad),
                                 content_type="application/x-www-form-urlencoded")
            problems.check(f"POST /login {name}={bad[:14]!r}", resp, api=False)
    assert not problems.found, "\n".join(problems.found[:30])


def test_control_characters_are_refused_not_stored(app: Flask, redis_client: Any) -> None:
    """Refused where decoded, naming the field: a terminal escape never reaches Redis."""
    tokens = seed(redis_client, app)
    resp = app.test_client().patch("/api/v1/venues/v1", json={"name_en": "Lib\x1b[2J"},
                                   headers={"Authorization": f"Bearer {tokens['write']}"})
    assert resp.status_code == 400 and "U+001B" in resp.get_json()["error"]["message"]
    _, password = create_account(redis_client, "ctl-admin", Role.ADMIN)
    client = app.test_client()
    login(client, "ctl-admin", password)
    token = csrf(client, "/venue/v1/settings")
    resp = client.post("/venue/v1/settings", data={"csrf_token": token, "name_zh": "图书馆\x00",
                                                   "name_en": "Library"})
    assert resp.status_code == 400 and "name_zh" in resp.get_data(as_text=True)
    from portal.venues.venue_store import VenueStore

    stored = VenueStore(redis_client, cache_ttl=0.0).get_or_none("v1")
    assert stored is not None and stored.name_zh == "图书馆" and stored.name_en == ""
