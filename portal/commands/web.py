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

from portal.settings import Settings

__all__ = ["add_arguments", "build_wsgi", "graceful_timeout", "gunicorn_options", "run",
           "wsgi_from_environment"]

log = logging.getLogger("citywifi.web")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="listen address (web.host)")
    parser.add_argument("--port", type=int, default=None, help="listen port (web.port)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (web.workers)")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker (web.threads)")


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
    }


def _ready_hook(target: str) -> Any:
    """gunicorn ``post_worker_init``: runs in a worker that has loaded the app, so the web now
    answers requests (a worker that cannot import the app never gets here)."""
    def post_worker_init(worker: Any) -> None:
        from portal.readiness import notify_ready

        notify_ready(f"web worker {worker.pid} serving", target)

    return post_worker_init


def graceful_timeout(settings: Settings) -> int:
    """Seconds gunicorn lets in-flight requests finish after SIGTERM (the longest login + 5)."""
    return int(settings.portal_client.timeout * settings.portal_client.retries) + 5


def build_wsgi(settings: Settings) -> Any:
    """The WSGI app for one worker; behind ``web.proxy_hops`` trusted proxies (nginx) the client
    address and scheme come from their X-Forwarded-For / X-Forwarded-Proto. The captive portal
    identifies a phone by its address (and rate-limits codes per address), so with 0 hops those
    headers are ignored: a phone talking to gunicorn directly could otherwise claim any IP."""
    from portal.web import create_app

    app = create_app(settings)
    hops = settings.web.proxy_hops
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    return app


def wsgi_from_environment() -> Any:
    """``portal.commands.web:wsgi_from_environment()``: for running gunicorn directly
    (``deploy/gunicorn.conf.py``); settings from ``$CITYWIFI_CONFIG`` and ``CITYWIFI_*``."""
    from portal.settings import load_settings

    return build_wsgi(load_settings())


def run(args: argparse.Namespace, settings: Settings) -> int:
    from portal.state.instance import NoInstance, instance_redis_url

    try:   # redis.url, else the running `citywifi up` of data_dir (never a Redis of our own)
        url = instance_redis_url(settings)
    except NoInstance as exc:
        print(f"citywifi web: {exc}", file=sys.stderr)
        return 2
    if url != settings.redis.url:
        settings = dataclasses.replace(settings, redis=dataclasses.replace(settings.redis, url=url))
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(args, settings)
    # gunicorn's master sends READY=1 to $NOTIFY_SOCKET once it listens, before any worker has
    # imported the app (a web whose import fails would look ready): only our workers report.
    from portal.readiness import NOTIFY_ENV

    options["post_worker_init"] = _ready_hook(os.environ.pop(NOTIFY_ENV, ""))

    class _App(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return build_wsgi(settings)

    log.info("citywifi web on %s (%d workers × %d threads)", options["bind"], options["workers"],
             options["threads"])
    from portal.web.ops import worker_snapshots

    with worker_snapshots(settings.data_dir):   # /metrics of any worker sums the counters of all of them
        _App().run()
    return 0
