"""Background jobs of the NOC: work that waits on the network (a kick waits for the AC's
Disconnect-ACK, a changed plan sends a CoA to every online session under it) runs here, not in
the web thread that took the request.

A request submits a job and answers at once with its id; the console's job page and
``GET /api/v1/jobs/{job_id}`` read its record until it is ``done``. So ten NOC users kicking
sessions on an AC that never answers hold ten *job* threads — bounded per process
(``console.job_workers``, the rest wait in a bounded queue, ``console.job_queue``; a full queue
refuses with "busy") — and no web thread for more than a Redis round trip.

Records (``keys.noc_job``) live in Redis with an expiry (``console.job_ttl``), so any web
process (and any worker of it) can answer for any job. The work itself lives in the process
that accepted it: each runner refreshes a heartbeat on the records of its queued and running
jobs, and a record whose heartbeat stopped (the process was restarted or killed) reads as
``interrupted`` — its outcome is unknown, which the NOC sees instead of a job that never ends.
Jobs are not resumed elsewhere: re-sending a Disconnect for a session that may already be gone
is the NOC's call, made with the current session list in front of them.

States: ``queued`` → ``running`` → ``done`` | ``failed`` (an unexpected error, logged), or
``interrupted`` (see above).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import re
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal.errors import CitywifiError
from portal.noc.texts import JOB_BUSY
from portal.state import keys

__all__ = ["FINISHED", "Job", "JobBusy", "JobRunner", "JobStore", "Progress"]

log = logging.getLogger(__name__)

FINISHED = ("done", "failed", "interrupted")
_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

_BEAT_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'heartbeat', ARGV[1]) end
return 0
"""

# queued → running only: a job recorded as interrupted (its process is stopping) is not revived
# by a worker that had already taken it off the queue.
_START_LUA = """
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'running', 'updated', ARGV[1], 'heartbeat', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

Progress = Callable[[int, int], None]
"""``progress(done, total)``: what a job's work reports as it goes (also its heartbeat)."""


class JobBusy(CitywifiError):
    """Every job thread of this process is busy and the queue is full."""

    code = "busy"
    message_zh, message_en = JOB_BUSY


@dataclass(frozen=True, slots=True)
class Job:
    """One job as its record says (``state`` already ``interrupted`` if its heartbeat stopped)."""

    id: str
    kind: str
    target: str
    actor: str
    state: str
    created: float
    updated: float
    total: int = 0
    done: int = 0
    result: Any = None
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "target": self.target, "actor": self.actor,
                "state": self.state, "finished": self.finished, "created": self.created,
                "updated": self.updated, "total": self.total, "done": self.done,
                "result": self.result, "error": self.error}


class JobStore:
    """Job records in Redis. ``stale_after``: seconds without a heartbeat after which a queued
    or running job reads as interrupted (several runner heartbeats)."""

    def __init__(self, redis: Any, *, ttl: int = 3600, stale_after: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.ttl = ttl
        self.stale_after = stale_after
        self.clock = clock

    def create(self, kind: str, target: str, actor: str, owner: str, total: int = 0) -> Job:
        job_id = secrets.token_urlsafe(12)
        now = self.clock()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.noc_job(job_id), mapping={
            "kind": kind, "target": target, "actor": actor, "state": "queued", "owner": owner,
            "created": f"{now:.3f}", "updated": f"{now:.3f}", "heartbeat": f"{now:.3f}",
            "total": total, "done": 0, "result": "null", "error": ""})
        pipe.expire(keys.noc_job(job_id), self.ttl)
        pipe.execute()
        return Job(job_id, kind, target, actor, "queued", now, now, total)

    def update(self, job_id: str, **fields: Any) -> None:
        """Set fields (``result`` is JSON-encoded) and refresh ``updated``, heartbeat and expiry."""
        now = f"{self.clock():.3f}"
        mapping = {k: (json.dumps(v, ensure_ascii=False, default=str) if k == "result" else v)
                   for k, v in fields.items()}
        mapping.update(updated=now, heartbeat=now)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.noc_job(job_id), mapping=mapping)
        pipe.expire(keys.noc_job(job_id), self.ttl)
        pipe.execute()

    def start(self, job_id: str) -> bool:
        """Mark a queued job running; False when it is no longer queued (interrupted meanwhile)."""
        now = f"{self.clock():.3f}"
        return bool(self.redis.eval(_START_LUA, 1, keys.noc_job(job_id), now, self.ttl))

    def heartbeat(self, job_ids: list[str]) -> None:
        """Refresh the heartbeat of records that still exist (an expired one stays gone)."""
        if not job_ids:
            return
        now = f"{self.clock():.3f}"
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.eval(_BEAT_LUA, 1, keys.noc_job(job_id), now)
        pipe.execute()

    def get(self, job_id: str) -> Job | None:
        if not _ID.match(job_id or ""):
            return None
        raw = {k.decode(): v.decode() for k, v in self.redis.hgetall(keys.noc_job(job_id)).items()}
        if not raw or "state" not in raw:
            return None
        state = raw["state"]
        heartbeat = float(raw.get("heartbeat") or raw.get("updated") or 0)
        if state not in FINISHED and self.clock() - heartbeat > self.stale_after:
            state = "interrupted"
        try:
            result = json.loads(raw.get("result") or "null")
        except ValueError:
            result = None
        error = raw.get("error", "")
        if state == "interrupted" and not error:
            error = ("the web process that ran this job stopped before it finished; "
                     "check the session list for what happened")
        return Job(job_id, raw.get("kind", ""), raw.get("target", ""), raw.get("actor", ""), state,
                   float(raw.get("created") or 0), float(raw.get("updated") or 0),
                   int(raw.get("total") or 0), int(raw.get("done") or 0), result, error)


Work = Callable[[Progress], Any]
OnDone = Callable[[Job], None]


class JobRunner:
    """A bounded pool of daemon threads running jobs of this process (see module doc).

    ``submit`` never blocks: a full queue raises :class:`JobBusy`. Build one per process (a
    forked worker builds its own: threads do not survive ``fork``)."""

    def __init__(self, store: JobStore, *, workers: int = 4, queue_size: int = 64,
                 heartbeat: float = 10.0, progress_every: float = 0.5) -> None:
        self.store = store
        self.workers = max(1, workers)
        self.heartbeat_every = heartbeat
        self.progress_every = progress_every
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.pid = os.getpid()
        self._queue: queue.Queue[tuple[Job, Work, OnDone | None] | None] = queue.Queue(queue_size)
        self._live: set[str] = set()            # queued or running here
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        _RUNNERS.add(self)

    def submit(self, kind: str, target: str, actor: str, work: Work, *, total: int = 0,
               on_done: OnDone | None = None, on_queued: OnDone | None = None) -> Job:
        """Record a queued job and hand it to a job thread; returns at once.

        ``on_queued`` runs with the recorded job before a job thread can pick it up, so what it
        writes (the request's audit entry) always comes before anything ``on_done`` writes."""
        self._start()
        if self._queue.full():
            raise JobBusy(f"{self._queue.maxsize} jobs waiting")
        job = self.store.create(kind, target, actor, self.owner, total)
        if on_queued is not None:
            on_queued(job)
        with self._lock:
            self._live.add(job.id)
        try:
            self._queue.put_nowait((job, work, on_done))
        except queue.Full:
            with self._lock:
                self._live.discard(job.id)
            self.store.update(job.id, state="failed", error="queue full")
            raise JobBusy(f"{self._queue.maxsize} jobs waiting") from None
        return job

    def full(self) -> bool:
        """Whether a submit now would be refused (check before a change a job must follow)."""
        return self._queue.full()

    def pending(self) -> int:
        with self._lock:
            return len(self._live)

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        for i in range(self.workers):
            thread = threading.Thread(target=self._work_loop, name=f"noc-job-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        beat = threading.Thread(target=self._beat_loop, name="noc-job-heartbeat", daemon=True)
        beat.start()
        self._threads.append(beat)

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is None:
                return
            job, work, on_done = item
            self._run(job, work, on_done)

    def _run(self, job: Job, work: Work, on_done: OnDone | None) -> None:
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if done < total and now - last[0] < self.progress_every:
                return
            last[0] = now
            try:
                self.store.update(job.id, done=done, total=total)
            except Exception:
                log.warning("job %s: progress not recorded", job.id, exc_info=True)

        try:
            if not self.store.start(job.id):
                return                          # interrupted while it waited: not run
            result = work(progress)
            self.store.update(job.id, state="done", result=result)
        except Exception as exc:
            log.exception("NOC job %s (%s %s) failed", job.id, job.kind, job.target)
            try:
                self.store.update(job.id, state="failed", error=f"{type(exc).__name__}: {exc}"[:500])
            except Exception:
                log.warning("job %s: failure not recorded", job.id, exc_info=True)
        finally:
            with self._lock:
                self._live.discard(job.id)
        if on_done is not None:
            try:
                finished = self.store.get(job.id)
                if finished is not None:
                    on_done(finished)
            except Exception:
                log.exception("NOC job %s: completion hook failed", job.id)

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_every):
            with self._lock:
                live = list(self._live)
            try:
                self.store.heartbeat(live)
            except Exception:
                log.warning("NOC job heartbeat not recorded", exc_info=True)

    def close(self) -> None:
        """Stop taking jobs; jobs not finished here are recorded as interrupted (process exit)."""
        if os.getpid() != self.pid:
            return                              # a forked child: the parent's jobs are not ours
        self._stop.set()
        with self._lock:
            live = list(self._live)
            self._live.clear()
        for job_id in live:
            try:
                self.store.update(job_id, state="interrupted",
                                  error="the web process stopped before this job finished")
            except Exception:
                break                           # Redis is gone too: the heartbeat tells the rest
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break


_RUNNERS: weakref.WeakSet[JobRunner] = weakref.WeakSet()


@atexit.register
def _close_runners() -> None:
    for runner in list(_RUNNERS):
        runner.close()
