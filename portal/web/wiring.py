"""The web process's services: one typed set, wired in one function.

:func:`build_services` builds every collaborator the blueprints use from the settings and one
Redis client; :func:`portal.web.create_app` takes the result (or the settings, and wires them
itself) and keeps it in ``app.extensions["citywifi"]``. A view reads it through
:func:`services` and a typed attribute (``services().pages``), never a string key of its own.

The set is built once per process: ``citywifi web`` builds the app inside each gunicorn worker,
after the fork (``portal/commands/web.py``), so Redis pools, sockets and caches are the worker's
own. What starts threads, or must wait for a file another process makes, is a :class:`PerProcess`
field: built on first use, and built again in a process that was forked after that.

Tests build the set they need with the pieces they replace passed to :func:`build_services`
(``journey=``), or ``dataclasses.replace`` for a leaf that nothing else is built from.
Adding a service: a field here, one line in :func:`build_services`, and the views read
``services().<field>`` (docs/architecture.md, "Wiring the web services").
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from flask import Flask, Request, current_app, request

if TYPE_CHECKING:
    from ad_pages import PageRenderer
    from portal.aaa.gateway_sessions import GatewaySessions
    from portal.aaa.plans import PlanStore
    from portal.aaa.usage import UsageBook
    from portal.admin.apitokens import ApiTokenStore
    from portal.legal.logexport import LogExporter
    from portal.noc.jobs import JobRunner, JobStore
    from portal.noc.kick import NocActions
    from portal.noc.livestats import LiveStats
    from portal.noc.phone_profile import UserDirectory
    from portal.noc.session_search import SessionQuery
    from portal.phone.device_guard import DeviceGuard
    from portal.phone.login import PhoneJourney
    from portal.phone.phone_memory import RedirectMemory
    from portal.reports.store import ReportStore
    from portal.runtime.settings import Settings
    from portal.venues.content_quotas import WriteRate
    from portal.venues.pages import PageStore
    from portal.venues.render_breaker import RenderBreaker
    from portal.venues.venue_assets import AssetStore
    from portal.web.console import ConsoleServices
    from portal.web.ops import WebOps
    from radius.enforcement import Enforcer

__all__ = ["EXTENSION", "PerProcess", "Services", "build_services", "services", "this_request"]

EXTENSION = "citywifi"          # the one app.extensions key the web layer uses

T = TypeVar("T")


class PerProcess(Generic[T]):
    """A value built on first use in each process: threads do not survive ``fork``, and some
    inputs (the archive key file) may appear after the app was built."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None or self._pid != os.getpid():
                self._value = self._build()
                self._pid = os.getpid()
            return self._value


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the web blueprints use, built by :func:`build_services`."""

    settings: Settings
    redis: Any
    # -- phone pages --
    journey: PhoneJourney               # the login use cases (OTP, grants, AC logins)
    device_guard: DeviceGuard           # device-binding and proof cookies (signed by the journey)
    redirect_memory: RedirectMemory     # the AC's redirect, remembered across the login
    gateway_sessions: GatewaySessions   # sessions that gateways (openNDS) report to /api/gateway
    # -- venue pages and assets --
    renderer: PageRenderer
    pages: PageStore                    # published venue pages, cached per process
    assets: AssetStore                  # venue images, CSS, fonts
    breaker: RenderBreaker              # venue pages that blew their render budget
    content_writes: WriteRate           # saves of venue content per account ([content] writes_per_*)
    # -- consoles and API --
    console: ConsoleServices            # accounts, sign-in sessions, audit
    api_tokens: ApiTokenStore
    livestats: LiveStats                # fleet figures: NOC dashboard and /metrics
    ops: WebOps                         # this process's HTTP counters, readiness, scrape registry
    plans: PlanStore                    # uncached: the console reads what it just wrote
    usage: UsageBook
    session_query: SessionQuery         # /noc/sessions search
    enforcer: Enforcer                  # DM/CoA with the Portal-logout fallback
    noc_actions: NocActions             # kicks and plan changes
    users: UserDirectory                # a phone's plan, usage and devices
    job_store: JobStore
    job_runner: PerProcess[JobRunner]   # threads: one runner per process
    log_exporter: PerProcess[LogExporter]   # reads the archive key when first used
    reports: PerProcess[ReportStore]        # over the sealed archive: reads its key when first used


def build_services(settings: Settings, redis: Any = None, *,
                   journey: PhoneJourney | None = None) -> Services:
    """Wire the web services from ``settings`` and ``redis`` (None: connect with
    ``settings.redis``). ``journey``: a ready journey (tests share the stack's, with its clock);
    everything built from it (device guard, redirect memory) uses that one."""
    from ad_pages import PageRenderer
    from portal.aaa.gateway_sessions import GatewaySessions
    from portal.aaa.plans import PlanStore
    from portal.aaa.usage import UsageBook
    from portal.admin.apitokens import ApiTokenStore
    from portal.legal.logexport import log_exporter
    from portal.noc.jobs import JobRunner, JobStore
    from portal.noc.kick import NocActions
    from portal.noc.livestats import LiveStats
    from portal.noc.phone_profile import UserDirectory
    from portal.noc.session_search import SessionQuery
    from portal.phone.device_guard import DeviceGuard
    from portal.phone.login import build_journey
    from portal.phone.phone_memory import RedirectMemory
    from portal.reports.job import report_store
    from portal.state import redis_from_settings
    from portal.venues.content_quotas import WriteRate
    from portal.venues.pages import PageStore
    from portal.venues.render_breaker import RenderBreaker
    from portal.venues.venue_assets import AssetStore
    from portal.web.console import ConsoleServices
    from portal.web.ops import WebOps
    from radius.enforcement import Enforcer

    if redis is None:
        redis = redis_from_settings(settings.redis)
    if journey is None:
        journey = build_journey(settings, redis)
    web, otp, quota, console = settings.web, settings.otp, settings.quota, settings.console
    renderer = PageRenderer()
    livestats = LiveStats.from_settings(redis, settings)
    plans = PlanStore(redis, default_plan=quota.default_plan, cache_ttl=0.0)
    usage = UsageBook(redis, quota.timezone)
    grace = settings.radius.reaper_grace
    enforcer = Enforcer.from_settings(redis, settings)
    job_store = JobStore(redis, ttl=console.job_ttl)
    return Services(
        settings=settings,
        redis=redis,
        journey=journey,
        device_guard=DeviceGuard(journey.signer, binding_ttl=min(86400, max(60, web.device_binding_ttl)),
                                 proof_ttl=otp.lifetime + otp.record_grace),
        redirect_memory=RedirectMemory(redis, journey.signer, ttl=web.context_ttl),
        gateway_sessions=GatewaySessions(redis, grace=grace, timezone=quota.timezone,
                                         tombstone_ttl=quota.tombstone_ttl),
        renderer=renderer,
        pages=PageStore(redis, renderer=renderer, cache_seconds=settings.pages.cache_seconds,
                        max_versions=settings.pages.max_versions, content=settings.content),
        assets=AssetStore(redis, settings.pages, content=settings.content),
        breaker=RenderBreaker(redis),
        content_writes=WriteRate(redis, settings.content),
        console=ConsoleServices(settings, redis),
        api_tokens=ApiTokenStore(redis),
        livestats=livestats,
        ops=WebOps(redis, livestats),
        plans=plans,
        usage=usage,
        # The journey's PlanStore: cached plan_cache_ttl seconds, as the grant decision reads them.
        session_query=SessionQuery(redis, plans=journey.plans, usage=usage, grace=grace),
        enforcer=enforcer,
        noc_actions=NocActions(
            redis, enforcer, plans=plans, usage=usage, default_interim=quota.default_interim,
            grace=grace,
            # RADIUS processes may grant from a cached plan this long after a change.
            settle=quota.plan_cache_ttl + 1.0 if quota.plan_cache_ttl > 0 else 0.0),
        users=UserDirectory(redis, plans=plans, usage=usage, grace=grace),
        job_store=job_store,
        job_runner=PerProcess(lambda: JobRunner(job_store, workers=console.job_workers,
                                                queue_size=console.job_queue)),
        log_exporter=PerProcess(lambda: log_exporter(redis, settings)),
        reports=PerProcess(lambda: report_store(redis, settings)),
    )


def services(app: Flask | None = None) -> Services:
    """The services of ``app`` (default: the app handling this request)."""
    found = (app or current_app._get_current_object()).extensions[EXTENSION]  # type: ignore[attr-defined]
    assert isinstance(found, Services)
    return found


def this_request() -> Request:
    """The request being handled itself, not Flask's proxy to it. Each attribute read through
    the proxy (``request.path``) first fails on the proxy (CPython builds an AttributeError
    message) and is then forwarded: ≈ 140 such failures per phone login. Hot paths that read
    several attributes take the request once (the same object, so the same answers)."""
    found: Request = request._get_current_object()  # type: ignore[attr-defined]
    return found
