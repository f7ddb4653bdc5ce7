"""Faults during a load run, on the multi-node system (tests/e2e/multinode.py).

Phones log in continuously (several journeys per second, landing on one web node and logging in
through the other, as a load balancer would spread them) while the test, one after another,
kill -9s a whole web node, a RADIUS worker process, a whole RADIUS node, the sms-worker, the
ac-listener, and Redis itself (same data dir, AOF). Killed processes are started again by the
test (the RADIUS parent restarts its own worker); nothing else is touched: every service has to
reconnect and carry on by itself, and the simulator's RADIUS retries have to land on the live
RADIUS node.

Afterwards every login that was confirmed to a phone (the success page came back) must have
its online session, its accounting Start in the durable log and its real-name record: nothing
confirmed is lost. What the phones saw is printed per fault (errors by kind, their count and
how long the disturbance lasted); README "Fault tolerance" quotes a run.

A load balancer in front of the web nodes is emulated the way nginx behaves by default
(``proxy_next_upstream error``): a connection that cannot be established goes to the other
node; a request already sent to a node that then dies is an error the phone sees.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis as redislib

from portal.aaa.sessions import SessionRegistry
from portal.legal.reallog import RealNameLog
from portal.state import keys
from portal.state.embedded import EmbeddedRedis
from tests.e2e.multinode import MultiNode, Outcome, phone, wait_for

LOAD_SECONDS = 34.0
THREADS = 4
PACE = 0.6            # seconds between journey starts per thread → ≈ 6–7 journeys/s offered


@dataclass
class Fault:
    name: str
    at: float          # seconds after the load started
    inject: Callable[[], None]
    recover: Callable[[], None] | None = None
    recover_after: float = 0.0
    injected: float = 0.0   # monotonic time it happened
    radius: dict[str, int] = field(default_factory=dict)   # simulator RADIUS stats at injection


class BalancedJourneys:
    """Phone journeys through the emulated balancer, from several threads at a steady pace."""

    def __init__(self, system: MultiNode) -> None:
        self.system = system
        self.outcomes: list[Outcome] = []
        self.lock = threading.Lock()
        self.counter = 1000
        self.stop = threading.Event()

    def _next(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def one(self) -> Outcome:
        i = self._next()
        out = self.system.journey(phone(i), i, landing_node=i % 2, login_node=(i // 2) % 2,
                                  balanced=True)
        with self.lock:
            self.outcomes.append(out)
        return out

    def run(self) -> None:
        nxt = time.monotonic()
        while not self.stop.is_set():
            self.one()
            nxt += PACE
            delay = nxt - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                nxt = time.monotonic()


@pytest.mark.slow
def test_faults_during_load_lose_nothing_confirmed(tmp_path: Path) -> None:
    store = EmbeddedRedis(tmp_path / "redis", port=0).start()

    def fsync_always() -> None:
        # Redis acknowledges a write only once it is in the AOF on disk, so a kill -9 of Redis
        # loses nothing that was acknowledged (the deploy default everysec may lose ≤ 1 s).
        c = redislib.Redis.from_url(store.url)
        c.config_set("appendfsync", "always")
        c.close()

    fsync_always()
    # Two workers per RADIUS node: with one, `citywifi radius` serves in-process (no worker to kill).
    # A 1 s RADIUS timeout on the simulator: a dead RADIUS node costs a phone about a second.
    system = MultiNode(tmp_path, store.url, env={"CITYWIFI_RADIUS_WORKERS": "2"}, radius_timeout=1.0)
    try:
        system.start()
    except BaseException:
        store.stop()
        raise
    load = BalancedJourneys(system)
    restarts: list[str] = []

    def restart(name: str) -> Callable[[], None]:
        def go() -> None:
            node = system.nodes[name]
            node.stop(timeout=1)
            node.start()
            restarts.append(name)
        return go

    def kill_node(name: str) -> Callable[[], None]:
        return lambda: _kill_group(system, name)

    def kill_radius_worker() -> None:
        workers = system.nodes["radius0"].children()
        assert workers, "radius0 has no worker process"
        os.kill(workers[0], signal.SIGKILL)

    def kill_redis() -> None:
        store.kill()

    def start_redis() -> None:
        store.start()
        fsync_always()

    faults = [
        Fault("web node killed (kill -9 of gunicorn master + workers)", 3.0, kill_node("web0"),
              restart("web0"), 3.0),
        Fault("RADIUS worker killed (kill -9; its parent restarts it)", 8.0, kill_radius_worker),
        Fault("whole RADIUS node killed (kill -9), restarted 4 s later", 11.0, kill_node("radius1"),
              restart("radius1"), 4.0),
        Fault("sms-worker killed (kill -9), restarted 2 s later", 17.0, kill_node("sms"),
              restart("sms"), 2.0),
        Fault("ac-listener killed (kill -9), restarted 2 s later", 21.0, kill_node("listener"),
              restart("listener"), 2.0),
        Fault("Redis killed (kill -9), restarted 1 s later on its AOF", 25.0, kill_redis, start_redis,
              1.0),
    ]
    threads = [threading.Thread(target=load.run, daemon=True) for _ in range(THREADS)]
    try:
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for fault in faults:
            _sleep_until(t0 + fault.at)
            fault.injected = time.monotonic()
            assert system.ac is not None and system.ac.radius is not None
            fault.radius = dict(system.ac.radius.stats)
            fault.inject()
            if fault.recover is not None:
                _sleep_until(fault.injected + fault.recover_after)
                fault.recover()
        _sleep_until(t0 + LOAD_SECONDS)
        load.stop.set()
        for t in threads:
            t.join(60)
        outcomes = sorted(load.outcomes, key=lambda o: o.started)
        assert system.nodes["web0"].alive and system.nodes["radius0"].alive

        # --- what the phones saw -------------------------------------------------------------
        assert system.ac is not None and system.ac.radius is not None
        report = _report(outcomes, faults, t0, dict(system.ac.radius.stats))
        print(report)
        ok = [o for o in outcomes if o.ok]
        # (Counts stay modest: on a loaded 2-core box a journey can take seconds.)
        assert len(outcomes) >= 40 and len(ok) >= 0.7 * len(outcomes), report
        # The system recovered by itself: journeys begun 3 s after the last fault all succeed.
        tail = [o for o in outcomes if o.started > faults[-1].injected + faults[-1].recover_after + 3]
        assert tail and all(o.ok for o in tail), [(o.stage, o.error) for o in tail if not o.ok]

        # --- nothing confirmed is lost ---------------------------------------------------------
        state = system.redis
        registry = SessionRegistry(state)
        confirmed = {o.phone: o for o in ok}

        def missing_sessions() -> list[str]:
            return [p for p, o in confirmed.items()
                    if not any(s.ip == o.ip for s in registry.by_phone(p))]

        # Accounting Starts still being retried by the simulator may take a few seconds.
        wait_for(lambda: not missing_sessions(), 20, 0.5)
        assert not missing_sessions(), missing_sessions()
        started = {f[b"ph"].decode() for _id, f in state.xrange(keys.acct_log())
                   if f.get(b"st") == b"1" and b"ph" in f}
        assert not set(confirmed) - started, sorted(set(confirmed) - started)
        logged = {r.phone for r in RealNameLog(state).recent(len(outcomes) + 100)}
        assert not set(confirmed) - logged, sorted(set(confirmed) - logged)
        assert system.ac is not None and system.ac.radius is not None
        assert system.ac.radius.stats["failovers"] > 0            # retries went to the other node
        assert sorted(restarts) == ["listener", "radius1", "sms", "web0"]
        # Every process rode out the Redis restart by handling it, not by crashing.
        assert not system.tracebacks(), system.tracebacks()
    finally:
        load.stop.set()
        system.stop()
        store.stop()


def _kill_group(system: MultiNode, name: str) -> None:
    """kill -9 of a whole node: its main process and every process it started."""
    node = system.nodes[name]
    assert node.process is not None
    os.killpg(node.process.pid, signal.SIGKILL)
    node.process.wait()


def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _report(outcomes: list[Outcome], faults: list[Fault], t0: float, radius_end: dict[str, int]) -> str:
    """Per fault (window: its injection until the next one): failed journeys by kind, how long
    after the fault the last failure ended, the slowest confirmed journey, and how many of the
    simulator's RADIUS requests were re-sent to the other RADIUS node."""
    lines = [f"{len(outcomes)} phone journeys in {LOAD_SECONDS:.0f} s, "
             f"{sum(o.ok for o in outcomes)} confirmed, "
             f"{sum(1 for o in outcomes if o.extra.get('rerouted'))} rerouted by the balancer",
             f"{'fault (at s)':<62} {'failed':>6}  {'errors seen by phones':<44} {'disturbance':>11}"
             f"  {'slowest ok':>10}  {'RADIUS failovers':>16}"]
    bounds = [f.injected for f in faults] + [t0 + LOAD_SECONDS + 60]
    before = [o for o in outcomes if o.ended < bounds[0] and not o.ok]
    if before:
        lines.append(f"{'(before any fault)':<62} {len(before):>6}")
    radius_marks = [f.radius for f in faults[1:]] + [radius_end]
    for fault, end, radius_after in zip(faults, bounds[1:], radius_marks, strict=True):
        # Failures count where they were seen (their end); "slowest ok" looks at every
        # confirmed journey that was under way during the window.
        failed = [o for o in outcomes if not o.ok and fault.injected <= o.ended < end]
        window = [o for o in outcomes if o.started < end and o.ended >= fault.injected]
        kinds = Counter(f"{o.stage}:{o.error}" for o in failed)
        span = (max(o.ended for o in failed) - fault.injected) if failed else 0.0
        slow = max((o.ended - o.started for o in window if o.ok), default=0.0)
        failovers = radius_after.get("failovers", 0) - fault.radius.get("failovers", 0)
        lines.append(f"{fault.name + f' ({fault.injected - t0:.0f})':<62} {len(failed):>6}  "
                     f"{', '.join(f'{k}×{n}' for k, n in kinds.most_common()) or '-':<44} "
                     f"{span:>9.1f} s  {slow:>8.1f} s  {failovers:>16}")
    return "\n".join(lines)
