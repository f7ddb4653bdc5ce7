"""Several processes, each with its own PortalClient, logging users in on one fake AC."""

from __future__ import annotations

import multiprocessing

from ac_adapters.client import AcEndpoint, PortalClient
from ac_adapters.profiles import PROFILES
from tests.fakes.portal_ac import fake_ac

SECRET = b"proc-secret"
PROCS, PER_PROC = 4, 25


def _worker(port: int, index: int) -> list[tuple[str, bool, str, int]]:
    """Runs in a child process: 25 sequential logins through a client of its own."""
    ep = AcEndpoint("127.0.0.1", port, profile=PROFILES["huawei-v2"], secret=SECRET, timeout=5.0)
    out = []
    with PortalClient(source_host="127.0.0.1") as client:
        for j in range(PER_PROC):
            user = f"1390000{index:02d}{j:02d}"
            res = client.login(ep, f"10.2.{index}.{j + 1}", user, f"pw-{user}")
            out.append((user, res.ok, res.text, res.req_id))
    return out


def test_four_processes_times_25_logins_against_one_ac() -> None:
    names = [f"1390000{i:02d}{j:02d}" for i in range(PROCS) for j in range(PER_PROC)]
    users = {name: f"pw-{name}" for name in names}
    with fake_ac(secret=SECRET, users=users) as ac:
        # spawn, not fork: the test process runs threads (the fake AC), and a client is per process.
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(PROCS) as pool:
            per_proc = pool.starmap(_worker, [(ac.port, i) for i in range(PROCS)])
        results = [r for chunk in per_proc for r in chunk]
        assert len(results) == PROCS * PER_PROC
        assert all(ok for _, ok, _, _ in results), [r for r in results if not r[1]][:3]
        assert all(text == f"welcome {user}" for user, _, text, _ in results)
        assert len(ac.online) == PROCS * PER_PROC and set(ac.online.values()) == set(users)
        # Four sockets → four source ports seen by the AC.
        assert len({r.source for r in ac.received}) == PROCS
