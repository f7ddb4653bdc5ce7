"""The consoles name things in the reader's language, not by their stored identifiers: the venue
page tabs (登录页 · 成功页 …, not "login · success …"), account roles and token scopes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.admin.accounts import Role
from portal.venues.venue_store import Venue, VenueStore
from tests.portal.web.api.apikit import token
from tests.portal.web.consolekit import create_account, login, make_app

TABS = {"zh": ["登录页", "成功页", "广告页", "状态页", "错误页"],
        "en": ["Login page", "Success page", "Ad page", "Status page", "Error page"]}


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    VenueStore(redis_client).put(Venue(id="lib", name_zh="图书馆", name_en="Library"))
    return make_app(redis_client, data_dir)


def _signed_in(app: Flask, redis: Any, name: str, role: Role, lang: str,
               venues: tuple[str, ...] = ()) -> FlaskClient:
    _, password = create_account(redis, name, role, venues)
    client = app.test_client()
    assert login(client, name, password).status_code == 302
    client.set_cookie("cw_lang", lang)
    return client


def _tabs(html: str) -> list[str]:
    return [m.group(2) for m in re.finditer(r'id="tab-(login|success|ad|status|error)">([^<]*)</a>', html)]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("path", ["/venue/lib", "/venue/lib/settings", "/venue/lib/pages/ad",
                                  "/venue/lib/assets"])
def test_venue_page_tabs_are_named_in_the_console_language(app: Flask, redis_client: Any, lang: str,
                                                           path: str) -> None:
    alice = _signed_in(app, redis_client, "alice", Role.VENUE, lang, ("lib",))
    resp = alice.get(path)
    assert resp.status_code == 200
    assert _tabs(resp.get_data(as_text=True)) == TABS[lang]


@pytest.mark.parametrize(("lang", "shown"), [("zh", ["管理员", "网络运维（NOC）", "场所运营者"]),
                                             ("en", ["Administrator", "NOC operator", "Venue operator"])])
def test_account_roles_are_named_not_shown_as_ids(app: Flask, redis_client: Any, lang: str,
                                                  shown: list[str]) -> None:
    admin = _signed_in(app, redis_client, "root", Role.ADMIN, lang)
    create_account(redis_client, "noc1", Role.NOC)
    create_account(redis_client, "op1", Role.VENUE, ("lib",))
    html = admin.get("/admin/users").get_data(as_text=True)
    cells = dict(re.findall(r'<td data-role="(\w+)">([^<]*)</td>', html))
    assert [cells["admin"], cells["noc"], cells["venue"]] == shown
    options = re.findall(r'<option value="(?:admin|noc|venue)"[^>]*>([^<]*)</option>', html)
    assert options == shown
    edit = admin.get("/admin/users/op1").get_data(as_text=True)
    assert re.findall(r'<option value="(?:admin|noc|venue)"[^>]*>([^<]*)</option>', edit) == shown


def test_token_scopes_are_named(app: Flask, redis_client: Any) -> None:
    admin = _signed_in(app, redis_client, "root", Role.ADMIN, "zh")
    token(redis_client, "export")
    html = admin.get("/noc/tokens").get_data(as_text=True)
    assert '<td data-scope="export">导出</td>' in html


def test_every_reject_reason_has_a_name_on_the_dashboard(app: Flask, redis_client: Any) -> None:
    """The reject chart labels reasons by name (黑名单, not "blocked"): every reason RADIUS can
    count has one."""
    import json

    from portal.aaa.grants import REFUSAL_MESSAGES
    from portal.web.noc.noc_dashboard import REJECT_REASONS
    from radius.auth_replies import REJECT_MESSAGES
    assert set(REJECT_MESSAGES) | set(REFUSAL_MESSAGES) | {"unspecified"} <= set(REJECT_REASONS)
    noc = _signed_in(app, redis_client, "noc1", Role.NOC, "zh")
    page = noc.get("/noc").get_data(as_text=True)
    match = re.search(r'data-reasons="([^"]*)"', page)
    assert match is not None
    import html
    names = json.loads(html.unescape(match.group(1)))
    assert names["blocked"] == "黑名单" and names["too_many_devices"] == "设备数已满"


@pytest.mark.parametrize(("lang", "shown"), [("zh", "短信登录"), ("en", "SMS code")])
def test_a_phones_logins_name_their_kind(app: Flask, redis_client: Any, lang: str, shown: str) -> None:
    from tests.portal.web.noc.nockit import open_session
    open_session(redis_client, "18900000001", "ac1", "S1", 1)          # logged in by SMS code
    noc = _signed_in(app, redis_client, "noc1", Role.NOC, lang)
    page = noc.get("/noc/users/18900000001").get_data(as_text=True)
    assert f'<td data-kind="sms">{shown}</td>' in page
