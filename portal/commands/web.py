"""``citywifi web [--host H] [--port P] [--workers N] [--threads T]``: the portal under gunicorn.

Threaded workers (``gthread``): a login waits on the AC (REQ_CHALLENGE/REQ_AUTH and the AC's
RADIUS round trip), so each worker process serves many requests concurrently from threads.
The app is built in each worker after the fork (its Redis pool and Portal-protocol UDP socket
are per process).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from portal.settings import Settings

__all__ = ["add_arguments", "gunicorn_options", "run"]

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
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "proc_name": "citywifi-web",
        "backlog": 2048,
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.redis.url and not settings.redis.sentinels:
        print("citywifi web: 需要配置 Redis 地址（redis.url）；`citywifi up` 会自动启动内置 Redis。\n"
              "citywifi web: a Redis URL is needed (redis.url); `citywifi up` starts an embedded one.",
              file=sys.stderr)
        return 2
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(args, settings)

    class _App(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from portal.web import create_app

            return create_app(settings)

    log.info("citywifi web on %s (%d workers × %d threads)", options["bind"], options["workers"],
             options["threads"])
    from portal.web.ops import worker_snapshots

    with worker_snapshots():   # /metrics of any worker sums the counters of all of them
        _App().run()
    return 0
