"""The whole API against its served OpenAPI document, operation by operation (real Redis).

For every operation in ``/api/v1/openapi.json``:

- no token, a malformed header, an unknown token and a revoked token → 401;
- a read-only token on a write operation → 403 (and nothing changes, nothing is audited);
  a read-only token on a read operation is let in;
- a valid request (seeded world + a known-good body) succeeds and, for a write, is audited;
- hostile path parameters, query parameters and bodies (bad JSON, wrong types, huge, control
  characters, markup) never give a 5xx: a 4xx carries ``error.code/message/message_zh`` and
  every status is one the document lists for the operation.

A new operation fails :func:`test_every_served_operation_is_covered` until it gets a path-value
row in :data:`PATH_VALUES` (and, with a body, a known-good body in :data:`GOOD_BODIES`).
"""

from __future__ import annotations

import base64
import dataclasses
import struct
import time
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient

from ad_pages.campaigns import Campaign, Creative
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.blocklist import Blocklist
from portal.aaa.credentials import CredentialStore
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.admin.accounts import AccountStore
from portal.admin.apitokens import SCOPES, ApiTokenStore
from portal.admin.audit import AuditLog
from portal.noc.jobs import JobStore
from portal.venues.campaign_store import CampaignStore
from portal.venues.venue_store import Venue, VenueStore
from portal.web import create_app, services
from portal.web.api import RESOURCE_MODULES
from tests.conftest import free_udp_port
from tests.portal.venues.pagekit import login_page
from tests.portal.web.api.apikit import _rebase, auth, owner
from tests.portal.web.consolekit import make_settings

PHONE = "13800138000"
MAC = "02:00:00:00:00:01"


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


# Known-good values of every path parameter in the seeded world (by parameter name).
PATH_VALUES: dict[str, str] = {
    "username": "acct1", "venue_id": "v1", "page": "login", "name": "logo.png", "ac": "ac1",
    "session_id": "S1", "phone": PHONE, "mac": MAC, "plan_name": "basic", "rule": "venue:v1",
    "ac_name": "ac1", "kind": "phone", "value": "13900000000", "stream": "realname", "campaign_id": "c1",
    "token_id": "(seeded)", "job_id": "(seeded)",
}
# Required query parameters (known good).
QUERY_VALUES: dict[str, str] = {"from": "2026-05-01", "to": "2026-05-02"}
# A body each operation with a request body accepts in the seeded world.
# Writes that leave no audit entry on purpose: a page draft is never served (its publish is
# audited; portal/web/venue/venue_console.py, DRAFT_NOT_AUDITED).
UNAUDITED = {("PUT", "/venues/{venue_id}/pages/{page}/draft")}
GOOD_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/accounts"): {"username": "newacct", "password": "Another-long-pw-42", "role": "venue",
                            "venues": ["v1"], "display_name": "新账号"},
    ("PATCH", "/accounts/{username}"): {"display_name": "改名", "disabled": False},
    ("PATCH", "/venues/{venue_id}"): {"name_en": "Library", "redirect_delay": 5},
    ("PUT", "/venues/{venue_id}/pages/{page}/draft"): {"source": "<p>{{ venue.name }}</p>"},
    ("POST", "/venues/{venue_id}/pages/{page}/publish"): {"source": login_page("<p>hello</p>"), "note": "n"},
    ("POST", "/venues/{venue_id}/pages/{page}/rollback"): {"version": 1},
    ("POST", "/venues/{venue_id}/assets"): {"name": "dot.png",
                                            "content_base64": base64.b64encode(_png()).decode()},
    ("PUT", "/users/{phone}/plan"): {"plan": "basic"},
    ("POST", "/plans"): {"name": "day", "title_zh": "日卡", "up_kbps": 1000, "daily_volume": 10**9},
    ("PATCH", "/plans/{plan_name}"): {"title_en": "Basic", "down_kbps": 4000},
    ("PUT", "/plan-rules/{rule}"): {"plan": "basic"},
    ("POST", "/acs"): {"name": "ac9", "addresses": ["127.0.0.9"], "vendor": "huawei-v2",
                       "secret": "portal-secret-9"},
    ("PATCH", "/acs/{ac_name}"): {"description": "lobby", "timeout": 0.2},
    ("POST", "/acs/{ac_name}/rotate-secret"): {"which": "both"},
    ("POST", "/blocklist"): {"kind": "mac", "value": "02:00:00:00:00:99", "reason": "abuse",
                             "ttl_seconds": 3600},
    ("POST", "/campaigns"): {"id": "c2", "name": "新活动", "venues": ["v1"],
                             "creative": {"kind": "image", "image": "/assets/v1/logo.png",
                                          "click_url": "https://www.example.com/"}},
    ("PATCH", "/campaigns/{campaign_id}"): {"enabled": False, "weight": 3},
    ("POST", "/venues"): {"id": "v9", "name_zh": "新场所", "name_en": "New venue"},
}

HOSTILE_TEXT = ["", " ", "..", "../../etc/passwd", "a/b", "\x00", "%00", "a" * 300, "<script>x</script>",
                "' OR '1'='1", "-1", "0", "1e309", "NaN", "中文", "\u202e", "{}", "*", "a:b:c", "%",
                "\U0001f642", "venue:", "13800138000\n"]
HOSTILE_JSON: list[Any] = [None, -1, 2**64, 1e308, "", "x" * 5000, "\x00<script>", [None], {"a": {"b": [1]}},
                           True]
RAW_BODIES: list[tuple[bytes, str]] = [
    (b"{not json", "application/json"), (b"\xff\xfe\x00", "application/json"),
    (b"[1, 2]", "application/json"),
    (b"null", "application/json"), (b'"text"', "application/json"), (b"", "application/json"),
    (b'{"a": 1}', "text/plain"), (b"a=b", "application/x-www-form-urlencoded"),
    (b"[" * 5000 + b"]" * 5000, "application/json"),
]


def _operations() -> list[tuple[str, str]]:
    import importlib

    from portal.web.api import api_base

    for name in RESOURCE_MODULES:
        importlib.import_module(f"portal.web.api.{name}")
    return sorted({(op.method, op.path) for op in api_base.OPERATIONS}, key=lambda mp: (mp[1], mp[0]))


OPERATIONS = _operations()


def seed(redis: Any, app: Flask) -> dict[str, str]:
    """A small world every operation can act on; returns token secrets by scope."""
    redis.flushdb()
    svc = services(app)
    plans = PlanStore(redis, cache_ttl=0.0)
    plans.put(Plan("basic", up_kbps=1000, down_kbps=4000))
    AcRegistry(redis).put(AcRecord(name="ac1", addresses=("127.0.0.1",), secret="portal-secret-1",
                                   radius_secret="radius-secret-1", port=free_udp_port(),
                                   coa_port=free_udp_port(), timeout=0.1, retries=0))
    venue = Venue("v1", name_zh="图书馆", acs=("ac1",), default_plan="basic",
                  redirect_hosts=("www.example.com",))      # campaign click-throughs go there
    VenueStore(redis, cache_ttl=0.0).put(venue)
    svc.journey.venues.invalidate()
    svc.pages.publish(venue, "login", "tests", source=login_page("<p>version one</p>"))
    svc.assets.put("v1", "logo.png", _png(), "tests")
    CredentialStore(redis).bind_mac(MAC, PHONE, 30)
    AccountStore(redis).create("acct1", "Lantern-river-4711", "venue", ("v1",))
    Blocklist(redis).block("phone", "13900000000", "test")
    now = int(time.time())
    SessionRegistry(redis).open(OnlineSession("ac1", "S1", PHONE, mac=MAC, ip="10.0.0.1", started=now - 30,
                                              updated=now, interim=300, plan="basic", session_time=30))
    CampaignStore(redis).create(Campaign("c1", "活动", Creative("image", "/assets/v1/logo.png",
                                                                "https://www.example.com/"),
                                         venues=("v1",)))
    tokens = ApiTokenStore(redis)
    creator = owner(redis)
    out = {scope: tokens.create(f"t-{scope}", scope, creator)[1] for scope in SCOPES}
    out["token_id"] = tokens.create("victim", "read", creator)[0].id
    job = JobStore(redis).create("kick_session", "ac1|S1", creator, creator)
    JobStore(redis).update(job.id, state="done", result={"kicks": [], "message": "m", "message_zh": "m"})
    out["job_id"] = job.id
    return out


def snapshot(redis: Any) -> dict[bytes, bytes]:
    return {key: redis.dump(key) for key in redis.scan_iter(count=1000)}


def restore(redis: Any, world: dict[bytes, bytes]) -> None:
    """Back to the seeded world (cheaper than seeding: no password hashing, no page checks)."""
    pipe = redis.pipeline(transaction=True)
    pipe.flushdb()
    for key, value in world.items():
        pipe.restore(key, 0, value)
    pipe.execute()


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    settings = make_settings(data_dir)
    settings = dataclasses.replace(settings, radius=dataclasses.replace(
        settings.radius, coa_timeout=0.1, coa_retries=1),
        # No RADIUS process caches plans here: a plan change's job needs no second pass.
        quota=dataclasses.replace(settings.quota, plan_cache_ttl=0.0))
    flask_app = create_app(settings, redis_client)
    flask_app.config["TESTING"] = True
    return flask_app


def _document(client: FlaskClient) -> dict[str, Any]:
    doc: dict[str, Any] = client.get("/api/v1/openapi.json").get_json()
    return doc


def _url(path: str, values: dict[str, str], query: dict[str, str] | None = None) -> str:
    url = "/api/v1" + path
    for name, value in values.items():
        url = url.replace("{" + name + "}", quote(value, safe=""))
    return url + ("?" + urlencode(query) if query else "")


class Checker:
    """Sends requests and collects every contract breach (reported together at the end)."""

    def __init__(self, app: Flask, doc: dict[str, Any], method: str, path: str) -> None:
        self.client = app.test_client()
        self.doc, self.method, self.path = doc, method, path
        self.op = doc["paths"][path][method.lower()]
        self.problems: list[str] = []

    def send(self, url: str, headers: dict[str, str], body: Any = None, raw: tuple[bytes, str] | None = None,
             what: str = "", routed: bool = True) -> Any:
        """``routed`` False: the URL no longer matches this operation's route (an empty or
        slash-containing path value) — only "no 5xx, errors explained" applies."""
        kwargs: dict[str, Any] = {"headers": headers}
        if raw is not None:
            kwargs.update(data=raw[0], content_type=raw[1])
        elif body is not None:
            kwargs["json"] = body
        resp = self.client.open(url, method=self.method, **kwargs)
        where = f"{self.method} {url[:120]!r} {what}".strip()
        status = str(resp.status_code)
        if resp.status_code >= 500:
            self.problems.append(f"{where}: {status} {resp.get_data(as_text=True)[:200]}")
            return resp
        if not routed:
            if resp.status_code >= 400 and not ((resp.get_json(silent=True) or {}).get("error") or {}).get(
                    "message_zh"):
                self.problems.append(f"{where}: {status} without a clear error body")
            return resp
        if status not in self.op["responses"]:
            self.problems.append(f"{where}: status {status} is not documented")
            return resp
        if resp.status_code >= 400:
            error = (resp.get_json(silent=True) or {}).get("error") or {}
            if not (error.get("code") and error.get("message") and error.get("message_zh")):
                self.problems.append(f"{where}: {status} without a clear error body")
        content = self.op["responses"][status].get("content", {})
        if "application/json" in content and resp.mimetype == "application/json":
            schema = dict(content["application/json"]["schema"])
            schema["$defs"] = self.doc["components"]["schemas"]
            try:
                jsonschema.validate(resp.get_json(), _rebase(schema), cls=jsonschema.Draft202012Validator)
            except jsonschema.ValidationError as exc:
                self.problems.append(f"{where}: body does not match the document: {exc.message[:200]}")
        return resp


def test_every_served_operation_is_covered(app: Flask) -> None:
    doc = _document(app.test_client())
    served = sorted(((m.upper(), p) for p, ops in doc["paths"].items() for m in ops),
                    key=lambda mp: (mp[1], mp[0]))
    assert served == OPERATIONS
    for method, path in served:
        op = doc["paths"][path][method.lower()]
        for param in op["parameters"]:
            if param["in"] == "path":
                assert param["name"] in PATH_VALUES, f"{method} {path}: add {param['name']} to PATH_VALUES"
        if "requestBody" in op:
            assert (method, path) in GOOD_BODIES, f"{method} {path}: add a body to GOOD_BODIES"


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_contract(app: Flask, redis_client: Any, method: str, path: str) -> None:
    tokens = seed(redis_client, app)
    world = snapshot(redis_client)
    doc = _document(app.test_client())
    check = Checker(app, doc, method, path)
    op = check.op
    path_params = [p["name"] for p in op["parameters"] if p["in"] == "path"]
    good_path = {name: tokens[name] if name in tokens else PATH_VALUES[name] for name in path_params}
    good_query = {p["name"]: QUERY_VALUES[p["name"]] for p in op["parameters"]
                  if p["in"] == "query" and p.get("required")}
    good_body = GOOD_BODIES.get((method, path))
    url = _url(path, good_path, good_query)
    audit = AuditLog(redis_client)

    def api_entries() -> int:
        # A job an earlier test started (a plan change, a kick) audits its outcome ("….done") from
        # the job runner's thread whenever it ends, possibly during this test: not this request's
        # doing. A refused request that started a job is still seen by the job's request entry.
        return sum(1 for entry in audit.recent(10_000, area="api") if not entry.action.endswith(".done"))

    # -- authentication and scope -------------------------------------------------------------
    revoked = ApiTokenStore(redis_client).create("gone", "write", owner(redis_client))
    ApiTokenStore(redis_client).revoke(revoked[0].id)
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": f"Basic {tokens['write']}"},
                    auth("cw_000000000000_" + "x" * 40), auth(revoked[1])):
        resp = check.send(url, headers, good_body, what=f"auth {headers}")
        assert resp.status_code == 401, (headers, resp.status_code)
    # Scopes that must NOT be let in: export is included by no other scope, nor includes write.
    weaker = {"read": (), "write": ("read", "export"), "admin": ("read", "write", "export"),
              "export": ("read", "write", "admin")}[op["x-scope"]]
    for scope in weaker:
        before = api_entries()
        resp = check.send(url, auth(tokens[scope]), good_body, what=f"{scope} token")
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
        assert api_entries() == before, "a refused write was audited (or done)"
    if not weaker:
        resp = check.send(url, auth(tokens["read"]), what="read token")
        assert resp.status_code not in (401, 403), resp.get_data(as_text=True)[:300]

    # -- the known-good request succeeds (and a write is audited) ---------------------------------
    # The strongest token for the operation (export is its own): the operation itself must work.
    write = auth(tokens["export" if op["x-scope"] == "export" else "admin"])
    before = api_entries()
    resp = check.send(url, write, good_body, what="good request")
    assert resp.status_code < 300, (resp.status_code, resp.get_data(as_text=True)[:300])
    if method != "GET" and (method, path) not in UNAUDITED:
        assert api_entries() > before, f"{method} {path} succeeded without an audit entry"

    # -- hostile input: never 5xx, always a documented, explained status --------------------------
    def reseed_after(resp: Any) -> None:
        # A create or delete that went through changes what the next request meets: start over.
        if resp.status_code < 300 and method in ("POST", "DELETE"):
            restore(redis_client, world)

    restore(redis_client, world)
    for name in path_params:
        for value in HOSTILE_TEXT:
            resp = check.send(_url(path, {**good_path, name: value}, good_query), write, good_body,
                              what=f"path {name}={value[:20]!r}", routed=bool(value) and "/" not in value)
            reseed_after(resp)
    for param in (p for p in op["parameters"] if p["in"] == "query"):
        for value in HOSTILE_TEXT:
            resp = check.send(_url(path, good_path, {**good_query, param["name"]: value}), write, good_body,
                              what=f"query {param['name']}={value[:20]!r}")
            reseed_after(resp)
    if "requestBody" in op:
        assert good_body is not None
        for raw in RAW_BODIES:
            resp = check.send(url, write, raw=raw, what=f"raw {raw[0][:20]!r}")
            assert 400 <= resp.status_code < 500
        properties = op["requestBody"]["content"]["application/json"]["schema"].get("properties", {})
        for prop in [*properties, "unexpected_field"]:
            for value in HOSTILE_JSON:
                resp = check.send(url, write, {**good_body, prop: value},
                                  what=f"body {prop}={str(value)[:20]!r}")
                reseed_after(resp)
    assert not check.problems, "\n".join(check.problems[:40])
