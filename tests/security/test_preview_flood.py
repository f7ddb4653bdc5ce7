"""One console account cannot flood the web CPU with template renders (preview / publish check).

Before the fix 256 concurrent previews of a template that spins until the 0.25 s budget cut it
all ran, and phone landings took 11 s. Now an account gets at most two concurrent renders
(``portal.web.venue.render_gate``) and 429 (zh + en) beyond that.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from portal.admin.accounts import Role
from portal.venues.venue_store import Venue, VenueStore
from portal.web.venue.render_gate import MAX_CONCURRENT
from tests.portal.venues.pagekit import login_page
from tests.portal.web.consolekit import create_account, csrf, login, make_app

SPIN = "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"


def test_concurrent_previews_beyond_the_limit_get_429(redis_client: Any, data_dir: Path) -> None:
    VenueStore(redis_client).put(Venue(id="lib", name_zh="图书馆", name_en="Library"))
    app = make_app(redis_client, data_dir)
    _, password = create_account(redis_client, "mallory", Role.VENUE, ("lib",))
    client = app.test_client()
    assert login(client, "mallory", password).status_code == 302
    token = csrf(client, "/venue/lib/pages/login")
    client.post("/venue/lib/pages/login",
                data={"csrf_token": token, "source": login_page(SPIN), "action": "save"})
    cookie = client.get_cookie("cw_console")
    assert cookie is not None

    statuses: list[int] = []
    bodies: list[str] = []
    start = threading.Barrier(8)

    def preview() -> None:
        c = app.test_client()
        c.set_cookie(cookie.key, cookie.value)
        start.wait()
        resp = c.get("/venue/lib/pages/login/preview")
        statuses.append(resp.status_code)
        bodies.append(resp.get_data(as_text=True))

    threads = [threading.Thread(target=preview) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(429) >= 8 - 2 * MAX_CONCURRENT, statuses    # a few may run back to back
    assert 1 <= statuses.count(200) <= 2 * MAX_CONCURRENT, statuses
    busy = next(b for s, b in zip(statuses, bodies, strict=True) if s == 429)
    assert "请稍后再试" in busy and "try again" in busy
    # The slots are free again afterwards.
    assert client.get("/venue/lib/pages/login/preview").status_code == 200
