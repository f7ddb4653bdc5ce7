"""Benchmark: complete phone logins over HTTP on one machine.

    python3 tests/bench/login.py [--logins 1000] [--concurrency 32] [--web-workers 2] [--threads 32]

Starts, on free loopback ports: an embedded Redis, ``citywifi radius``, ``citywifi sms-worker``
(file backend), ``citywifi web`` (gunicorn gthread) and ``citywifi ac-sim`` (pointed at RADIUS).
Each simulated phone then does what a real one does: GET the AC's redirect URL (landing page),
POST its number (code request), waits for the SMS in the outbox, POST the code (login: OTP
verify → plan → minted token → REQ_CHALLENGE/REQ_AUTH on the simulator → RADIUS CHAP → MAC
binding → real-name record), on one keep-alive connection per phone with pre-built requests
(``tests/bench/phone_http.py``: the generator's own CPU is taken from the servers). Prints
logins/s and latency percentiles for the whole journey and for the login POST alone, and the
CPU each process (with its children) used per login during the measured phase
(``tests/bench/cpu_meter.py``): on a shared box the wall-clock rate moves with everyone else's
load, the server's CPU per login much less. Every process is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ac_adapters.simulator import build_redirect_url  # noqa: E402
from portal.aaa.acs import AcRecord, AcRegistry  # noqa: E402
from portal.runtime.demo import seed_demo_venue  # noqa: E402
from portal.runtime.settings import RedisSettings  # noqa: E402
from portal.state.connection import connect  # noqa: E402
from portal.state.embedded import EmbeddedRedis  # noqa: E402
from tests.bench.cpu_meter import CpuMeter  # noqa: E402
from tests.bench.phone_http import PhoneConnection, form_body, get_request, post_request  # noqa: E402

SECRET = "bench-secret-0123456789"
ROLES = ("radius", "sms-worker", "ac-listener", "ac-sim", "web")   # the processes started
SERVER = ("web", "radius", "sms-worker", "ac-listener", "redis")    # what a deployment runs


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_udp_ports(n: int) -> list[int]:
    """``n`` distinct free UDP ports: all held open until each is chosen (one at a time, the
    kernel may hand out a port it just gave: RADIUS once found its accounting port taken by
    the AC simulator and every login failed with ac_rejected)."""
    held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()


class Outbox(threading.Thread):
    """Watches the file backend's outbox: phone → newest code."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.codes: dict[str, str] = {}
        self.seen: set[str] = set()
        self.cond = threading.Condition()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.005):
            if not self.folder.is_dir():
                continue
            with os.scandir(self.folder) as entries:
                fresh = [e.name for e in entries if e.name.endswith(".json") and e.name not in self.seen]
            found = {}
            for name in fresh:
                self.seen.add(name)
                path = self.folder / name
                msg = json.loads(path.read_text(encoding="utf-8"))
                # Read once, then gone: rescanning every message so far each 5 ms made this
                # thread the load generator's biggest CPU cost on long runs.
                path.unlink()
                m = re.search(r"(\d{6})", msg["text"])
                if m:
                    found[msg["phone"]] = m.group(1)
            if found:
                with self.cond:
                    self.codes.update(found)
                    self.cond.notify_all()

    def wait_code(self, phone: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        with self.cond:
            while phone not in self.codes:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no SMS for {phone}")
                self.cond.wait(left)
            return self.codes.pop(phone)


def http_call(port: int, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = urllib.parse.urlencode(body).encode() if body is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if data else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def redis_calls(client: Any) -> dict[str, int]:
    """Calls per command since start (INFO commandstats), this benchmark's own INFO excluded."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()
            if name not in ("cmdstat_info",)}


def top_functions(raw: Path, n: int = 40) -> list[str]:
    """py-spy's raw (collapsed-stack) samples → the functions most often on the stack (inclusive)
    and on top of it (self), as shares of all samples."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        k = int(count)
        total += k
        frames = [f.split(" (")[0] + " " + f.rpartition("/")[2].rstrip(")") for f in stack.split(";")[1:]]
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + k
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + k
    out = [f"  py-spy: {total} samples; inclusive share, self share, function"]
    for f, k in sorted(inclusive.items(), key=lambda x: -x[1])[:n]:
        out.append(f"    {k / total:6.1%} {own.get(f, 0) / total:6.1%}  {f}")
    out.append("  top self:")
    for f, k in sorted(own.items(), key=lambda x: -x[1])[:n // 2]:
        out.append(f"    {k / total:6.1%}  {f}")
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--logins", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--radius-workers", type=int, default=1)
    ap.add_argument("--profile", metavar="ROLE", choices=ROLES,
                    help="sample that process and its children with py-spy during the measured "
                         "phase and print the top functions (pip install py-spy)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cw-bench-login-"))
    redis = EmbeddedRedis(tmp / "redis").start()
    web_port = free_port(socket.SOCK_STREAM)
    auth, acct, listener_port, sim_port = free_udp_ports(4)
    env = dict(os.environ, PYTHONPATH=str(ROOT), CITYWIFI_DATA_DIR=str(tmp), CITYWIFI_REDIS_URL=redis.url,
               CITYWIFI_LOG_LEVEL="WARNING",
               CITYWIFI_RADIUS_HOST="127.0.0.1", CITYWIFI_RADIUS_AUTH_PORT=str(auth),
               CITYWIFI_RADIUS_ACCT_PORT=str(acct), CITYWIFI_RADIUS_WORKERS=str(args.radius_workers),
               CITYWIFI_LISTENER_HOST="127.0.0.1", CITYWIFI_LISTENER_PORT=str(listener_port),
               CITYWIFI_WEB_HOST="127.0.0.1", CITYWIFI_WEB_PORT=str(web_port),
               CITYWIFI_WEB_PUBLIC_URL=f"http://127.0.0.1:{web_port}",
               CITYWIFI_WEB_WORKERS=str(args.web_workers), CITYWIFI_WEB_THREADS=str(args.threads),
               CITYWIFI_WEB_SECRET_KEY="b" * 32, CITYWIFI_WEB_MAX_AC_LOGINS="256",
               CITYWIFI_SMS_BACKEND="file", CITYWIFI_OTP_HMAC_KEY="h" * 32,
               CITYWIFI_OTP_PER_IP_HOUR="0", CITYWIFI_OTP_PER_IP_DAY="0",
               CITYWIFI_OTP_PER_SOURCE_HOUR="0", CITYWIFI_OTP_PER_SOURCE_DAY="0",
               CITYWIFI_OTP_PER_AC_MINUTE="0",
               CITYWIFI_OTP_GLOBAL_PER_MINUTE="0",
               CITYWIFI_AC_SIM_PORT=str(sim_port), CITYWIFI_AC_SIM_SECRET=SECRET,
               CITYWIFI_AC_SIM_RADIUS_SECRET=SECRET, CITYWIFI_AC_SIM_RADIUS_AUTH_PORT=str(auth),
               CITYWIFI_AC_SIM_RADIUS_ACCT_PORT=str(acct), CITYWIFI_AC_SIM_PORTAL_PORT=str(listener_port),
               CITYWIFI_AC_SIM_COA_PORT="-1", CITYWIFI_AC_SIM_USERS="0")
    client = connect(RedisSettings(), redis.url)
    AcRegistry(client).put(AcRecord(name="bench-ac", addresses=("127.0.0.1",), secret=SECRET, port=sim_port,
                                    rfc5176=False, client_address_check=False))
    seed_demo_venue(client, "bench-ac")
    procs: list[subprocess.Popen[bytes]] = []
    logs = tmp / "logs"
    logs.mkdir()
    for name in ROLES:
        out = open(logs / f"{name}.log", "wb")  # noqa: SIM115
        procs.append(subprocess.Popen([sys.executable, "-m", "portal.cli", name], env=env, stdout=out,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
    outbox = Outbox(tmp / "sms-outbox")
    outbox.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if http_call(web_port, "GET", "/generate_204")[0] in (204, 302):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"web did not start; see {logs}")
            time.sleep(0.2)
        time.sleep(1.0)     # RADIUS / simulator / sms-worker start-up
        net = ipaddress.IPv4Network("10.64.0.0/12")
        hosts = net.hosts()
        phones = []
        for i in range(args.logins):
            ip = next(hosts)
            mac = "02:00:" + ":".join(f"{b:02x}" for b in ip.packed)
            url = build_redirect_url("/portal", flavour="huawei-v2", user_ip=str(ip), user_mac=mac,
                                     ac_ip="127.0.0.1", ac_name="citywifi-ac-sim", ssid="CityWiFi",
                                     ap_mac="00:11:22:33:44:55", first_url="http://www.example.com/")
            phones.append((f"189{i:08d}", url))

        host = f"127.0.0.1:{web_port}"
        landings = [(number, get_request(url, host)) for number, url in phones]   # built before timing

        def one(item: tuple[str, bytes]) -> tuple[float, float, str]:
            # One keep-alive connection per phone, as its browser keeps one through the journey
            # (tests/bench/phone_http.py): the generator's CPU is the servers' loss on this box.
            number, landing = item
            conn = PhoneConnection(web_port)
            try:
                t0 = time.perf_counter()
                status, _, page = conn.request(landing)
                at = page.find(b'name="c" value="')
                if status != 200 or at < 0:
                    return time.perf_counter() - t0, 0.0, f"landing {status}"
                c = page[at + 16:page.find(b'"', at + 16)].decode()
                status, _, _ = conn.request(post_request("/portal/code", form_body({"c": c, "phone": number}),
                                                         host))
                if status != 200:
                    return time.perf_counter() - t0, 0.0, f"code {status}"
                code = outbox.wait_code(number)
                t1 = time.perf_counter()
                form = form_body({"c": c, "phone": number, "code": code})
                status, _, page = conn.request(post_request("/portal/login", form, host))
                t2 = time.perf_counter()
                if status != 200 or b'id="success"' not in page:
                    err = re.findall(r'data-code="([^"]+)"', page.decode())
                    return t2 - t0, t2 - t1, f"login {status} {err}"
                return t2 - t0, t2 - t1, ""
            finally:
                conn.close()

        # Warm-up (connections, caches, worker imports), not measured.
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(one, landings[:min(50, len(phones) // 10)]))
        measured = landings[min(50, len(phones) // 10):]
        assert redis.process is not None
        roles = {name: proc.pid for name, proc in zip(ROLES, procs, strict=True)}
        meter = CpuMeter({**roles, "redis": redis.process.pid, "load generator": os.getpid()})
        load0 = os.getloadavg()[0]
        spy = None
        if args.profile:
            spy_bin = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            spy = subprocess.Popen([spy_bin, "record", "--pid", str(roles[args.profile]), "--subprocesses",
                                    "--nonblocking", "--gil", "--function", "--rate", "250",
                                    "--format", "raw",
                                    "-o", str(tmp / "profile.txt")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        calls0 = redis_calls(client)
        meter.start()
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(one, measured))
        elapsed = time.perf_counter() - started
        used = meter.stop()
        calls = {k: v - calls0.get(k, 0) for k, v in redis_calls(client).items()}
        if spy is not None:
            spy.send_signal(2)   # py-spy writes its samples on SIGINT
            spy.wait(30)
        errors = [r[2] for r in results if r[2]]
        journeys = [r[0] * 1000 for r in results if not r[2]]
        logins = [r[1] * 1000 for r in results if not r[2]]
        print("complete logins over HTTP "
              "(landing → code → SMS from outbox → login on the simulated AC via RADIUS)")
        print(f"  machine: {os.cpu_count()} cores; web {args.web_workers} gthread workers × "
              f"{args.threads} threads; RADIUS {args.radius_workers} worker(s); "
              f"concurrency {args.concurrency}")
        print(f"  {len(results)} phones in {elapsed:.2f} s: {len(logins) / elapsed:.0f} logins/s, "
              f"{len(errors)} errors" + (f" (first: {errors[0]})" if errors else ""))
        if logins:
            print(f"  login POST latency: p50 {statistics.median(logins):.1f} ms, "
                  f"p99 {percentile(logins, 99):.1f} ms")
            print(f"  whole journey:      p50 {statistics.median(journeys):.1f} ms, "
                  f"p99 {percentile(journeys, 99):.1f} ms")
        print(f"  load average at start {load0:.2f}, at end {os.getloadavg()[0]:.2f}")
        print("\n".join(CpuMeter.report(used, len(results), "login", SERVER, meter.kernel)))
        n = len(results)
        busiest = sorted(calls.items(), key=lambda kv: -kv[1])[:12]
        print(f"  Redis commands per login: {sum(calls.values()) / n:.1f} ("
              + ", ".join(f"{k} {v / n:.1f}" for k, v in busiest if v) + ")")
        if spy is not None:
            print("\n".join(top_functions(tmp / "profile.txt")))
        return 0 if not errors else 1
    finally:
        outbox.stop.set()
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        client.close()
        redis.stop()


if __name__ == "__main__":
    raise SystemExit(main())
