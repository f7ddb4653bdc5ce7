"""/metrics, /healthz and /readyz of the real processes, scraped over HTTP and parsed with
prometheus_client's parser: ``citywifi radius --workers 2`` (a radclient reject moves the reason
counter; readiness follows its Redis going away and coming back), ``citywifi sms-worker`` (a
sent code moves the counters and the live figures), ``citywifi ac-listener`` (a dropped
datagram is counted) and ``citywifi web`` under gunicorn (counters summed over its workers)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from portal.noc.livestats import LiveStats
from portal.phone.sms_queue import SmsJob, SmsQueue
from portal.state.embedded import EmbeddedRedis
from tests.conftest import free_tcp_port, free_udp_port
from tests.fakes.smgp_gateway import FakeSmgpGateway
from tests.radius.serverkit import HAVE_RADCLIENT, PHONE, radclient, register

ROOT = Path(__file__).resolve().parents[3]


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    base.update(PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "portal.cli", *args], cwd=ROOT, env=base,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.stdout.read() if proc.stdout else ""


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = get(port, "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def wait_for(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = pred()
        except (OSError, urllib.error.URLError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def report_counts(client: Any) -> dict[str, int]:
    """Every quarter-hour report counter (portal/reports/counts.py), summed by field."""
    out: dict[str, int] = {}
    for key in client.scan_iter(match="*{stats}:rq:*"):
        for k, v in client.hgetall(key).items():
            out[k.decode()] = out.get(k.decode(), 0) + int(v)
    return out


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis", port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.needs_radclient
@pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient not installed")
def test_radius_workers_metrics_reject_counter_and_readiness(own_redis: EmbeddedRedis) -> None:
    client = redis.Redis.from_url(own_redis.url)
    register(client)
    auth, acct, mport = free_udp_port(), free_udp_port(), free_tcp_port()
    proc = spawn("radius", "--workers", "2", "--host", "127.0.0.1", "--auth-port", str(auth),
                 "--acct-port", str(acct),
                 env={"CITYWIFI_REDIS_URL": own_redis.url, "CITYWIFI_RADIUS_METRICS_PORT": str(mport),
                      "CITYWIFI_REDIS_SOCKET_TIMEOUT": "1"})
    try:
        wait_for(lambda: get(mport, "/healthz")[0] == 200, 20, "metrics port")
        assert json.loads(get(mport, "/readyz")[1]) == {"status": "ready"}
        attrs = (f'User-Name="{PHONE}", User-Password="not-a-token", Message-Authenticator=0x00, '
                 'Called-Station-Id="AA-BB-CC-DD-EE-FF:CityWiFi"')
        # The workers may still be loading the dictionary on a busy box: the first request may
        # be retransmitted (same packet: the duplicate cache answers it, counted once).
        assert "Received Access-Reject" in radclient(auth, "auth", attrs, timeout=3, retries=5)
        for _ in range(2):
            assert "Received Access-Reject" in radclient(auth, "auth", attrs, timeout=3)
        key = ("citywifi_radius_rejects_total", (("reason", "invalid_credential"),))
        wait_for(lambda: scrape(mport).get(key) == 3, 10, "3 rejects summed over the workers")
        got = scrape(mport)
        assert got[("citywifi_radius_auth_total", (("result", "reject"),))] == 3
        assert got[("citywifi_radius_requests_total", (("port", "auth"),))] >= 3
        assert "citywifi_process_resident_memory_bytes" in {k[0] for k in got}
        # …and the fleet's live figures (RejectFlusher, once a second, no work per reject).
        wait_for(lambda: LiveStats(client).totals().get("reject:invalid_credential") == 3, 10,
                 "live reject figures")
        # …and the daily reports' refusals by place: no venue claims ac1, the SSID is CityWiFi.
        wait_for(lambda: report_counts(client) == {"refused:invalid_credential\t\tac1\tCityWiFi": 3},
                 10, "refusals by place")

        own_redis.stop()
        _, body = wait_for(lambda: (r := get(mport, "/readyz"))[0] == 503 and r, 10, "503")
        assert json.loads(body)["status"] == "unavailable" and "redis" in json.loads(body)["reason"]
        assert get(mport, "/healthz")[0] == 200
        own_redis.start()
        wait_for(lambda: get(mport, "/readyz")[0] == 200, 10, "ready again")
    finally:
        out = stop(proc)
        client.close()
    assert proc.returncode == 0, out
    with pytest.raises(OSError):        # the parent closed its metrics port
        socket.create_connection(("127.0.0.1", mport), timeout=1).close()


def test_sms_worker_metrics_and_live_figures(tmp_path: Path, redis_client: Any, redis_url: str) -> None:
    mport = free_tcp_port()
    with FakeSmgpGateway("10001", "s3cret", report_delay=0.01) as gw:
        cfg = tmp_path / "citywifi.toml"
        cfg.write_text(f"""
data_dir = "{tmp_path}"
[sms]
metrics_port = {mport}
price_fen = 5
budget_fen_per_month = 10000
[[sms.gateways]]
name = "ct"
kind = "smgp"
host = "127.0.0.1"
port = {gw.port}
account = "10001"
password = "s3cret"
src_number = "10690001"
""", encoding="utf-8")
        proc = spawn("-c", str(cfg), "sms-worker", "--redis-url", redis_url, "--consumer", "m1")
        try:
            wait_for(lambda: get(mport, "/readyz")[0] == 200, 20, "sms-worker metrics port")
            before = scrape(mport)
            assert before[("citywifi_sms_sent_total", ())] == 0
            q = SmsQueue(redis_client)
            job = q.enqueue(SmsJob("13300000001", "otp", {"code": "123456"}, venue="mall",
                                   ac="ac-1", ssid="CityWiFi"))
            wait_for(lambda: (q.outcome(job) or {}).get("status") == "delivered", 20, "delivery")
            wait_for(lambda: scrape(mport).get(("citywifi_sms_reports_total", (("outcome", "delivered"),)))
                     == 1, 10, "report counted")
            assert scrape(mport)[("citywifi_sms_sent_total", ())] == 1
        finally:
            out = stop(proc)
    assert proc.returncode == 0, out
    snap = LiveStats(redis_client).snapshot(5)
    assert snap["codes_window"]["sent"] == 1 and snap["codes_window"]["delivered"] == 1
    assert snap["sms"]["spent_fen"] == 5 and snap["sms"]["sent"] == 1   # the worker's price_fen
    # The daily reports' SMS figures by the place of the login the code was for.
    place = "\tmall\tac-1\tCityWiFi"
    assert report_counts(redis_client) == {f"sms_sent{place}": 1, f"sms_fen{place}": 5,
                                           f"sms_delivered{place}": 1}


def test_ac_listener_metrics_count_drops(redis_client: Any, redis_url: str) -> None:
    port, mport = free_udp_port(), free_tcp_port()
    proc = spawn("ac-listener", "--host", "127.0.0.1", "--port", str(port),
                 env={"CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_LISTENER_METRICS_PORT": str(mport)})
    try:
        wait_for(lambda: get(mport, "/readyz")[0] == 200, 20, "listener metrics port")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\x00garbage", ("127.0.0.1", port))
        def dropped(m: dict[Any, float]) -> float:
            return sum(v for (name, _), v in m.items() if name == "citywifi_listener_dropped_total")

        # The listener counts "received" before it decides to drop: wait for both to show.
        got = wait_for(lambda: (m := scrape(mport)).get(("citywifi_listener_received_total", ())) == 1
                       and dropped(m) >= 1 and m, 10, "received and dropped counted")
        assert dropped(got) == 1
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out


def test_web_metrics_sum_over_gunicorn_workers(tmp_path: Path, redis_client: Any, redis_url: str) -> None:
    port = free_tcp_port()
    proc = spawn("web", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--threads", "2",
                 env={"CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(tmp_path),
                      "CITYWIFI_WEB_SECRET_KEY": "metrics-test",
                      "CITYWIFI_WEB_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    try:
        wait_for(lambda: get(port, "/healthz")[0] == 200, 30, "gunicorn")
        assert get(port, "/readyz") == (200, '{"status":"ready"}\n')
        # New connections, in parallel bursts until both workers have served (a worker writes its
        # snapshot from its first request on; one idle worker may lose every accept to a busy
        # one when requests are quick, so a fixed count of sequential ones is not enough).
        sent = [2]

        def both_workers_wrote() -> bool:
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda _: get(port, "/healthz")[0], range(20)))
            assert answers == [200] * 20
            sent[0] += 20
            dirs = list((tmp_path / "run").glob("web-metrics-*"))   # under the data dir, not /tmp
            return len(dirs) == 1 and len(list(dirs[0].glob("*.json"))) == 2

        wait_for(both_workers_wrote, 30, "a counter snapshot from each of the two workers")
        key = ("citywifi_web_requests_total", (("area", "ops"), ("status", "2xx")))
        # Every worker reports the sum of all (snapshots written once a second).
        wait_for(lambda: scrape(port).get(key, 0) >= sent[0], 10, "summed web counters")
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out
    assert not list((tmp_path / "run").glob("web-metrics-*"))     # removed at a clean stop


def test_snapshot_run_dirs_of_killed_runs_are_removed_at_the_next_start(tmp_path: Path) -> None:
    from portal.runtime.metrics_http import snapshot_run_dir

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "run" / f"web-metrics-{dead.pid}"
    stale.mkdir(parents=True)
    (stale / "1.json").write_text("{}")
    alive = tmp_path / "run" / f"web-metrics-{os.getppid()}"      # a live process: left alone
    alive.mkdir()
    fresh = Path(snapshot_run_dir(tmp_path, "web"))
    assert fresh.is_dir() and fresh.name == f"web-metrics-{os.getpid()}"
    assert not stale.exists() and alive.exists()
