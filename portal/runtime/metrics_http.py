"""Prometheus ``/metrics`` plus ``/healthz`` and ``/readyz`` for every citywifi process.

Processes count in-process with plain dict counters (``radius.metrics.Metrics``, the listener's
stats, :class:`ProcessCounters`) — an increment on a hot path stays a dict update, not a
prometheus_client mmap write behind a lock. At scrape time :class:`CounterFamilies` turns the
dotted names into metric families by a small rule table (``drop.<reason>`` →
``citywifi_radius_dropped_total{reason=…}``).

Several worker processes behind one port (``citywifi radius --workers N``, gunicorn workers of
``citywifi web``) each write their snapshot to a per-run directory about once a second
(:class:`SnapshotDir`, one file per process incarnation, atomic rename); whoever serves the
scrape sums the files. Files of dead workers stay, so counters never go backwards when a
worker is restarted; a fresh run starts with an empty directory. That is prometheus_client's
multiprocess idea without its environment variable and import-order dependency, and with a
snapshot lag of at most one flush interval.

:class:`MetricsServer` is a small threaded HTTP server (``metrics_port`` of a process section,
0 = off): ``/metrics`` (text exposition), ``/healthz`` (the process is alive: 200) and
``/readyz`` (Redis takes a write, :class:`WriteProbe`: 200, else 503 with a JSON reason) for
load balancers.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from portal.state import keys

__all__ = [
    "FLEET_RULES",
    "LISTENER_RULES",
    "RADIUS_RULES",
    "SMS_RULES",
    "WEB_RULES",
    "CounterFamilies",
    "FleetCollector",
    "MetricsServer",
    "ProcessCounters",
    "Rule",
    "SnapshotDir",
    "WriteProbe",
    "merge_counts",
    "pid_alive",
    "readiness",
    "redis_ready",
    "registry_of",
    "snapshot_run_dir",
]

log = logging.getLogger(__name__)

Ready = Callable[[], str | None]     # None = ready, else the reason it is not


# --- in-process counters and their per-run directory ------------------------------------------

class ProcessCounters:
    """Thread-safe dotted counters of one process (web requests, SMS outcomes …)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def inc(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def merge_counts(items: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum several counter dicts (per-process snapshots)."""
    out: dict[str, int] = {}
    for item in items:
        for k, v in item.items():
            out[k] = out.get(k, 0) + int(v)
    return out


class SnapshotDir:
    """A per-run directory of per-process counter snapshots (see module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: Path | None = None
        self._pid = 0

    def write(self, counts: Mapping[str, int]) -> None:
        """Replace this process's snapshot (a new file per process incarnation)."""
        if self._file is None or self._pid != os.getpid():   # first write, or after a fork
            self._pid = os.getpid()
            self._file = self.path / f"{self._pid}-{secrets.token_hex(4)}.json"
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(counts)), encoding="utf-8")
        os.replace(tmp, self._file)

    def read(self) -> dict[str, int]:
        """The sum over every process that ever wrote in this run."""
        snapshots = []
        for file in self.path.glob("*.json"):
            try:
                snapshots.append(json.loads(file.read_text(encoding="utf-8")))
            except (OSError, ValueError):   # being replaced right now: rename is atomic, retry once
                try:
                    snapshots.append(json.loads(file.read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    continue
        return merge_counts(snapshots)


# --- dotted names → metric families -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Rule:
    """Counters named ``match`` (exact) or, with ``label``, ``match<value>`` become ``metric``
    (``label`` "a,b" splits the value on the first "." into two labels)."""

    match: str
    metric: str
    help: str
    label: str = ""


RADIUS_RULES: tuple[Rule, ...] = (
    Rule("rx.", "citywifi_radius_requests_total", "RADIUS datagrams received, by port", "port"),
    Rule("drop.", "citywifi_radius_dropped_total", "RADIUS datagrams dropped, by reason", "reason"),
    Rule("ac_drop.", "citywifi_radius_ac_dropped_total",
         "RADIUS datagrams dropped, by reason and AC ('-' = not a registered AC)", "reason,ac"),
    Rule("unknown_attr.", "citywifi_radius_unknown_attributes_total",
         "Attributes the dictionary lacks in accepted packets, by attribute and AC "
         "(250, 241:9, 26:<vendor>, 26:<vendor>:<type>)", "attribute,ac"),
    Rule("token_replay", "citywifi_radius_token_replays_total",
         "A login token's Access-Accept repeated for the same AC, device and token"),
    Rule("auth.", "citywifi_radius_auth_total", "Access-Requests answered, by result", "result"),
    Rule("reject.", "citywifi_radius_rejects_total", "Access-Rejects sent, by reason", "reason"),
    Rule("acct.ok", "citywifi_radius_accounting_total", "Accounting-Requests stored and answered"),
    Rule("acct_rejected.", "citywifi_radius_accounting_refused_total",
         "Accounting records refused (kept in the log, answered, not applied), by reason and AC",
         "reason,ac"),
    Rule("duplicate.replayed", "citywifi_radius_duplicates_replayed_total",
         "Retransmissions answered from the RFC 5080 duplicate cache"),
    Rule("status_server", "citywifi_radius_status_server_total", "Status-Server requests answered"),
    Rule("socket.", "citywifi_radius_socket_errors_total", "Socket send/receive errors", "kind"),
)

LISTENER_RULES: tuple[Rule, ...] = (
    Rule("received", "citywifi_listener_received_total", "Datagrams received by the ac-listener"),
    Rule("answered", "citywifi_listener_answered_total", "Datagrams answered"),
    Rule("duplicates", "citywifi_listener_duplicates_total", "Retransmitted datagrams seen"),
    Rule("dropped.", "citywifi_listener_dropped_total", "Datagrams dropped, by reason", "reason"),
    Rule("dropped_ac.", "citywifi_listener_ac_dropped_total",
         "Datagrams from a registered AC's address dropped, by reason and AC", "reason,ac"),
    Rule("repeated_events", "citywifi_listener_repeated_events_total",
         "Session-ending datagrams byte-identical to one handled for an earlier login"),
    Rule("suspected_replays", "citywifi_listener_suspected_replays_total",
         "Such repeats not corroborated by accounting: answered, held, not acted upon (SECURITY.md)"),
    Rule("silent_login.", "citywifi_listener_silent_logins_total",
         "MAC-trigger silent logins, by outcome (queued, succeeded, failed, error, expired, "
         "queue_full, in_flight, stopped) and AC", "outcome,ac"),
    Rule("handled.", "citywifi_listener_handled_total", "Datagrams handled, by kind", "kind"),
    Rule("sent.", "citywifi_listener_sent_total", "Datagrams sent to ACs, by kind", "kind"),
    Rule("state_unavailable", "citywifi_listener_state_unavailable_total",
         "Redis errors while handling datagrams"),
)

SMS_RULES: tuple[Rule, ...] = (
    Rule("sent", "citywifi_sms_sent_total", "SMS accepted by a gateway"),
    Rule("failed.", "citywifi_sms_failed_total", "SMS that failed, by error code", "code"),
    Rule("report.", "citywifi_sms_reports_total", "Delivery reports received, by outcome", "outcome"),
)

WEB_RULES: tuple[Rule, ...] = (
    Rule("http.", "citywifi_web_requests_total", "HTTP requests answered, by area and status class",
         "area,status"),
)


class CounterFamilies(Collector):
    """Exposes ``source()`` (dotted name → count) as counter families per ``rules``; names no
    rule matches go to ``citywifi_<area>_events_total{event=…}`` (names come from code, so the
    label stays bounded)."""

    def __init__(self, area: str, rules: Iterable[Rule], source: Callable[[], Mapping[str, int]]) -> None:
        self.area = area
        self.rules = tuple(rules)
        self.source = source

    def collect(self) -> Iterator[Metric]:
        counts = self.source()
        families: dict[str, CounterMetricFamily] = {}

        def family(metric: str, help_text: str, labels: list[str]) -> CounterMetricFamily:
            if metric not in families:
                # prometheus_client appends _total itself.
                families[metric] = CounterMetricFamily(metric.removesuffix("_total"), help_text,
                                                       labels=labels)
            return families[metric]

        for rule in self.rules:    # every family appears (at 0 if nothing happened yet)
            if not rule.label:
                family(rule.metric, rule.help, []).add_metric([], float(counts.get(rule.match, 0)))
            else:
                family(rule.metric, rule.help, _labels(rule))
        other = family(f"citywifi_{self.area}_events_total", f"Other {self.area} events", ["event"])
        for name, value in sorted(counts.items()):
            found = next((r for r in self.rules if (name.startswith(r.match) if r.label
                                                     else name == r.match)), None)
            if found is None:
                other.add_metric([name], float(value))
            elif found.label:
                family(found.metric, found.help, _labels(found)).add_metric(
                    _label_values(found, name[len(found.match):]), float(value))
        yield from families.values()


def _labels(rule: Rule) -> list[str]:
    return rule.label.split(",")


def _label_values(rule: Rule, value: str) -> list[str]:
    n = len(_labels(rule))
    parts = value.split(".", n - 1)
    return parts + [""] * (n - len(parts))


# --- fleet-wide figures from Redis (LiveStats) ------------------------------------------------

FLEET_RULES: tuple[Rule, ...] = (
    Rule("login:", "citywifi_fleet_logins_total", "Phone logins of the whole fleet, by kind", "kind"),
    Rule("code:", "citywifi_fleet_codes_total", "SMS codes of the whole fleet, by outcome", "outcome"),
    Rule("reject:", "citywifi_fleet_auth_rejects_total",
         "RADIUS Access-Rejects of the whole fleet, by reason", "reason"),
    Rule("fen", "citywifi_fleet_sms_spend_fen_total", "SMS spend of the whole fleet, fen (0.01 CNY)"),
)


class FleetCollector(Collector):
    """Fleet counters and online gauges read from Redis at scrape time (every web node reports
    the same values: aggregate with max(), not sum()). Redis down → these families are absent
    and ``citywifi_fleet_up`` is 0."""

    def __init__(self, livestats: Any) -> None:
        self.livestats = livestats

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("citywifi_fleet_up", "1 if the fleet figures could be read from Redis")
        try:
            totals = self.livestats.totals()
            online = self.livestats.online()
        except Exception as exc:
            log.debug("fleet figures unavailable: %s", exc)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from CounterFamilies("fleet", FLEET_RULES, lambda: totals).collect()
        g = GaugeMetricFamily("citywifi_online_sessions", "Online sessions now (whole fleet)")
        g.add_metric([], float(online["total"]))
        yield g
        g = GaugeMetricFamily("citywifi_online_sessions_by_ac", "Online sessions now, by AC",
                              labels=["ac"])
        for ac, n in online["by_ac"].items():
            g.add_metric([ac], float(n))
        yield g
        g = GaugeMetricFamily("citywifi_online_sessions_by_venue", "Online sessions now, by venue",
                              labels=["venue"])
        for venue, n in online["by_venue"].items():
            g.add_metric([venue], float(n))
        yield g


# --- health / readiness -----------------------------------------------------------------------

class WriteProbe:
    """Can this process serve? Every process's ``/readyz`` (and RADIUS's Status-Server) asks.

    A PING is not enough: a Redis that refuses every write still answers it — full under
    ``noeviction`` (console sign-ins and code requests then fail with 503), ``min-replicas-to-write``
    unmet, a replica left read-only by a fail-over — and every citywifi process needs writes.
    So the probe is one tiny write (``keys.health_probe(service)``, expires in a minute), at
    most once per ``interval`` seconds; the answer, good or bad, is kept that long, so a
    burst of probes costs one write.
    """

    def __init__(self, redis: Any, service: str, interval: float = 1.0) -> None:
        self.redis = redis
        self.interval = interval
        self.key = keys.health_probe(service)
        self._checked_until = 0.0
        self._problem: str | None = None
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        return self.problem() is None

    def problem(self) -> str | None:
        """None when Redis takes writes, else why not (the ``/readyz`` reason)."""
        with self._lock:
            if time.monotonic() >= self._checked_until:
                try:
                    self.redis.set(self.key, str(os.getpid()), px=60_000)
                    self._problem = None
                except Exception as exc:     # any failure means: do not claim to serve
                    self._problem = f"redis refuses writes: {type(exc).__name__}: {exc}"[:300]
                self._checked_until = time.monotonic() + self.interval
            return self._problem


def redis_ready(redis: Any, service: str, *, cache: float = 1.0) -> Ready:
    """The readiness check of ``service``: Redis takes a write (:class:`WriteProbe`, its
    answer kept ``cache`` seconds)."""
    return WriteProbe(redis, service, cache).problem


def readiness(ready: Ready | None) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body of ``/readyz``."""
    reason = ready() if ready is not None else None
    if reason is None:
        return 200, {"status": "ready"}
    return 503, {"status": "unavailable", "reason": reason}


# --- the HTTP listener ------------------------------------------------------------------------

class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:   # scrapes every 15 s: no access log
        pass


class MetricsServer:
    """``/metrics``, ``/healthz``, ``/readyz`` on ``host:port`` in a daemon thread."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int, *,
                 ready: Ready | None = None) -> None:
        self.registry = registry
        self.ready = ready
        server_class = _Server6 if ":" in host else _Server
        self._httpd = make_server(host, port, self._app, server_class, _QuietHandler)
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics-http",
                                        daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def close_in_child(self) -> None:
        """In a forked child: drop the inherited listening socket (the parent keeps serving)."""
        self._httpd.socket.close()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            try:
                body = generate_latest(self.registry)
            except Exception:
                log.exception("collecting metrics failed")
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
                return [b"collecting metrics failed\n"]
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [body]
        if path == "/healthz":
            return _json(start_response, 200, {"status": "alive"})
        if path == "/readyz":
            status, body_json = readiness(self.ready)
            return _json(start_response, status, body_json)
        return _json(start_response, 404,
                     {"error": "not found", "paths": ["/metrics", "/healthz", "/readyz"]})


_STATUS_LINES = {200: "200 OK", 404: "404 Not Found", 503: "503 Service Unavailable"}


def _json(start_response: Callable[..., Any], status: int, body: Mapping[str, Any]) -> list[bytes]:
    start_response(_STATUS_LINES[status], [("Content-Type", "application/json"),
                                          ("Cache-Control", "no-store")])
    return [json.dumps(body).encode()]


def registry_of(*collectors: Collector, process: bool = True) -> CollectorRegistry:
    """A fresh registry (not the global one) holding ``collectors`` and, with ``process``, the
    standard ``process_*`` figures (CPU, memory, open files) of this process."""
    from prometheus_client import ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    for c in collectors:
        registry.register(c)
    if process:
        ProcessCollector(namespace="citywifi", registry=registry)
    return registry


def snapshot_run_dir(data_dir: str | os.PathLike[str], kind: str) -> str:
    """A fresh ``<data_dir>/run/<kind>-metrics-<pid>`` for one run's worker snapshots.

    Kept under the data dir (not /tmp) and named by the owner's pid, so the directories of runs
    that were killed (SIGKILL skips clean-up) are found and removed by the next start."""
    import shutil

    base = Path(data_dir) / "run"
    base.mkdir(parents=True, exist_ok=True)
    prefix = f"{kind}-metrics-"
    for old in base.glob(prefix + "*"):
        pid = old.name.removeprefix(prefix)
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = base / f"{prefix}{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700)
    return str(path)


def pid_alive(pid: int) -> bool:
    """Is a process with this id running on this machine (one we may not signal counts)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
