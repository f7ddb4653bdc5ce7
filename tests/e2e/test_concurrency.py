"""100 phones log in at once over HTTP through one simulated AC and the real RADIUS server:
every login succeeds, and no code, credential or identity crosses between phones."""

from __future__ import annotations

import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from portal.legal.reallog import RealNameLog
from tests.conftest import free_tcp_port
from tests.e2e.stack import Stack, phone, running_stack, stack_app, user, wait_for

N = 100


@pytest.fixture
def served(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[tuple[Stack, str]]:
    from werkzeug.serving import make_server

    # Enough AC login slots for everyone at once; the simulator answers each REQ_AUTH only after
    # RADIUS did, so this also exercises many exchanges in flight on one portal client socket.
    # AC timeout at the production default: on 2 busy cores, CPU contention is not an AC timeout.
    with running_stack(redis_client, redis_url, data_dir, web={"max_ac_logins": N},
                       ac_timeout=3.0) as stack:
        app = stack_app(stack)
        server = make_server("127.0.0.1", free_tcp_port(), app, threaded=True)
        server.socket.listen(256)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield stack, f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(5)


def post(url: str, data: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_hundred_phones_at_once(served: tuple[Stack, str]) -> None:
    stack, base = served
    redirects = [stack.redirect(i, base + "/portal") for i in range(N)]
    start = threading.Barrier(N)

    def journey(i: int) -> tuple[int, str]:
        with urllib.request.urlopen(redirects[i], timeout=30) as resp:
            page = resp.read().decode()
        c = re.search(r'name="c" value="([^"]+)"', page).group(1)
        status, _ = post(base + "/portal/code", {"c": c, "phone": phone(i)})
        assert status == 200
        code = stack.last_code(phone(i))
        start.wait(timeout=60)          # everyone logs in at the same moment
        return post(base + "/portal/login", {"c": c, "phone": phone(i), "code": code})

    with ThreadPoolExecutor(max_workers=N) as pool:
        results = list(pool.map(journey, range(N)))
    failed = [(i, s, re.findall(r'data-code="([^"]+)"', body)) for i, (s, body) in enumerate(results)
              if s != 200 or 'id="success"' not in body]
    assert not failed, failed[:5]

    online = stack.ac.online()
    for i in range(N):
        ip, mac = user(i)
        assert online[ip].username == phone(i), i         # each AC session carries its own phone
        assert online[ip].mac == mac
        assert stack.journey.credentials.binding_for_mac(mac)[0] == phone(i)
    records = {r.phone: r for r in RealNameLog(stack.redis).recent(N)}
    assert len(records) == N
    for i in range(N):
        ip, mac = user(i)
        assert (records[phone(i)].ip, records[phone(i)].mac) == (ip, mac)
    # Accounting reached RADIUS for everyone, each under the right phone.
    assert wait_for(lambda: all(stack.journey.sessions.by_phone(phone(i)) for i in range(N)), timeout=15)
    for i in range(N):
        assert {s.ip for s in stack.journey.sessions.by_phone(phone(i))} == {user(i)[0]}
