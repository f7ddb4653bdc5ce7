"""``citywifi radius``: serve RADIUS authentication and accounting.

    citywifi radius [--workers N] [--host H] [--auth-port P] [--acct-port P]

Needs a Redis URL (``redis.url`` / ``CITYWIFI_REDIS_URL`` or Sentinel); ``citywifi up`` passes
the embedded server's. ACs come from the Redis AC registry (seeded from ``[[acs]]``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from portal.aaa.acs import AcRegistry
from portal.aaa.authorizer import Authorizer
from portal.aaa.grants import ClassSigner
from portal.commands import texts
from portal.noc.livestats import LiveStats, RejectFlusher
from portal.runtime.heap import freeze_start_up_heap
from portal.runtime.keyfiles import shared_key
from portal.runtime.metrics_http import (
    RADIUS_RULES,
    CounterFamilies,
    MetricsServer,
    SnapshotDir,
    WriteProbe,
    registry_of,
    snapshot_run_dir,
)
from portal.runtime.seeding import seed_from_settings
from portal.runtime.settings import Settings
from portal.state import StateUnavailable, redis_from_settings
from portal.state.instance import NoInstance, instance_redis_url
from portal.venues.venue_store import FALLBACK, VenueResolver, VenueStore
from radius.accounting import AccountingProcessor
from radius.auth import AuthPolicy
from radius.called_station import parse_ssid
from radius.dictionary import known_attributes
from radius.enforcement import Enforcer
from radius.metrics import Metrics
from radius.reaper import run_reaper
from radius.resp import RespClient, supports_url
from radius.server import AcCache, RadiusServer, ServerOptions
from radius.workers import Listen, PortInUse, run_in_process, run_workers

__all__ = ["HealthCheck", "add_arguments", "build_server", "class_signer", "maintain", "run"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=None, help="worker processes (radius.workers)")
    parser.add_argument("--host", default=None, help="listen address (radius.host)")
    parser.add_argument("--auth-port", type=int, default=None, help="authentication port (radius.auth_port)")
    parser.add_argument("--acct-port", type=int, default=None, help="accounting port (radius.acct_port)")
    parser.add_argument("--redis-url", default=None, help="override redis.url (used by `citywifi up`)")


class HealthCheck(WriteProbe):
    """Can this server serve? Status-Server is answered (and ``/readyz`` says ready) only if
    Redis takes a write: the probe every process's readiness shares (portal.runtime.metrics_http)."""

    def __init__(self, redis: Any, interval: float = 1.0, service: str = "radius") -> None:
        super().__init__(redis, service, interval)


CLASS_KEY_WAIT = 60.0     # seconds a worker waits for Redis to learn the shared Class key


def class_signer(settings: Settings, redis: Any, wait: float = CLASS_KEY_WAIT) -> ClassSigner:
    """The signer of the RADIUS Class: ``radius.class_key``, else the key every node shares
    through Redis (``portal.runtime.keyfiles.shared_key``: made once, from ``data_dir/radius-class.key``
    if this node has one). Every RADIUS node must use the same key: an AC's accounting may reach
    another node than its Access-Request did. Waits up to ``wait`` seconds for Redis (nothing
    is served without it anyway), then raises."""
    deadline = time.monotonic() + wait
    delay = 0.2
    while True:
        try:
            return ClassSigner(shared_key(redis, settings.data_dir, "radius-class.key",
                                          settings.radius.class_key))
        except (RedisError, OSError) as exc:
            if time.monotonic() + delay > deadline:
                raise StateUnavailable(f"cannot read the shared RADIUS Class key: {exc}") from exc
            log.warning("waiting for Redis to read the shared RADIUS Class key: %s", exc)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def refusal_places(metrics: Metrics, venue_of: Callable[[str, str | None], str | None],
                   ) -> Counter[tuple[str, tuple[str, str, str]]]:
    """The worker's refusals since the last call by (reason, (venue, AC, SSID)): the SSID from
    the Called-Station-Id, the venue as the auth policy resolves it (once a second, off the
    packet path)."""
    out: Counter[tuple[str, tuple[str, str, str]]] = Counter()
    for (reason, ac, called), n in metrics.drain_refusals().items():
        ssid = parse_ssid(called) if called else None
        out[(reason, (venue_of(ac, ssid) or "", ac, ssid or ""))] += n
    return out


def build_server(
    settings: Settings, redis_url: str | None = None, *, reaper: bool = True,
    metrics_dir: str | None = None,
) -> RadiusServer:
    """A RadiusServer with the full policy, for one worker (call after fork).

    With ``reaper`` the server also runs the maintenance (:func:`maintain`) in a daemon thread:
    only in the single-process mode (``--workers 1``); with more workers the maintenance runs
    in its own child process, so the index repair never takes a worker's interpreter.
    """
    cfg = settings.radius
    client = redis_from_settings(settings.redis, redis_url)
    # Every Access-Accept's Class is signed for its AC; accounting books a session only under a
    # Class that verifies for the AC sending it (portal.aaa.grants.ClassSigner).
    signer = class_signer(settings, client)
    authorizer = Authorizer(client, settings.quota, reaper_grace=cfg.reaper_grace,
                            class_signer=signer)
    venues = VenueResolver(VenueStore(client, cache_ttl=settings.quota.plan_cache_ttl))

    def venue_of(ac_name: str, ssid: str | None) -> str | None:
        venue = venues.venue_id(ac_name, ssid)
        return None if venue == FALLBACK.id else venue

    url = redis_url if redis_url is not None else settings.redis.url
    fast = None
    if url and supports_url(url) and not settings.redis.cluster and not settings.redis.sentinels:
        fast = RespClient(url, timeout=settings.redis.socket_timeout)
    policy = AuthPolicy(client, authorizer, mac_auth_check_password=cfg.mac_auth_check_password,
                        venue_of=venue_of, fast=fast, token_replay_window=cfg.token_replay_window)
    # The accounting processor is itself an AcctHandler: it reads the lean wire.Request directly (no
    # pyrad decode on the hot path) and returns only once the record is durable in Redis.
    # The enforcer sends RFC 5176 Disconnect (or Portal REQ_LOGOUT) when an Interim-Update shows
    # a quota used up, so an exhausted user is cut within one interim interval.
    enforcer = Enforcer.from_settings(client, settings)
    metrics = Metrics()    # shared: accounting counts refused records per AC here
    acct = AccountingProcessor(client, enforcer, settings=settings.quota, grace=cfg.reaper_grace,
                               venues=venues, class_signer=signer, metrics=metrics,
                               fast=(RespClient(url, timeout=settings.redis.socket_timeout)
                                     if fast is not None else None))   # its own connection
    options = ServerOptions(
        drop_unknown_attributes=cfg.drop_unknown_attributes,
        dedup_ttl=cfg.dedup_ttl,
        dedup_max_entries=cfg.dedup_max_entries,
        ac_cache_ttl=cfg.ac_cache_ttl,
        batch_max=cfg.batch_max,
        batch_wait=cfg.batch_wait,
    )
    acs = AcCache(AcRegistry(client), cfg.ac_cache_ttl,
                  require_message_authenticator=str(cfg.require_message_authenticator),
                  limit_proxy_state=str(cfg.limit_proxy_state))
    known = known_attributes(cfg.dictionary_dir)
    log.debug("RADIUS dictionary: %s (%d standard attributes, %d vendors)", known.source,
              len(known.standard), len(known.vendors))
    server = RadiusServer(policy, acct, acs, known, options=options, metrics=metrics,
                          health=HealthCheck(client))
    enforcer.drops = server.drops   # DM/CoA replies dropped: in this process's /metrics
    policy.metrics = server.metrics
    server.on_close(acct.close)
    # Once a second, off the hot path: reject counts → live figures (NOC dashboard), and this
    # worker's counters → the run's snapshot directory the parent's /metrics sums.
    server.on_tick(RejectFlusher(LiveStats.from_settings(client, settings), server.metrics.snapshot,
                                 places=lambda: refusal_places(server.metrics, venue_of)).tick)
    if metrics_dir is not None:
        snapshots = SnapshotDir(metrics_dir)
        server.on_tick(lambda: snapshots.write(server.metrics.snapshot()))
    if reaper:
        stop = threading.Event()
        thread = threading.Thread(target=maintain, name="reaper", daemon=True,
                                  args=(settings, redis_url, stop))
        thread.start()
        server.on_close(stop.set)
    return server


def maintain(settings: Settings, redis_url: str | None, stop: threading.Event) -> None:
    """The RADIUS maintenance until ``stop`` is set: close silent sessions every
    ``quota.reaper_interval`` and, one process of the fleet per interval, repair the session
    indexes (radius/reaper.py) and poll the UniFi controllers' guest usage
    (``quota.controller_poll_interval``, portal/aaa/controller_usage.py). Every node runs it: sweeps
    are idempotent Lua closes and the repair and the poll take a Redis lock, so no single process
    has to stay up for any of them to happen."""
    client = redis_from_settings(settings.redis, redis_url)
    run_reaper(client, interval=settings.quota.reaper_interval, grace=settings.radius.reaper_grace,
               tombstone_ttl=settings.quota.tombstone_ttl, stop=stop, timezone=settings.quota.timezone,
               poll_interval=settings.quota.controller_poll_interval)


def run(args: argparse.Namespace, settings: Settings) -> int:
    cfg = settings.radius
    listen = Listen(
        args.host or cfg.host,
        args.auth_port if args.auth_port is not None else cfg.auth_port,
        args.acct_port if args.acct_port is not None else cfg.acct_port,
    )
    workers = args.workers if args.workers is not None else cfg.workers
    try:   # --redis-url, redis.url, else the running `citywifi up` of data_dir (never our own Redis)
        redis_url: str | None = instance_redis_url(settings, args.redis_url) or None
    except NoInstance as exc:
        print(f"citywifi radius: {exc}", file=sys.stderr)
        return 2
    try:
        client = redis_from_settings(settings.redis, redis_url)
        client.ping()
        # ACs and plans from the settings file: this node may be the first process to start.
        seeded = seed_from_settings(client, settings)
        if seeded:
            log.info("seeded from settings: %s", ", ".join(seeded))
    except Exception as exc:   # keep serving: policy becomes available when Redis is back
        log.error("Redis is unreachable at start-up (%s); requests will not be answered until it is back",
                  StateUnavailable(str(exc)))
    metrics_dir, metrics = None, None
    if cfg.metrics_port:
        # The parent serves /metrics for all workers: they write snapshots to a per-run directory.
        metrics_dir = snapshot_run_dir(settings.data_dir, "radius")
        registry = registry_of(CounterFamilies("radius", RADIUS_RULES, SnapshotDir(metrics_dir).read))
        try:
            metrics = MetricsServer(registry, settings.metrics.host, cfg.metrics_port,
                                    ready=HealthCheck(redis_from_settings(settings.redis, redis_url)).problem)
        except OSError as exc:
            shutil.rmtree(metrics_dir, ignore_errors=True)
            print(texts.RADIUS_METRICS.format(port=cfg.metrics_port, error=exc), file=sys.stderr)
            return 1
        metrics.start()
    parent = os.getpid()

    def make() -> RadiusServer:
        if metrics is not None and os.getpid() != parent:
            metrics.close_in_child()   # a worker must not hold the parent's metrics socket
        server = build_server(settings, redis_url, metrics_dir=metrics_dir, reaper=workers <= 1)
        freeze_start_up_heap("radius worker")    # full collections stalled every request (heap.py)
        return server

    def maintenance(stop: threading.Event) -> None:
        if metrics is not None:
            metrics.close_in_child()
        maintain(settings, redis_url, stop)

    try:
        if workers <= 1:
            return run_in_process(make, listen)
        return run_workers(make, listen, workers, maintenance)
    except PortInUse as exc:
        print(texts.RADIUS_PORT_IN_USE.format(error=exc), file=sys.stderr)
        return 1
    finally:
        if metrics is not None:
            metrics.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
