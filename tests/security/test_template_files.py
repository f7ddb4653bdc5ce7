"""A venue's page template (or an ad campaign's HTML creative) cannot read a file on the
server (before, ``{% include "default//etc/passwd" %}`` in the login page's preview showed
``/etc/passwd``, and the same read ``web-secret.key``). Templates now load only by exact name
from the shipped list. Driven over HTTP as a venue operator (editor, preview, publish,
campaigns) and as a returning phone (ad page); plus every other place where a name from
outside becomes a path: assets, the log export's stream name (archive files), the theme and
the SMS file outbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ad_pages import PageRenderer
from ad_pages.campaigns import Campaign, Creative
from portal.admin.accounts import Role
from portal.legal.log_archive import ArchiveError, day_files, day_path
from portal.venues.pages import PageStore
from portal.venues.venue_store import Venue, VenueStore
from portal.web import services
from sms_gateway.backend import SmsMessage
from sms_gateway.file_backend import FileBackend
from tests.e2e.stack import AC_NAME, SSID, Stack, running_stack, seed, stack_app
from tests.portal.venues.test_assets import GOOD
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import create_account, csrf, login, make_app

LIB = Venue(id="lib", name_zh="图书馆", name_en="Library", acs=(AC_NAME,), ssids=(SSID,))
MALL = Venue(id="mall", name_zh="商场", name_en="Mall", acs=("mall-ac",))
MALL_PAGE = "<p>mall-private-page {{ c }}</p>"


@pytest.fixture
def secret_file(data_dir: Path) -> tuple[Path, str]:
    """A key file like the ones ``data_dir`` holds (web-secret.key, otp-hmac.key)."""
    marker = "cw-secret-" + secrets.token_hex(12)
    path = data_dir / "web-secret.key"
    path.write_text(marker)
    return path, marker


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    seed(redis_client, sim_port=1, venue=LIB)
    VenueStore(redis_client).put(MALL)
    PageStore(redis_client).publish(MALL, "error", "bob", source=MALL_PAGE)
    app = make_app(redis_client, data_dir)
    services(app).journey.venues.cache_ttl = 0.0
    return app


def venue_operator(app: Flask, redis: Any, role: Role = Role.VENUE) -> tuple[FlaskClient, str]:
    name = f"op-{secrets.token_hex(3)}"
    _, password = create_account(redis, name, role, ("lib",) if role == Role.VENUE else ())
    client = app.test_client()
    assert login(client, name, password).status_code == 302
    return client, csrf(client, "/venue")


def hostile_names(path: Path) -> list[str]:
    """Names a template might ask for to reach ``path`` (absolute, traversal, Windows, NUL…)."""
    rel = str(path).lstrip("/")
    return [
        f"default/{path}", f"default//{rel}", str(path), f"default/{'../' * 12}{rel}",
        f"default\\..\\..\\..\\..\\..\\..\\..\\..\\{rel}", f"default/login.html\x00/{path}",
        f"{'../' * 12}{rel}", f"file://{path}", f"default/./../{'../' * 12}{rel}",
        "mall/error.html", "venue/mall/error", "mall:error",           # another venue's page
    ]


def template_sources(target: Path) -> list[str]:
    out = []
    for name in hostile_names(target):
        quoted = json.dumps(name)
        out += [f"<pre>{{% include {quoted} %}}</pre>", f"{{% extends {quoted} %}}",
                f"{{% import {quoted} as k %}}{{{{ k }}}}", f"{{% from {quoted} import x %}}{{{{ x }}}}",
                f"{{% include ['nope', {quoted}] %}}", f"{{% set p = {quoted} %}}{{% include p %}}"]
    return out


def test_page_preview_and_publish_cannot_read_files(app: Flask, redis_client: Any,
                                                    secret_file: tuple[Path, str]) -> None:
    path, marker = secret_file
    alice, tok = venue_operator(app, redis_client)
    sources = [*template_sources(path), '<pre>{% include "default//etc/passwd" %}</pre>',
               '{% include "/proc/self/environ" %}', '{% extends "default//proc/self/environ" %}']
    for source in sources:
        saved = alice.post("/venue/lib/pages/login",
                           data={"csrf_token": tok, "source": source, "action": "save"})
        assert saved.status_code == 302, source
        preview = alice.get("/venue/lib/pages/login/preview")
        body = preview.get_data(as_text=True)
        assert marker not in body and "root:x:0:0" not in body and "PATH=" not in body, source
        assert "mall-private-page" not in body
        assert preview.headers["X-Preview-Source"] == "default", source      # fell back
        editor = alice.get("/venue/lib/pages/login").get_data(as_text=True)
        assert marker not in editor and "root:x:0:0" not in editor
        published = alice.post("/venue/lib/pages/login",
                               data={"csrf_token": tok, "source": source, "action": "publish"})
        assert published.status_code == 400, source
        assert marker not in published.get_data(as_text=True)
    assert PageStore(redis_client).published_source("lib", "login") is None
    # What does load: exactly the shipped list, by exact name.
    good = '{% extends "default/base.html" %}{% block body %}<p id=mine>{{ venue.name }}</p>{% endblock %}'
    alice.post("/venue/lib/pages/success", data={"csrf_token": tok, "source": good, "action": "save"})
    preview = alice.get("/venue/lib/pages/success/preview")
    assert preview.headers["X-Preview-Source"] == "venue" and "<p id=mine>" in preview.get_data(as_text=True)
    from ad_pages.loader import SHIPPED_TEMPLATES, THEMES, ShippedLoader

    shipped = sorted(f"{t}/{n}.html" for t in THEMES for n in SHIPPED_TEMPLATES)
    assert ShippedLoader().list_templates() == shipped


def test_api_publish_cannot_read_files(app: Flask, redis_client: Any, secret_file: tuple[Path, str]) -> None:
    path, marker = secret_file
    api = app.test_client()
    write = auth(token(redis_client, "write"))
    for source in template_sources(path)[:12]:
        resp = api.post("/api/v1/venues/lib/pages/login/publish", json={"source": source}, headers=write)
        assert resp.status_code == 400 and marker not in resp.get_data(as_text=True), source


def test_campaign_html_creative_cannot_read_files(app: Flask, redis_client: Any,
                                                  secret_file: tuple[Path, str]) -> None:
    path, marker = secret_file
    alice, _ = venue_operator(app, redis_client)
    tok = csrf(alice, "/venue/campaigns")
    for source in template_sources(path)[:12]:
        resp = alice.post("/venue/campaigns/new", data={
            "csrf_token": tok, "name": "x", "kind": "html", "html": source, "venues": ["lib"],
            "weight": "1", "priority": "0", "frequency_cap": "0", "enabled": "on"})
        assert resp.status_code == 400 and marker not in resp.get_data(as_text=True), source
    api = app.test_client()
    write = auth(token(redis_client, "write"))
    html = f'{{% include "default/{path}" %}}'
    body = {"name": "x", "venues": ["lib"], "creative": {"kind": "html", "html": html}}
    resp = api.post("/api/v1/campaigns", json=body, headers=write)
    assert resp.status_code == 400 and marker not in resp.get_data(as_text=True)


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        s.journey.campaigns.cache_ttl = 0.0
        yield s


def test_stored_html_creative_cannot_read_files_on_the_phones_ad_page(
        stack: Stack, secret_file: tuple[Path, str]) -> None:
    from tests.portal.web.venue.test_venue_campaigns import returning

    path, marker = secret_file
    # Saved before the fix (or straight into Redis): every returning phone rendered it.
    stack.journey.campaigns.create(Campaign("leak", "Leak", Creative(
        "html", html=f'<pre>{{% include "default/{path}" %}}</pre>')))
    app = stack_app(stack)
    html = returning(app.test_client(), stack, 1)
    assert 'id="ad"' in html and marker not in html
    assert 'data-ad="leak"' not in html          # the creative failed in the sandbox: not shown


def test_asset_names_never_become_paths(app: Flask, redis_client: Any, secret_file: tuple[Path, str],
                                        data_dir: Path) -> None:
    path, marker = secret_file
    alice, tok = venue_operator(app, redis_client)
    png = GOOD["logo.png"]
    for name in ("../../web-secret.png", "..\\..\\x.png", "/etc/x.png", "a\x00.png", "..／x.png",
                 "．．/x.png", "C:x.png", "~x.png", ".hidden.png", "x/../../y.png"):
        resp = alice.post("/venue/lib/assets", data={"csrf_token": tok, "file": (io.BytesIO(png), name)},
                          content_type="multipart/form-data")
        assert resp.status_code in (302, 400), name
    from portal.venues.venue_assets import AssetStore

    for asset in AssetStore(redis_client).all("lib"):
        assert "/" not in asset.name and "\\" not in asset.name and ".." not in asset.name
    phone = app.test_client()
    for url in ("/assets/lib/..%2F..%2Fweb-secret.key", "/assets/..%2F..%2F/web-secret.key",
                "/assets/lib/%2e%2e%2f%2e%2e%2fweb-secret.key", "/assets/lib/..%5C..%5Cweb-secret.key",
                f"/assets/lib/{'..%2F' * 12}{str(path).lstrip('/')}", "/static/..%2F..%2Fweb-secret.key",
                f"/static/{'..%2F' * 12}{str(path).lstrip('/')}", "/assets/lib/a%00.png",
                "/assets/lib/..png", "/assets/lib/%E2%80%AEgnp.png", "/assets/lib%7D:asset:x/logo.png"):
        resp = phone.get(url)
        assert resp.status_code == 404 and marker not in resp.get_data(as_text=True), url


def test_log_stream_names_never_become_paths(app: Flask, redis_client: Any, data_dir: Path) -> None:
    api = app.test_client()
    export = auth(token(redis_client, "export"))      # the scope that may export personal data
    for stream in ("..%2F..%2Fetc", "..", "%2e%2e", "realname%00", "..%5C..%5C"):
        resp = api.get(f"/api/v1/logs/{stream}?from=2026-01-01&to=2026-01-02", headers=export)
        assert resp.status_code in (400, 404), stream
    noc, _ = venue_operator(app, redis_client, Role.NOC)
    tok = csrf(noc, "/noc/logs")
    resp = noc.post("/noc/logs/export", data={"csrf_token": tok, "stream": "../../etc", "from": "2026-01-01",
                                              "to": "2026-01-02", "format": "csv"})
    assert resp.status_code == 400
    # The archive functions themselves take only the fixed stream names (defence in depth).
    outside = data_dir / "outside"
    (outside / "2026-01-01.jsonl.gz").parent.mkdir(parents=True)
    for stream in ("../outside", "/etc", "realname/../../outside", ""):
        with pytest.raises(ArchiveError):
            day_files(data_dir / "archive", stream)
        with pytest.raises(ArchiveError):
            day_path(data_dir / "archive", stream, dt.date(2026, 1, 1))


def test_theme_is_one_of_the_shipped_ones() -> None:
    for theme in ("../../../etc", "/etc", "default/../..", "mall", ""):
        with pytest.raises(ValueError):
            PageRenderer(theme=theme)


def test_sms_outbox_file_names_come_from_us(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    backend = FileBackend("file", outbox)
    hostile = "../../../escaped"
    asyncio.run(backend.send(SmsMessage(phone=hostile, text="../x", request_id=hostile)))
    assert [p.parent for p in outbox.iterdir()] == [outbox]
    assert not (tmp_path / "escaped").exists() and not any(tmp_path.parent.glob("escaped*"))
