"""The accounting processor's mid-session quota check: an Interim-Update that shows a quota ran
out disconnects the session (Disconnect-Request through ``radius.enforcement.Enforcer``), at most
once per half interval, on a small thread pool so the batch's answers do not wait for it.

A mixin of ``radius.accounting.AccountingProcessor`` (kept apart for the module size limit).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import TYPE_CHECKING, Any

from portal.aaa.grants import check_quota
from portal.aaa.sessions import OnlineSession, decode_record

if TYPE_CHECKING:
    from portal.aaa.acs import AcRecord
    from portal.aaa.plans import PlanStore
    from portal.aaa.usage import UsageBook
    from radius.enforcement import Enforcer

__all__ = ["QuotaChecks"]

log = logging.getLogger(__name__)

_USAGE_NAMES = (b"d", b"dt", b"dv", b"tt", b"tv", b"f")


class QuotaChecks:
    """``check_quota`` after an Interim-Update was stored, and the disconnects it fires."""

    plans: PlanStore
    usage: UsageBook
    enforcer: Enforcer | None
    enforce_async: bool
    _lock: threading.Lock
    _kicked: dict[str, float]
    _pool: concurrent.futures.ThreadPoolExecutor | None
    _futures: list[concurrent.futures.Future[Any]]

    def _check_quota(self, ac: AcRecord, phone: str, field: str, session: OnlineSession | None,
                     reply: list[Any], now: float) -> None:
        """Interim-Update: if a quota ran out mid-session, disconnect (within one interval).
        ``reply`` is the accounting script's: usage at [2]; without ``session``, the record at
        [1] and its plan at [5]: the record is decoded only when a quota did run out."""
        plan_name = session.plan if session is not None else reply[5].decode()
        plan = self.plans.plan_named(plan_name) if plan_name else None
        if plan is None:
            return
        usage = self.usage.from_raw(
            {k: v for k, v in zip(_USAGE_NAMES, reply[2], strict=True) if v is not None}, now
        )
        reason = check_quota(plan, usage, now)
        if reason is None:
            return
        if session is None:
            session = decode_record(phone, field, reply[1])
            if session is None:
                return
        with self._lock:
            last = self._kicked.get(session.field)
            if last is not None and now - last < session.interim / 2:
                return  # a retransmitted Interim must not fire a second DM right away
            self._kicked[session.field] = now
            if len(self._kicked) > 10000:
                self._kicked.clear()
        log.info("quota %s exhausted for %s on %s; disconnecting", reason, session.phone, ac.name)
        self._enforce(ac, session, reason)

    def _enforce(self, ac: AcRecord, session: OnlineSession, reason: str) -> None:
        assert self.enforcer is not None
        enforcer = self.enforcer
        if not self.enforce_async:
            enforcer.disconnect(session, reason, ac=ac)
            return
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(4, "acct-enforce")
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(self._pool.submit(enforcer.disconnect, session, reason, ac=ac))

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for queued disconnects (tests, shutdown)."""
        with self._lock:
            futures = list(self._futures)
        concurrent.futures.wait(futures, timeout=timeout)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
