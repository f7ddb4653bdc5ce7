"""`citywifi sms-worker`: hold the SMS gateway sessions, send queued jobs, record outcomes and
delivery reports.

Delivery reports that say a number is not a subscriber (sms_gateway.delivery_reports) also refuse that
number for ``number_policy.not_subscriber_ttl`` (portal.phone.phone_policy.remember_not_subscriber), so
the next code request for it is answered without sending.

Threads: the main thread talks to Redis (read / claim / begin / finish, all synchronous);
one background thread runs the asyncio loop that owns the gateway sessions (SMGP/CMPP/SMPP
long connections, window, keep-alive). A batch of up to ``sms.batch`` jobs is sent
concurrently (so the window is used); SIGTERM lets the in-flight batch finish, then the
sessions log out and the process exits 0. See :mod:`portal.phone.sms_queue` for the at-most-once
rule and why.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import redis

from portal.noc.livestats import LiveStats
from portal.phone.phone_policy import remember_not_subscriber
from portal.phone.sms_queue import SmsQueue, StreamEntry
from portal.runtime.heap import freeze_start_up_heap
from portal.runtime.metrics_http import (
    SMS_RULES,
    CounterFamilies,
    MetricsServer,
    ProcessCounters,
    redis_ready,
    registry_of,
)
from portal.runtime.readiness import notify_ready
from portal.runtime.settings import Settings, SmsGatewaySettings, SmsSettings
from portal.state import StateUnavailable, connect
from portal.state.instance import instance_redis_url
from sms_gateway import kinds
from sms_gateway.backend import DeliveryReport, SendResult, SmsBackend, SmsMessage
from sms_gateway.errors import GatewayUncertainError, InvalidNumber, SmsError
from sms_gateway.failover import FailoverBackend
from sms_gateway.messages import DEFAULT_TEMPLATES, MessageCatalog
from sms_gateway.numbers import normalise

__all__ = ["SmsWorker", "add_arguments", "build_backend", "build_backends", "build_catalog", "run"]

log = logging.getLogger("citywifi.sms_worker")
_T = TypeVar("_T")

_REDIS_BACKOFF_MIN = 0.2   # seconds before the first retry after a Redis connection error …
_REDIS_BACKOFF_MAX = 5.0   # … doubling up to this
_REPORT_TRIES = 7          # delivery-report writes: 0.2+0.4+…+3.2+5 s ≈ 11 s of Redis outage


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--consumer", default="", help="consumer name (default: host-pid)")
    parser.add_argument("--redis-url", default=None, help="override redis.url")


def build_catalog(sms: SmsSettings) -> MessageCatalog:
    otp = dict(DEFAULT_TEMPLATES["otp"])
    if sms.template_otp_zh:
        otp["zh"] = sms.template_otp_zh
    if sms.template_otp_en:
        otp["en"] = sms.template_otp_en
    return MessageCatalog(sms.signature, {**DEFAULT_TEMPLATES, "otp": otp})


def build_backend(g: SmsGatewaySettings, settings: Settings) -> SmsBackend:
    """One backend from its settings table, built by its kind's entry in sms_gateway/kinds.py
    (libraries never read settings themselves). The options were validated when the settings
    were loaded (portal/runtime/sms_gateway_settings.py)."""
    options = {f.name: getattr(g, f.name) for f in dataclasses.fields(g)}
    # The file kind's outbox: its own, else [sms] outbox_dir, else under data_dir.
    options["outbox_dir"] = (g.outbox_dir or settings.sms.outbox_dir
                             or str(Path(settings.data_dir) / "sms-outbox"))
    return kinds.build(options)


def build_backends(settings: Settings) -> FailoverBackend:
    gateways = settings.sms.gateways or (SmsGatewaySettings(name=settings.sms.backend,
                                                            kind=settings.sms.backend),)
    return FailoverBackend([(g.priority, build_backend(g, settings)) for g in gateways])


class SmsWorker:
    """The loop of one worker process (usable in-process by tests)."""

    def __init__(self, queue: SmsQueue, backend: SmsBackend, catalog: MessageCatalog, *,
                 consumer: str, batch: int = 16, claim_idle: float = 60.0, block_ms: int = 1000,
                 livestats: LiveStats | None = None, not_subscriber_ttl: int = 0) -> None:
        self.queue = queue
        self.backend = backend
        self.catalog = catalog
        self.consumer = consumer
        self.batch = batch
        self.claim_idle = claim_idle
        self.block_ms = block_ms
        self.stopping = threading.Event()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sms-gateways", daemon=True)
        self.sent = 0
        # /metrics of this process (sent, failed.<code>, report.<outcome>) and the fleet's live
        # figures (codes sent/failed/delivered, SMS spend) for the NOC dashboard.
        self.counts = ProcessCounters()
        self.livestats = livestats
        self.not_subscriber_ttl = not_subscriber_ttl   # 0: reports never refuse numbers
        self._next_claim = 0.0                          # monotonic time of the next XAUTOCLAIM

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def _on_report(self, report: DeliveryReport) -> None:
        # Called in the gateway loop: hand the Redis write to a thread, never block the sessions.
        self.loop.run_in_executor(None, self._record_report, report)

    def _record_report(self, report: DeliveryReport) -> None:
        # Runs in an executor thread, so it may wait: a Redis restart or failover (seconds) must
        # not lose the report. Recording is idempotent, so a retry after a lost reply is harmless.
        delay = _REDIS_BACKOFF_MIN
        for attempt in range(_REPORT_TRIES):
            try:
                job_id = self.queue.record_report(report.gateway, report.message_id, report.stat,
                                                  report.err)
                if report.number_fault and self.not_subscriber_ttl > 0:
                    self._refuse_number(report, job_id)
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError) as exc:
                if attempt == _REPORT_TRIES - 1 or self.stopping.is_set():
                    log.warning("delivery report %s/%s not recorded, Redis unavailable: %s",
                                report.gateway, report.message_id, exc)
                    return
                time.sleep(delay)
                delay = min(delay * 2, _REDIS_BACKOFF_MAX)
            except Exception:
                log.exception("recording delivery report %s/%s failed", report.gateway, report.message_id)
                return
        outcome = "delivered" if report.stat == "DELIVRD" else "undelivered"
        self.counts.inc(f"report.{'not_subscriber' if report.number_fault else outcome}")
        if job_id is None:         # parked: counted when the send is recorded (finish applies it)
            return
        try:
            place = self.queue.place(job_id)
        except Exception:          # figures only: the report itself is recorded
            place = ("", "", "")
        self._live(outcome, 1, place)

    def _refuse_number(self, report: DeliveryReport, job_id: str | None) -> None:
        """Remember "not a subscriber" for the number the report is about. The job's own number
        is the authority (the report matched our message id); the report's address, normalised
        (it may carry 86), only serves when the report came before the send was recorded."""
        job = self.queue.job(job_id) if job_id else None
        try:
            phone = normalise(job.phone if job is not None else report.phone)
        except InvalidNumber:
            log.warning("report %s/%s says %s but names no usable number", report.gateway,
                        report.message_id, report.number_fault)
            return
        remember_not_subscriber(self.queue.redis, phone, report.number_fault, self.not_subscriber_ttl)
        log.info("%s****%s refused for %d s: %s reported %s (%s/%s)", phone[:3], phone[-4:],
                 self.not_subscriber_ttl, report.gateway, report.number_fault, report.stat, report.err)

    def run(self) -> None:
        self._thread.start()
        self.backend.on_report(self._on_report)
        self._call(self.backend.start())
        self.queue.ensure_group()
        log.info("sms-worker %s ready", self.consumer)
        notify_ready(f"sms-worker {self.consumer} reading the queue")
        backoff = _REDIS_BACKOFF_MIN
        try:
            while not self.stopping.is_set():
                try:
                    entries = self._claim_due()
                    if not entries:
                        entries = self.queue.read(self.consumer, self.batch, self.block_ms)
                    if entries:
                        self.process(entries)
                except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError) as exc:
                    # Redis restarting or failing over: wait and carry on. Jobs this worker had
                    # read stay pending in the group and are re-claimed after claim_idle; one
                    # caught between "sending" and its outcome is marked uncertain, never resent.
                    log.warning("Redis unavailable (%s); retrying in %.1f s", exc, backoff)
                    self.stopping.wait(backoff)
                    backoff = min(backoff * 2, _REDIS_BACKOFF_MAX)
                    continue
                backoff = _REDIS_BACKOFF_MIN
        finally:
            self._call(self.backend.close())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                # Close it here: an unclosed loop is closed by the garbage collector at
                # interpreter exit, after its self-pipe is gone, and that prints a traceback.
                self.loop.close()

    def _claim_due(self) -> list[StreamEntry]:
        """A dead worker's jobs (XAUTOCLAIM), looked for a few times per ``claim_idle`` rather
        than before every read: under load that was one more Redis round trip (and a scan of the
        group's pending list) per batch of one or two jobs. A job is re-claimed between
        ``claim_idle`` and 1.25 × ``claim_idle`` after its worker read it."""
        now = time.monotonic()
        if now < self._next_claim:
            return []
        entries = self.queue.claim_stale(self.consumer, self.claim_idle, self.batch)
        if not entries:         # more may be waiting when some were found: look again next turn
            self._next_claim = now + self.claim_idle / 4
        return entries

    def process(self, entries: list[StreamEntry]) -> None:
        """Decide, send concurrently, record. Never sends a job whose state is not ``queued``."""
        to_send: list[tuple[StreamEntry, SmsMessage]] = []
        places: dict[str, tuple[str, str, str]] = {}
        for entry in entries:
            if not entry.job_id:
                self.queue.ack(entry.entry_id)
                continue
            found, job = self.queue.begin_send_job(entry.job_id, self.consumer)
            if found == "sending":
                # A worker died between "sending" and recording: it may have sent. Never twice.
                err = GatewayUncertainError("worker crashed during send", code="sms_uncertain")
                self.queue.finish(entry.entry_id, entry.job_id, "failed", error_code=err.code,
                                  message_zh=err.message_zh, message_en=err.message_en)
                self.counts.inc(f"failed.{err.code}")
                lost = self.queue.job(entry.job_id)
                self._live("failed", 1, lost.place if lost is not None else None)
                log.warning("job %s was in flight in a crashed worker: marked uncertain", entry.job_id)
                continue
            if found != "queued":  # already done (or expired): just ack
                self.queue.ack(entry.entry_id)
                continue
            try:
                assert job is not None
                text = self.catalog.render(job.template, job.params, job.lang)
            except (SmsError, AssertionError) as exc:
                code = getattr(exc, "code", "sms_error")
                self.queue.finish(entry.entry_id, entry.job_id, "failed", error_code=code,
                                  message_zh=getattr(exc, "message_zh", ""),
                                  message_en=getattr(exc, "message_en", ""))
                continue
            to_send.append((entry, SmsMessage(job.phone, text, entry.job_id, job.template,
                                              tuple(sorted(job.params.items())))))
            places[entry.job_id] = job.place
        if not to_send:
            return
        results = self._call(self._send_all([m for _, m in to_send]))
        sent = sum(1 for r in results if isinstance(r, SendResult))
        self.counts.inc("sent", sent)
        # Live and report figures: one write per outcome and place (the login's venue/AC/SSID).
        outcomes = Counter(("sent" if isinstance(r, SendResult) else "failed", places[e.job_id])
                           for (e, _), r in zip(to_send, results, strict=True))
        for (outcome, place), n in sorted(outcomes.items()):
            self._live(outcome, n, place)
        for (entry, _), result in zip(to_send, results, strict=True):
            if isinstance(result, SendResult):
                self.sent += 1
                early = self.queue.finish(entry.entry_id, entry.job_id, "sent", gateway=result.gateway,
                                          message_id=result.message_id, place=places[entry.job_id])
                if early:          # its delivery report came first and was parked
                    self._live(early, 1, places[entry.job_id])
            else:
                failure = result if isinstance(result, SmsError) else SmsError(str(result))
                log.warning("job %s failed: %s (%s)", entry.job_id, failure, failure.code)
                self.counts.inc(f"failed.{failure.code}")
                self.queue.finish(entry.entry_id, entry.job_id, "failed", error_code=failure.code,
                                  message_zh=failure.message_zh, message_en=failure.message_en,
                                  place=places[entry.job_id])

    def _live(self, outcome: str, n: int, place: tuple[str, str, str] | None = None) -> None:
        if self.livestats is None or n <= 0:
            return
        try:
            self.livestats.record_codes(outcome, n, place)
        except Exception as exc:   # figures only: never fail a send over them
            log.warning("live SMS figures not written: %s", exc)

    async def _send_all(self, messages: list[SmsMessage]) -> list[SendResult | BaseException]:
        return await asyncio.gather(*(self.backend.send(m) for m in messages), return_exceptions=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        # --redis-url, redis.url, else the running `citywifi up` of data_dir (NoInstance otherwise)
        client = connect(settings.redis, instance_redis_url(settings, args.redis_url))
    except StateUnavailable as exc:
        log.error("%s", exc)
        return 1
    try:
        catalog = build_catalog(settings.sms)
        backend = build_backends(settings)
    except SmsError as exc:
        log.error("bad SMS settings: %s", exc)
        return 2
    worker = SmsWorker(SmsQueue(client, ttl=settings.sms.job_ttl), backend, catalog,
                       consumer=args.consumer or f"{socket.gethostname()}-{os.getpid()}",
                       batch=settings.sms.batch, claim_idle=settings.sms.claim_idle,
                       livestats=LiveStats.from_settings(client, settings),
                       not_subscriber_ttl=settings.number_policy.not_subscriber_ttl)
    freeze_start_up_heap("sms-worker")     # a full collection held every SMS (portal.runtime.heap)
    metrics = None
    if settings.sms.metrics_port:
        try:
            metrics = MetricsServer(registry_of(CounterFamilies("sms", SMS_RULES, worker.counts.snapshot)),
                                    settings.metrics.host, settings.sms.metrics_port,
                                    ready=redis_ready(client, "sms-worker")).start()
        except OSError as exc:
            log.error("metrics port %d: %s", settings.sms.metrics_port, exc)
            return 1

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the in-flight batch", signum)
        worker.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        worker.run()
    finally:
        if metrics is not None:
            metrics.close()
    log.info("sms-worker stopped after %d messages", worker.sent)
    return 0
