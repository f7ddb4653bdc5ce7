"""The roll-up job: which days to roll up, when, one node at a time.

A local day is rolled up twice: ``reports.delay_minutes`` after it ended (so yesterday shows
early in the morning; SMS and refusal counters are still there), and again once
``reports.session_span_hours`` have passed, when the sessions that were still open at midnight
have closed and written their logout records — that second roll-up is final. Each roll-up
rewrites the whole day from the records (``rollup.rollup_day``), so doing a day again gives the
same figures and a crash half-way loses nothing: the day is simply done again on the next run.

The first run back-fills every day from the oldest record kept (archive files, then Redis;
``reports.retention_days`` at most), oldest first so first-time phones are found on their real
first day; ``max_days_per_run`` bounds one run so a long back-fill does not starve the loop.
Stored days older than ``reports.retention_days`` are deleted.

Several nodes may run the job (``citywifi archive schedule`` on each): a Redis lock
``<host>:<pid>:<nonce>`` with a TTL renewed after each day lets one of them work at a time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from portal.errors import CitywifiError
from portal.legal.log_archive import archive_directory, archive_timezone, as_text, day_files, day_of_ms, id_ms
from portal.legal.logexport import log_exporter
from portal.reports.rollup import add_docs, parse_entries, rollup_day
from portal.reports.store import ReportStore
from portal.runtime.settings import Settings
from portal.state import keys
from portal.state import keys_reports as rk

__all__ = ["ReportBusy", "ReportJob", "RunReport", "report_job", "report_store", "run_periodically"]

log = logging.getLogger(__name__)

LOCK_TTL_MS = 600_000
READ_BEFORE_MS = 60_000      # a login record may be appended a moment after its ``at``

_DEL_IF = ("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
           "end return 0")
_RENEW_IF = ("if redis.call('GET', KEYS[1]) == ARGV[1] then "
             "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0")


class ReportBusy(CitywifiError):
    """Another node's roll-up holds the lock."""

    code = "reports_busy"


@dataclass(frozen=True, slots=True)
class RunReport:
    now: float
    days: tuple[tuple[dt.date, bool], ...] = ()       # (day, final)
    deleted: int = 0
    seconds: float = 0.0
    more: bool = False                                 # days left for the next run
    logins: dict[str, int] = field(default_factory=dict)


class ReportJob:
    def __init__(
        self, store: ReportStore, *, earliest: Callable[[], dt.date | None],
        span_hours: int = 24, delay_minutes: int = 15, retention_days: int = 800,
        max_days_per_run: int = 60, clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.redis = store.redis
        self.earliest = earliest
        self.span_ms = span_hours * 3_600_000
        self.delay_ms = delay_minutes * 60_000
        self.retention_days = retention_days
        self.max_days_per_run = max_days_per_run
        self.clock = clock
        self._lock_value = ""

    def due(self, now: float) -> list[tuple[dt.date, bool]]:
        """Days to roll up at ``now``, oldest first, each with whether that roll-up is final."""
        today = self.store.today(now)
        oldest = today - dt.timedelta(days=self.retention_days)
        first = self.earliest()
        if first is None:
            return []
        done = self.store.done()
        out = []
        day = max(first, oldest)
        now_ms = now * 1000
        while day < today:
            _, hi = self.store.bounds(day)
            if now_ms >= hi + self.delay_ms:
                final = now_ms >= hi + self.span_ms
                state = done.get(day.isoformat())
                if state is None or (final and not state[1]):
                    out.append((day, final))
            day += dt.timedelta(days=1)
        return out

    def run(self, now: float | None = None) -> RunReport:
        now = self.clock() if now is None else now
        began = time.monotonic()
        self._acquire()
        try:
            due = self.due(now)
            todo = due[: self.max_days_per_run]
            logins: dict[str, int] = {}
            try:
                for day, final in todo:
                    logins[day.isoformat()] = self.roll_day(day, now, final, refresh=False)
                    self._renew()
            finally:
                self.store.refresh_stale_months()   # also a dead run's, left marked stale
            oldest = (self.store.today(now) - dt.timedelta(days=self.retention_days)).isoformat()
            deleted = self.store.forget(d for d in self.store.done() if d < oldest)
            report = RunReport(now, tuple(todo), deleted, time.monotonic() - began,
                               len(due) > len(todo), logins)
            self.redis.hset(rk.report_last_run(), mapping={
                "at": f"{now:.3f}", "days": len(todo), "deleted": deleted,
                "seconds": f"{report.seconds:.1f}", "error": ""})
            if todo:
                log.info("report roll-up: %d day(s) in %.1f s (%s … %s)", len(todo), report.seconds,
                         todo[0][0], todo[-1][0])
            return report
        except Exception as exc:
            with contextlib.suppress(Exception):      # Redis itself may be what failed
                self.redis.hset(rk.report_last_run(), mapping={"at": f"{now:.3f}",
                                                               "error": str(exc)[:500]})
            raise
        finally:
            self._release()

    def roll_day(self, day: dt.date, now: float, final: bool, *, refresh: bool = True) -> int:
        """Roll up one day from its records and store it; returns its number of logins.
        ``refresh=False`` leaves its month's summary to ``store.refresh_stale_months``."""
        lo, hi = self.store.bounds(day)
        logins, sessions = self.store.records(lo - READ_BEFORE_MS, hi + self.span_ms,
                                              (lo - READ_BEFORE_MS, hi))
        if any(not (s.venue and s.ssid) and s.start_ms < lo and s.stop_ms > lo for s in sessions):
            # Logout records written before they carried venue and SSID: find the logins of
            # sessions that began before the day (only the back-fill of old days needs this).
            earlier, _ = parse_entries(self.store.entries(lo - self.span_ms, lo - READ_BEFORE_MS))
            logins = earlier + logins
        phones = {x.phone for x in logins if lo <= x.at_ms < hi}
        first_seen = self.store.update_first_seen(phones, day)
        docs = rollup_day(day, lo, hi, logins, sessions, first_seen)
        sms, ads = self.store.counters(day, now), self.store.ad_counters(day, now)
        previous = self.store.stored_counters(day) if sms is None or ads is None else None
        self._merge(docs, sms, previous, ("sms_", "refused:"))
        self._merge(docs, ads, previous, ("ad:",))
        self.store.write_day(day, docs, now, final, refresh=refresh)
        return docs.get(("t", ""), {}).get("logins", 0)

    @staticmethod
    def _merge(docs: dict[tuple[str, str], dict[str, int]],
               counters: dict[tuple[str, str], dict[str, int]] | None,
               previous: dict[tuple[str, str], dict[str, int]] | None,
               prefixes: tuple[str, ...]) -> None:
        if counters is None:          # gone: keep what the earlier roll-up took from them
            counters = {scope: {k: v for k, v in doc.items() if k.startswith(prefixes)}
                        for scope, doc in (previous or {}).items()}
        for scope, extra in counters.items():
            if extra:
                docs[scope] = add_docs([docs.get(scope, {}), extra])

    # --- the lock ---------------------------------------------------------------------------------

    def _acquire(self) -> None:
        me = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        if not self.redis.set(rk.report_lock(), me, nx=True, px=LOCK_TTL_MS):
            holder = self.redis.get(rk.report_lock())
            raise ReportBusy(f"another report roll-up holds the lock ({holder!r})")
        self._lock_value = me

    def _renew(self) -> None:
        if not self.redis.eval(_RENEW_IF, 1, rk.report_lock(), self._lock_value, LOCK_TTL_MS):
            raise ReportBusy("lost the report lock (a day took longer than its TTL?)")

    def _release(self) -> None:
        if self._lock_value:
            try:
                self.redis.eval(_DEL_IF, 1, rk.report_lock(), self._lock_value)
            finally:
                self._lock_value = ""


def run_periodically(job: ReportJob, *, stop: threading.Event, interval: float = 600.0) -> None:
    """Run ``job`` now, then every ``interval`` seconds (sooner while a back-fill has days
    left) until ``stop`` is set; failures are logged and retried at the next interval."""
    while not stop.is_set():
        wait = interval
        try:
            if job.run().more:
                wait = 1.0
        except ReportBusy as exc:
            log.info("report roll-up skipped: %s", exc)
        except Exception:
            log.exception("report roll-up failed; retrying in %.0f s", interval)
        stop.wait(wait)


def report_store(redis: Any, settings: Settings) -> ReportStore:
    """The store over this deployment's real-name records: sealed archive files, then Redis."""
    exporter = log_exporter(redis, settings, page=5000)
    return ReportStore(redis, archive_timezone(settings),
                       lambda lo, hi: exporter.entries("realname", lo, hi), fast=True)


def report_job(redis: Any, settings: Settings, **kwargs: Any) -> ReportJob:
    r = settings.reports
    tz = ZoneInfo(archive_timezone(settings))
    directory = archive_directory(settings)

    def earliest() -> dt.date | None:
        files = day_files(directory, "realname")
        first = redis.xrange(keys.real_name_log(), count=1)
        days = [files[0][0]] if files else []
        if first:
            days.append(day_of_ms(id_ms(as_text(first[0][0])), tz))
        return min(days) if days else None

    kwargs.setdefault("span_hours", r.session_span_hours)
    kwargs.setdefault("delay_minutes", r.delay_minutes)
    kwargs.setdefault("retention_days", r.retention_days)
    kwargs.setdefault("max_days_per_run", r.max_days_per_run)
    return ReportJob(report_store(redis, settings), earliest=earliest, **kwargs)
