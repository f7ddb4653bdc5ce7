"""Operations endpoints of the web process: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz``.

* ``/healthz`` — the process answers: always 200 (no Redis call), for liveness probes.
* ``/readyz`` — 200 when Redis takes a write (``portal.runtime.metrics_http.WriteProbe``: a Redis that
  refuses writes still answers PING), else 503 with a JSON reason, for load balancers.
* ``/metrics`` — this node's HTTP counters (``citywifi_web_requests_total{area,status}``; with
  gunicorn, summed over the workers of this run through :class:`portal.runtime.metrics_http.SnapshotDir`,
  directory made by ``citywifi web`` with :func:`worker_snapshots`, or given in
  ``app.config["CITYWIFI_METRICS_DIR"]``), the fleet-wide
  figures from Redis (:class:`portal.runtime.metrics_http.FleetCollector`) and process figures. With
  ``metrics.web_token`` set it wants ``Authorization: Bearer <token>``; without one only a client
  on this machine (loopback, not forwarded by a proxy) may read it — the web port faces phones.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from portal.noc.livestats import LiveStats
from portal.runtime.metrics_http import (
    WEB_RULES,
    CounterFamilies,
    FleetCollector,
    ProcessCounters,
    SnapshotDir,
    readiness,
    redis_ready,
    registry_of,
    snapshot_run_dir,
)
from portal.web.client_address import canonical_address, client_address, forwarded_by_untrusted_peer
from portal.web.console_texts import METRICS_LOCAL_ONLY, METRICS_TOKEN_REQUIRED
from portal.web.wiring import services

__all__ = ["METRICS_DIR", "WebOps", "bp", "init_ops", "worker_snapshots"]

bp = Blueprint("ops", __name__)
METRICS_DIR = "CITYWIFI_METRICS_DIR"
FLUSH_INTERVAL = 1.0


class WebOps:
    """The process's counters, the scrape registry and the per-process snapshot writer (one of
    the web services: ``portal.web.wiring``)."""

    def __init__(self, redis: Any, livestats: LiveStats) -> None:
        self.counters = ProcessCounters()
        self.ready = redis_ready(redis, "web")
        self._pid = 0
        self._lock = threading.Lock()

        def source() -> dict[str, int]:
            path = self.run_dir()
            return SnapshotDir(path).read() if path else self.counters.snapshot()

        self.registry = registry_of(CounterFamilies("web", WEB_RULES, source), FleetCollector(livestats))

    @staticmethod
    def run_dir() -> str | None:
        """The snapshot directory: the app's ``CITYWIFI_METRICS_DIR``, else this run's (read in
        a request or response hook: the app is the one serving)."""
        return current_app.config.get(METRICS_DIR) or _run_dir

    def ensure_writer(self) -> None:
        """Start this process's snapshot thread (once per process: gunicorn forks after load)."""
        path = self.run_dir()
        if not path or self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            snapshots = SnapshotDir(path)

            def run() -> None:
                while True:
                    snapshots.write(self.counters.snapshot())
                    time.sleep(FLUSH_INTERVAL)

            threading.Thread(target=run, name="metrics-snapshot", daemon=True).start()


_run_dir: str | None = None    # set by worker_snapshots() in the gunicorn master, before forking


@contextlib.contextmanager
def worker_snapshots(data_dir: str | os.PathLike[str]) -> Iterator[str]:
    """Around ``gunicorn.run()`` in ``citywifi web``: a per-run directory where every worker
    forked inside writes its counters, so any worker's /metrics shows the sum. Removed at the
    end by the process that made it (forked workers leave through this block too)."""
    global _run_dir
    path = snapshot_run_dir(data_dir, "web")
    owner = os.getpid()
    _run_dir = path
    try:
        yield path
    finally:
        if os.getpid() == owner:
            _run_dir = None
            shutil.rmtree(path, ignore_errors=True)


def _ops() -> WebOps:
    return services().ops


def init_ops(app: Flask) -> None:
    """Register the blueprint and count every response by blueprint and status class."""

    @app.after_request
    def _count(response: Response) -> Response:
        # Blueprint names and status classes only: bounded label values.
        ops = _ops()
        ops.counters.inc(f"http.{request.blueprint or 'other'}.{response.status_code // 100}xx")
        ops.ensure_writer()
        return response

    app.register_blueprint(bp)


@bp.route("/healthz")
def healthz() -> Response:
    return jsonify(status="alive")


@bp.route("/readyz")
def readyz() -> tuple[Response, int]:
    status, body = readiness(_ops().ready)
    return jsonify(body), status


def _local_client() -> bool:
    """The client is on this machine and did not come through a proxy (whose clients are not)."""
    address = canonical_address(client_address())
    return (address is not None and ipaddress.ip_address(address).is_loopback
            and not forwarded_by_untrusted_peer())


@bp.route("/metrics")
def metrics() -> Response:
    token = services().settings.metrics.web_token
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            zh, en = METRICS_TOKEN_REQUIRED
            return Response(f"{en} / {zh}\n", status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": "Bearer"})
    elif not _local_client():
        zh, en = METRICS_LOCAL_ONLY
        return Response(f"{en} / {zh}\n", status=403, mimetype="text/plain")
    return Response(generate_latest(_ops().registry), content_type=CONTENT_TYPE_LATEST)
