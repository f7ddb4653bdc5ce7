"""``citywifi ac-listener``: the UDP listener ACs send NTF_LOGOUT and MAC-trigger queries to
(default port 50100, spec §1.9), which also sends heartbeats / user-sync to ACs that want them.

Needs a Redis URL (the AC registry and statistics live there); ``citywifi up`` runs the same
listener next to an embedded Redis via ``build_listener``. NTF_LOGOUT closes the portal's view of
a login; a MAC-trigger "bound" answer queues the silent login on ``portal.phone.silent_logins`` (a
fixed worker pool), never a thread per datagram.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from ac_adapters.listener import PortalListener
from portal.commands import texts
from portal.phone.listener_handler import PortalListenerHandler, SessionClosedHook
from portal.runtime.metrics_http import (
    LISTENER_RULES,
    CounterFamilies,
    MetricsServer,
    redis_ready,
    registry_of,
)
from portal.runtime.readiness import notify_ready
from portal.runtime.settings import Settings
from portal.state import STATE_ERRORS, StateUnavailable, connect
from portal.state.instance import NoInstance, instance_redis_url

__all__ = ["add_arguments", "build_listener", "run"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default: listener.host)")
    parser.add_argument("--port", type=int, default=None,
                        help="UDP port to listen on (default: listener.port, 50100)")


def build_listener(
    settings: Settings,
    redis_client: Any,
    *,
    host: str | None = None,
    port: int | None = None,
    on_session_closed: SessionClosedHook | None = None,
    on_mac_bound: Callable[[str, str, str, object], bool | None] | None = None,
    silent_login_allowed: Callable[[str, str], bool] | None = None,
) -> tuple[PortalListener, PortalListenerHandler]:
    """A bound (not yet started) listener and its portal handler, from settings."""
    cfg = settings.listener
    handler = PortalListenerHandler(redis_client, on_session_closed=on_session_closed,
                                    on_mac_bound=on_mac_bound, silent_login_allowed=silent_login_allowed)
    listener = PortalListener(
        cfg.host if host is None else host,
        cfg.port if port is None else port,
        handler,
        heartbeat_interval=cfg.heartbeat_interval,
        user_sync_interval=cfg.user_sync_interval,
        dedup_ttl=cfg.retransmit_window,
    )
    return listener, handler


def session_closer(journey: Any) -> SessionClosedHook:
    """The NTF_LOGOUT / user-sync hook: close the portal's view of the login (``journey.close``);
    a Redis failure is logged, never raised into the listener."""
    def closed(ac: str, user_ip: str, mac: str | None, cause: str) -> None:
        try:
            journey.close(ac, user_ip, mac, cause)
        except STATE_ERRORS as exc:
            log.error("could not close the portal login of %s on %s: %s", user_ip, ac, exc)

    return closed


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:   # redis.url, else the running `citywifi up` of data_dir (never a Redis of our own)
        url = instance_redis_url(settings)
    except NoInstance as exc:
        print(f"citywifi ac-listener: {exc}", file=sys.stderr)
        return 2
    try:
        client = connect(settings.redis, url)
    except StateUnavailable as exc:
        print(texts.AC_LISTENER_NO_REDIS.format(error=exc), file=sys.stderr)
        return 1
    from portal.runtime.seeding import seed_from_settings

    seeded = seed_from_settings(client, settings)
    if seeded:
        log.info("seeded from settings: %s", ", ".join(seeded))
    from portal.phone.login import build_journey
    from portal.phone.silent_logins import SilentLoginQueue

    journey = build_journey(settings, client)
    cfg = settings.listener
    silent = SilentLoginQueue(journey.silent_login, workers=cfg.silent_login_workers,
                              capacity=cfg.silent_login_queue)
    try:
        listener, handler = build_listener(
            settings, client, host=args.host, port=args.port,
            on_session_closed=session_closer(journey),
            on_mac_bound=lambda ac, mac, user_ip, _binding: silent.offer(ac, mac, user_ip),
            silent_login_allowed=journey.silent_login_allowed)
    except OSError as exc:
        print(texts.AC_LISTENER_LISTEN.format(error=exc), file=sys.stderr)
        return 1

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    metrics = None
    if settings.listener.metrics_port:
        try:
            metrics = MetricsServer(
                registry_of(CounterFamilies("listener", LISTENER_RULES,
                                            lambda: listener.stats | handler.stats | silent.stats)),
                settings.metrics.host, settings.listener.metrics_port,
                ready=redis_ready(client, "ac-listener"))
        except OSError as exc:
            print(texts.AC_LISTENER_METRICS.format(error=exc), file=sys.stderr)
            return 1
        metrics.start()
    silent.start()
    listener.start()
    log.info("ac-listener ready on %s:%d", listener.host, listener.port)
    notify_ready(f"listening on {listener.host}:{listener.port}")
    while not stop.wait(300):
        log.info("ac-listener stats: %s", _fmt(listener.stats | handler.stats | silent.stats))
    if metrics is not None:
        metrics.close()
    listener.stop()
    silent.stop()
    handler.flush()
    log.info("ac-listener stopped; stats: %s", _fmt(listener.stats | handler.stats | silent.stats))
    client.close()
    return 0


def _fmt(stats: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(stats.items())) or "nothing received"
