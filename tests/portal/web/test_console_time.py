"""Every console time is in the operator's configured zone (``quota.timezone``, the zone of the
dashboard's chart axis and the reports) and says which — never the browser's zone. Server-rendered
times carry the zone in their text ("… UTC+8") and in an ISO 8601 ``datetime`` with the offset."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from portal.admin.accounts import Role
from portal.venues.pages import PageStore
from portal.venues.venue_store import Venue, VenueStore
from portal.web import create_app
from portal.web.console_time import local_stamp, zone_label
from tests.portal.venues.pagekit import login_page
from tests.portal.web.consolekit import make_settings
from tests.portal.web.noc.nockit import open_session, signed_in

NOON_UTC = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC).timestamp()
JULY_UTC = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(("zone", "at", "label"), [
    ("Asia/Shanghai", NOON_UTC, "UTC+8"), ("Asia/Kolkata", NOON_UTC, "UTC+5:30"),
    ("America/New_York", NOON_UTC, "UTC-5"), ("America/New_York", JULY_UTC, "UTC-4"),
    ("UTC", NOON_UTC, "UTC"),
])
def test_zone_labels(zone: str, at: float, label: str) -> None:
    assert zone_label(ZoneInfo(zone), at) == label


def test_a_stamp_is_local_labelled_and_iso() -> None:
    stamp = str(local_stamp(NOON_UTC, ZoneInfo("Asia/Shanghai")))
    assert stamp == ('<time datetime="2026-12-07T20:00:00+08:00" title="Asia/Shanghai" '
                     f'data-at="{NOON_UTC:.3f}">2026-12-07 20:00:00 UTC+8</time>')
    assert str(local_stamp("", ZoneInfo("Asia/Shanghai"))) == "-"
    assert str(local_stamp(0, ZoneInfo("Asia/Shanghai"))) == "-"


def _app(redis: Any, data_dir: Path, zone: str) -> Flask:
    settings = make_settings(data_dir)
    settings = dataclasses.replace(settings, quota=dataclasses.replace(settings.quota, timezone=zone))
    app = create_app(settings, redis)
    app.config["TESTING"] = True
    return app


@pytest.mark.parametrize(("zone", "offset", "label"), [("Asia/Shanghai", "+08:00", "UTC+8"),
                                                       ("Europe/London", "+00:00", "UTC")])
def test_noc_session_start_times_are_in_the_configured_zone(redis_client: Any, data_dir: Path, zone: str,
                                                            offset: str, label: str) -> None:
    app = _app(redis_client, data_dir, zone)
    open_session(redis_client, "18900000001", "ac1", "S1", 1, started=int(NOON_UTC))
    noc = signed_in(app, redis_client)
    page = noc.get("/noc/sessions").get_data(as_text=True)
    local = dt.datetime.fromtimestamp(NOON_UTC, ZoneInfo(zone))
    assert f'<time datetime="{local:%Y-%m-%dT%H:%M:%S}{offset}" title="{zone}"' in page
    assert f">{local:%Y-%m-%d %H:%M:%S} {label}</time>" in page
    # The zone the scripts format in ("Updated …", times they add) is on the page too.
    assert f'<body data-tz="{zone}" data-tz-label="{zone_label(ZoneInfo(zone))}">' in page
    assert "data-epoch" not in page


def test_dashboard_charts_and_venue_history_say_their_zone(redis_client: Any, data_dir: Path) -> None:
    app = _app(redis_client, data_dir, "Asia/Shanghai")
    noc = signed_in(app, redis_client)
    dashboard = noc.get("/noc").get_data(as_text=True)
    assert len(re.findall(r'<span class="muted tz" title="Asia/Shanghai">UTC\+8</span>', dashboard)) == 2
    VenueStore(redis_client).put(Venue(id="lib", name_zh="图书馆"))
    store = PageStore(redis_client, clock=lambda: NOON_UTC)
    store.publish(VenueStore(redis_client).get("lib"), "login", "alice", source=login_page("<p>x</p>"))
    op = signed_in(app, redis_client, Role.VENUE, "op1", venues=("lib",))
    editor = op.get("/venue/lib/pages/login").get_data(as_text=True)
    assert '<time datetime="2026-12-07T20:00:00+08:00"' in editor and "2026-12-07 20:00:00 UTC+8" in editor
    audit = signed_in(app, redis_client, Role.ADMIN, "root").get("/admin/audit").get_data(as_text=True)
    assert re.search(r'<td class="ts"><time datetime="[0-9-]{10}T[0-9:]{8}\+08:00" '
                     r'title="Asia/Shanghai"', audit)
