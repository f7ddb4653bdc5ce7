"""MAC-trigger silent logins, run by a fixed pool of worker threads from a bounded queue.

After the listener answers a REQ_MACBINDING_INFO (0x30) with "bound", the AC waits about 5 s for
our REQ_CHALLENGE/REQ_AUTH (spec §2), and each login is one AC round trip with retries. Starting
a thread per query let 500 datagrams make hundreds of threads; here the work is bounded:

* ``offer`` queues a login and returns at once; False (the listener then answers "not bound",
  so the AC does not wait for nothing) when the queue is full, when that (AC, MAC) is already
  queued or running (an AC re-sends 0x30), or when the pool is stopped;
* a job older than ``max_age`` when a worker reaches it is dropped: the AC stopped waiting;
* every outcome is counted per AC (``stats``: ``silent_login.<outcome>.<AC>``) and refusals are
  logged at WARNING, rate-limited.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ac_adapters.log_limit import LogLimiter

__all__ = ["SilentLoginQueue"]

log = logging.getLogger(__name__)

Login = Callable[[str, str, str], object]       # (AC name, MAC, user IP) → truthy on success


@dataclass(frozen=True, slots=True)
class _Job:
    ac: str
    mac: str
    user_ip: str
    queued_at: float


class SilentLoginQueue:
    """``workers`` threads draining at most ``capacity`` queued logins."""

    def __init__(
        self,
        login: Login,
        *,
        workers: int = 4,
        capacity: int = 64,
        max_age: float = 5.0,       # EAG waits 5 s for our login after 0x31 "bound" (§2)
        delay: float = 0.05,        # lets our 0x31 reach the AC before the REQ_CHALLENGE
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if workers < 1 or capacity < 1:
            raise ValueError("SilentLoginQueue needs at least one worker and one queue slot")
        self.login = login
        self.workers = workers
        self.max_age = max_age
        self.delay = delay
        self.clock = clock
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=capacity)
        self._lock = threading.Lock()
        self._pending: set[tuple[str, str]] = set()      # (AC, MAC) queued or running
        self._counts: Counter[tuple[str, str]] = Counter()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._log_limit = LogLimiter(log, clock=clock)

    def start(self) -> SilentLoginQueue:
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"silent-login-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Refuse new jobs, drop queued ones, let running logins finish (up to ``timeout``)."""
        self._stop.set()
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._finish(job, "stopped")
        deadline = time.monotonic() + timeout
        for _ in self._threads:                 # wake every worker (they free slots as they go)
            try:
                self._jobs.put(None, timeout=max(0.01, deadline - time.monotonic()))
            except queue.Full:
                break
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def __enter__(self) -> SilentLoginQueue:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- producer side (the listener's receive thread) -----------------------------------------

    def offer(self, ac: str, mac: str, user_ip: str) -> bool:
        """Queue a silent login; False = refused (counted and logged), answer "not bound"."""
        key = (ac, mac)
        with self._lock:
            if self._stop.is_set():
                reason = "stopped"
            elif key in self._pending:
                reason = "in_flight"
            else:
                try:
                    self._jobs.put_nowait(_Job(ac, mac, user_ip, self.clock()))
                except queue.Full:
                    reason = "queue_full"
                else:
                    self._pending.add(key)
                    self._counts[("queued", ac)] += 1
                    return True
            self._counts[(reason, ac)] += 1
        self._log_limit.log(f"silent login refused ({reason}, AC {ac})", logging.WARNING,
                            "silent login of %s at %s on AC %s refused (%s): answered not bound",
                            mac, user_ip, ac, reason)
        return False

    @property
    def stats(self) -> dict[str, int]:
        """``silent_login.<outcome>.<AC>``: queued, succeeded, failed, error, expired, and the
        refusals queue_full, in_flight, stopped."""
        with self._lock:
            return {f"silent_login.{outcome}.{ac}": n for (outcome, ac), n in self._counts.items()}

    def queued(self) -> int:
        return self._jobs.qsize()

    # --- workers -------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._stop.is_set():
                if job is not None:
                    self._finish(job, "stopped")
                return
            self._run(job)
            self._log_limit.flush()

    def _run(self, job: _Job) -> None:
        age = self.clock() - job.queued_at
        if age > self.max_age:
            self._log_limit.log(f"silent login expired (AC {job.ac})", logging.WARNING,
                                "silent login of %s on AC %s dropped: waited %.1f s, the AC has "
                                "given up", job.mac, job.ac, age)
            self._finish(job, "expired")
            return
        if age < self.delay and self._stop.wait(self.delay - age):
            self._finish(job, "stopped")
            return
        try:
            ok = self.login(job.ac, job.mac, job.user_ip)
        except Exception:
            log.exception("silent login of %s on AC %s failed", job.mac, job.ac)
            self._finish(job, "error")
            return
        self._finish(job, "succeeded" if ok else "failed")

    def _finish(self, job: _Job, outcome: str) -> None:
        with self._lock:
            self._pending.discard((job.ac, job.mac))
            self._counts[(outcome, job.ac)] += 1
