"""One unit convention for data, labelled, everywhere.

The NOC types 500 "MB" into the plan form; it is stored as 500,000,000 octets (decimal MB), the
plan list and the edit form show 500, the NOC's session list and the phone's status page both
say "500.0 MB" for a phone that has used nothing yet, and the API documents octets with the
same conversion. Real Redis, RADIUS, the AC simulator and the phone pages.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from portal.aaa.plans import PlanStore
from portal.admin.accounts import Role
from portal.runtime.settings import ConsoleSettings
from portal.units import format_octets
from tests.e2e.stack import phone, running_stack, stack_app, wait_for
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import create_account, csrf, login


@pytest.mark.parametrize(("octets", "shown"), [
    (0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (4000, "4.0 kB"), (524_288_000, "524.3 MB"),
    (500_000_000, "500.0 MB"), (999_949_999, "999.9 MB"), (1_000_000_000, "1.00 GB"),
    (1_500_000_000, "1.50 GB"), (None, ""),
])
def test_format_octets_is_decimal(octets: int | None, shown: str) -> None:
    assert format_octets(octets) == shown


def test_what_the_noc_types_is_what_the_phone_sees(redis_client: Any, redis_url: str, data_dir: Path) -> None:
    with running_stack(redis_client, redis_url, data_dir) as stack:
        settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
        app = stack_app(stack, settings)
        _account, password = create_account(redis_client, "noc-units", Role.NOC)
        noc = app.test_client()
        assert login(noc, "noc-units", password).status_code == 302
        form = {"title_zh": "基础套餐", "up_kbps": "2000", "down_kbps": "8000", "daily_time": "240",
                "daily_volume": "500", "max_sessions": "2", "mac_binding_days": "7",
                "csrf_token": csrf(noc, "/noc/plans")}
        edit = noc.get("/noc/plans/basic").get_data(as_text=True)
        assert "1 MB = 1,000,000 bytes" in edit or "1 MB = 1,000,000 字节" in edit   # labelled
        assert noc.post("/noc/plans/basic", data=form).status_code == 302
        assert PlanStore(redis_client).get("basic").daily_volume == 500_000_000
        assert 'value="500"' in noc.get("/noc/plans/basic").get_data(as_text=True)
        assert "每日流量 500.0 MB" in noc.get("/noc/plans").get_data(as_text=True)
        api_plan = app.test_client().get("/api/v1/plans/basic", headers=auth(token(redis_client))).get_json()
        assert api_plan["daily_volume"] == 500_000_000
        doc = app.test_client().get("/api/v1/openapi.json").get_json()
        documented = doc["paths"]["/plans/{plan_name}"]["get"]["responses"]["200"]["content"][
            "application/json"]["schema"]["properties"]["daily_volume"]["description"]
        assert "octets" in documented and "1 MB = 1,000,000 octets" in documented

        # A phone logs in under it and has used nothing yet.
        phone_client = app.test_client()
        html = phone_client.get("/portal?" + stack.query(1)).get_data(as_text=True)
        c = re.search(r'name="c" value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        phone_client.post("/portal/code", data={"c": c, "phone": phone(1)})
        done = phone_client.post("/portal/login", data={"c": c, "phone": phone(1),
                                                        "code": stack.last_code(phone(1))})
        status_url = re.search(r'id="status" href="([^"]+)"', done.get_data(as_text=True))
        assert status_url is not None
        assert wait_for(lambda: stack.journey.sessions.by_phone(phone(1)))
        status = phone_client.get(status_url.group(1).replace("&amp;", "&")).get_data(as_text=True)
        assert '<dd id="data_left">500.0 MB</dd>' in status
        sessions = noc.get(f"/noc/sessions?phone={phone(1)}").get_data(as_text=True)
        assert "<td>500.0 MB</td>" in sessions
