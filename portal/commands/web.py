"""``citywifi web [--host H] [--port P] [--workers N] [--threads T]``: the portal under gunicorn.

Threaded workers (``gthread``): a login waits on the AC (REQ_CHALLENGE/REQ_AUTH and the AC's
RADIUS round trip), so each worker process serves many requests concurrently from threads.
The app is built in each worker after the fork (its Redis pool and Portal-protocol UDP socket
are per process).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from typing import Any

from portal.commands import texts
from portal.runtime.settings import Settings

__all__ = ["StartupRefused", "add_arguments", "build_wsgi", "check_exposure", "graceful_timeout",
           "gunicorn_options", "run", "settle_heap", "worker_app", "wsgi_from_environment"]

log = logging.getLogger("citywifi.web")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="listen address (web.host)")
    parser.add_argument("--port", type=int, default=None, help="listen port (web.port)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (web.workers)")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker (web.threads)")


class StartupRefused(Exception):
    """The settings would expose the web process unsafely; the message (zh + en) names the keys."""


def check_exposure(settings: Settings, host: str | None = None) -> None:
    """Refuse what would let a client forge addresses or reach gunicorn unprotected.

    * A non-loopback listen address without ``web.trusted_proxies``: phones would talk to gunicorn
      directly, which has no defence against slow or oversized request headers (200 slow-header
      connections stop every worker). A proxy with those limits (deploy/nginx) must front it.
    * ``web.public_url`` empty outside demo mode: probe redirects and links would be built from
      the Host header, which the client chooses.

    (Trusting ``X-Forwarded-For`` without ``trusted_proxies`` is refused when the settings load.)
    """
    from portal.web.client_address import is_loopback_host

    web = settings.web
    host = host or web.host
    if not is_loopback_host(host) and not web.trusted_proxies:
        raise StartupRefused(texts.WEB_NO_PROXY.format(host=host))
    if not web.public_url and not web.demo:
        raise StartupRefused(texts.WEB_NO_PUBLIC_URL)


def gunicorn_options(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    cfg = settings.web
    host = args.host or cfg.host
    port = args.port if args.port is not None else cfg.port
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": max(1, args.workers if args.workers is not None else cfg.workers),
        "threads": max(1, args.threads if args.threads is not None else cfg.threads),
        "worker_class": "gthread",
        # A login may take the AC's full retry budget (3 s × 3 by default) plus RADIUS.
        "timeout": max(30, int(settings.portal_client.timeout * settings.portal_client.retries * 2) + 10),
        # SIGTERM: stop accepting, let in-flight requests finish. A login in flight may need the
        # AC's whole retry budget, so wait that long (plus margin) before killing a worker.
        "graceful_timeout": graceful_timeout(settings),
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "proc_name": "citywifi-web",
        "backlog": 2048,
        # Forwarding headers are the app's business alone (portal.web.client_address, from
        # web.trusted_proxies): gunicorn must not act on X-Forwarded-Proto itself.
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
    }


def _ready_hook(target: str) -> Any:
    """gunicorn ``post_worker_init``: runs in a worker that has loaded the app, so the web now
    answers requests (a worker that cannot import the app never gets here)."""
    def post_worker_init(worker: Any) -> None:
        from portal.runtime.readiness import notify_ready

        notify_ready(f"web worker {worker.pid} serving", target)

    return post_worker_init


def graceful_timeout(settings: Settings) -> int:
    """Seconds gunicorn lets in-flight requests finish after SIGTERM (the longest login + 5)."""
    return int(settings.portal_client.timeout * settings.portal_client.retries) + 5


def build_wsgi(settings: Settings) -> Any:
    """The WSGI app for one worker. The client's address and scheme come from forwarding headers
    only when sent by ``web.trusted_proxies`` (see :mod:`portal.web.client_address`, installed
    by ``create_app``)."""
    from portal.web import create_app

    return create_app(settings)


def settle_heap(app: Any) -> Any:
    """Freeze what the worker built (portal.runtime.heap): each full collection walked ≈ 87,000
    app objects with every thread of the worker stopped, 80–140 ms, four times per worker in
    the soak's 10,000-phone ramp."""
    from portal.runtime.heap import freeze_start_up_heap

    freeze_start_up_heap("web worker")
    return app


def worker_app(settings: Settings) -> Any:
    """The app as a gunicorn worker serves it (``citywifi web`` and ``deploy/gunicorn.conf.py``):
    built after the fork, then its heap settled."""
    return settle_heap(build_wsgi(settings))


def wsgi_from_environment() -> Any:
    """``portal.commands.web:wsgi_from_environment()``: for running gunicorn directly
    (``deploy/gunicorn.conf.py``); settings from ``$CITYWIFI_CONFIG`` and ``CITYWIFI_*``."""
    from portal.runtime.settings import load_settings

    return worker_app(load_settings())


def run(args: argparse.Namespace, settings: Settings) -> int:
    from portal.state.instance import NoInstance, instance_redis_url

    try:   # redis.url, else the running `citywifi up` of data_dir (never a Redis of our own)
        url = instance_redis_url(settings)
    except NoInstance as exc:
        print(f"citywifi web: {exc}", file=sys.stderr)
        return 2
    if url != settings.redis.url:
        settings = dataclasses.replace(settings, redis=dataclasses.replace(settings.redis, url=url))
    try:
        check_exposure(settings, args.host)
    except StartupRefused as exc:
        print(exc, file=sys.stderr)
        return 2
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(args, settings)
    # gunicorn's master sends READY=1 to $NOTIFY_SOCKET once it listens, before any worker has
    # imported the app (a web whose import fails would look ready): only our workers report.
    from portal.runtime.readiness import NOTIFY_ENV

    options["post_worker_init"] = _ready_hook(os.environ.pop(NOTIFY_ENV, ""))

    class _App(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return worker_app(settings)

    log.info("citywifi web on %s (%d workers × %d threads)", options["bind"], options["workers"],
             options["threads"])
    from portal.web.ops import worker_snapshots

    with worker_snapshots(settings.data_dir):   # /metrics of any worker sums the counters of all of them
        _App().run()
    return 0
