"""Soak benchmark: many simulated phones online for a long time, on one box, real processes.

    python3 tests/bench/soak.py [--phones 10000] [--duration 600] [--interim 60] [--churn 5]

Starts, on free loopback ports: an embedded Redis, ``citywifi radius``, ``citywifi ac-listener``,
``citywifi sms-worker`` (file backend) and ``citywifi web`` (gunicorn gthread), plus the AC
simulator in this process (so its counters and accounting round trips can be read). Then:

1. ramp-up: ``--phones`` phones each do the whole journey over HTTP — landing page (the AC's
   redirect URL), code request, the SMS read from the file outbox, login POST (OTP → plan →
   minted token → REQ_CHALLENGE/REQ_AUTH on the simulator → RADIUS Access-Request → Accounting
   Start → MAC binding → real-name record);
2. steady state for ``--duration`` seconds: every phone stays online and the simulator sends an
   Interim-Update for each every ``--interim`` seconds; meanwhile ``--churn`` phones per second
   log out (POST /portal/logout → REQ_LOGOUT → Accounting Stop) and as many new phones arrive
   and log in, so the online population stays at ``--phones``.

Prints throughput, latency percentiles (p50/p95/p99) of the journey, the login POST, the logout
POST and the simulator's Accounting round trip (Start/Interim/Stop), the RSS of every process
(each gunicorn and RADIUS worker separately) at start, after the ramp and at the end, and
Redis ``used_memory`` at the same points — growth from ramp to end with a constant population
is either retained logs (real-name/accounting streams, which grow by design until archived) or a
leak. Every process is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import queue
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ac_adapters.simulator import SimConfig, SimulatedAc, build_redirect_url  # noqa: E402
from portal.aaa.acs import AcRecord, AcRegistry  # noqa: E402
from portal.runtime.demo import seed_demo_venue  # noqa: E402
from portal.runtime.settings import RedisSettings  # noqa: E402
from portal.state import keys  # noqa: E402
from portal.state.connection import connect  # noqa: E402
from portal.state.embedded import EmbeddedRedis  # noqa: E402
from tests.bench.phone_http import PhoneConnection, form_body, get_request, post_request  # noqa: E402

SECRET = "soak-secret-0123456789"
NET = ipaddress.IPv4Network("10.64.0.0/12")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Outbox(threading.Thread):
    """Reads (and deletes) the file backend's messages: phone → newest code. Deleting keeps the
    directory small, so a scan stays cheap after hundreds of thousands of messages."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.codes: dict[str, str] = {}
        self.cond = threading.Condition()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.01):
            if not self.folder.is_dir():
                continue
            found = {}
            with os.scandir(self.folder) as entries:
                names = [e.name for e in entries if e.name.endswith(".json")]
            for name in names:
                path = self.folder / name
                try:
                    msg = json.loads(path.read_text(encoding="utf-8"))
                    path.unlink()
                except (OSError, ValueError):
                    continue   # still being written: next scan
                m = re.search(r"(\d{6})", msg["text"])
                if m:
                    found[msg["phone"]] = m.group(1)
            if found:
                with self.cond:
                    self.codes.update(found)
                    self.cond.notify_all()

    def wait_code(self, phone: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        with self.cond:
            while phone not in self.codes:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no SMS for {phone}")
                self.cond.wait(left)
            return self.codes.pop(phone)


def http_call(port: int, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        data = urllib.parse.urlencode(body).encode() if body is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if data else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def fmt_lat(name: str, values: list[float]) -> str:
    return (f"  {name:<22} n={len(values):>7}  p50 {pct(values, 50):7.1f} ms  p95 {pct(values, 95):7.1f} ms"
            f"  p99 {pct(values, 99):7.1f} ms")


class Recorder:
    """Latencies (ms) and errors per phase and kind; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phase = "ramp"
        self.lat: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.count: dict[tuple[str, str], int] = defaultdict(int)
        self.errors: dict[tuple[str, str], list[str]] = defaultdict(list)

    def ok(self, kind: str, ms: float) -> None:
        with self.lock:
            self.lat[(self.phase, kind)].append(ms)
            self.count[(self.phase, kind)] += 1

    def error(self, kind: str, what: str) -> None:
        with self.lock:
            self.errors[(self.phase, kind)].append(what)


def process_tree(roots: dict[str, int]) -> dict[str, int]:
    """name → pid for each root and its descendants (gunicorn / RADIUS workers)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out = {}
    for name, pid in roots.items():
        out[name] = pid
        if pid == os.getpid():
            continue   # the driver's children are the services themselves
        kids = sorted(p for p, pp in parent.items() if pp == pid)
        for i, kid in enumerate(kids, 1):
            out[f"{name}/worker{i}"] = kid
    return out


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phones", type=int, default=10000, help="phones online in the steady state")
    ap.add_argument("--duration", type=float, default=600, help="steady-state seconds")
    ap.add_argument("--interim", type=float, default=60, help="seconds between Interim-Updates per phone")
    ap.add_argument("--churn", type=float, default=5, help="logouts (and as many new logins) per second")
    ap.add_argument("--concurrency", type=int, default=24, help="phones logging in at once (ramp)")
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--radius-workers", type=int, default=1)
    ap.add_argument("--report-every", type=float, default=60)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cw-soak-"))
    redis_server = EmbeddedRedis(tmp / "redis").start()
    client = connect(RedisSettings(), redis_server.url)
    web_port, auth, acct, listener_port = free_port(socket.SOCK_STREAM), free_port(), free_port(), free_port()

    sim = SimulatedAc(SimConfig(
        port=0, secret=SECRET.encode(), radius_secret=SECRET.encode(), radius_auth_port=auth,
        radius_acct_port=acct, portal_port=listener_port, coa_port=None, interim_interval=args.interim,
        radius_timeout=3.0, tick=0.05,
    ))
    rec = Recorder()
    acct_lat: dict[str, list[float]] = defaultdict(list)
    acct_lock = threading.Lock()
    sim.start()
    radius = sim._radius
    assert radius is not None
    original_send = radius.send

    def timed_send(pkt: Any, callback: Any, accounting: bool = False, **kw: Any) -> Any:
        """Wrap the simulator's RADIUS client: the Accounting round trip, by status type."""
        if not accounting:
            return original_send(pkt, callback, accounting=accounting, **kw)
        status = {1: "Start", 2: "Stop", 3: "Interim-Update"}.get(pkt["Acct-Status-Type"][0], "other")
        t0 = time.perf_counter()

        def done(reply: Any) -> None:
            if reply is not None:
                with acct_lock:
                    acct_lat[f"{rec.phase}/{status}"].append((time.perf_counter() - t0) * 1000)
            callback(reply)

        return original_send(pkt, done, accounting=accounting, **kw)

    radius.send = timed_send  # type: ignore[method-assign,assignment]

    AcRegistry(client).put(AcRecord(name="soak-ac", addresses=("127.0.0.1",), secret=SECRET, port=sim.port,
                                    rfc5176=False, client_address_check=False))
    seed_demo_venue(client, "soak-ac")
    env = dict(os.environ, PYTHONPATH=str(ROOT), CITYWIFI_DATA_DIR=str(tmp),
               CITYWIFI_REDIS_URL=redis_server.url,
               CITYWIFI_LOG_LEVEL="WARNING",
               CITYWIFI_RADIUS_HOST="127.0.0.1", CITYWIFI_RADIUS_AUTH_PORT=str(auth),
               CITYWIFI_RADIUS_ACCT_PORT=str(acct), CITYWIFI_RADIUS_WORKERS=str(args.radius_workers),
               CITYWIFI_LISTENER_HOST="127.0.0.1", CITYWIFI_LISTENER_PORT=str(listener_port),
               CITYWIFI_WEB_HOST="127.0.0.1", CITYWIFI_WEB_PORT=str(web_port),
               CITYWIFI_WEB_PUBLIC_URL=f"http://127.0.0.1:{web_port}",
               CITYWIFI_WEB_WORKERS=str(args.web_workers), CITYWIFI_WEB_THREADS=str(args.threads),
               CITYWIFI_WEB_SECRET_KEY="s" * 32, CITYWIFI_WEB_MAX_AC_LOGINS="256",
               CITYWIFI_SMS_BACKEND="file", CITYWIFI_OTP_HMAC_KEY="h" * 32,
               CITYWIFI_OTP_PER_IP_HOUR="0", CITYWIFI_OTP_PER_IP_DAY="0",
               CITYWIFI_OTP_PER_SOURCE_HOUR="0", CITYWIFI_OTP_PER_SOURCE_DAY="0",
               CITYWIFI_OTP_PER_AC_MINUTE="0",
               CITYWIFI_OTP_GLOBAL_PER_MINUTE="0")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = tmp / "logs"
    logs.mkdir()
    for name in ("radius", "sms-worker", "ac-listener", "web"):
        out = open(logs / f"{name}.log", "wb")  # noqa: SIM115
        procs[name] = subprocess.Popen([sys.executable, "-m", "portal.cli", name], env=env, stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    outbox = Outbox(tmp / "sms-outbox")
    outbox.start()
    hosts = NET.hosts()
    next_phone = [0]
    phone_lock = threading.Lock()
    online: dict[int, str] = {}       # phone index → status token "s"
    online_lock = threading.Lock()

    def new_phone() -> tuple[int, str, str]:
        with phone_lock:
            i = next_phone[0]
            next_phone[0] += 1
            ip = next(hosts)
        mac = "02:00:" + ":".join(f"{b:02x}" for b in ip.packed)
        url = build_redirect_url("/portal", flavour="huawei-v2", user_ip=str(ip), user_mac=mac,
                                 ac_ip="127.0.0.1", ac_name="citywifi-ac-sim", ssid="CityWiFi",
                                 ap_mac="00:11:22:33:44:55", first_url="http://www.example.com/")
        return i, f"189{i:08d}", url

    def login() -> None:
        # One keep-alive connection per phone through its journey, as a browser keeps one
        # (tests/bench/phone_http.py): the generator shares the cores it measures.
        i, number, url = new_phone()
        host = f"127.0.0.1:{web_port}"
        conn = PhoneConnection(web_port)
        t0 = time.perf_counter()
        try:
            status, _, raw = conn.request(get_request(url, host))
            at = raw.find(b'name="c" value="')
            if status != 200 or at < 0:
                rec.error("login", f"landing {status}")
                return
            c = raw[at + 16:raw.find(b'"', at + 16)].decode()
            body = form_body({"c": c, "phone": number})
            status, _, _ = conn.request(post_request("/portal/code", body, host))
            if status != 200:
                rec.error("login", f"code {status}")
                return
            code = outbox.wait_code(number)
            t1 = time.perf_counter()
            form = form_body({"c": c, "phone": number, "code": code})
            status, _, raw = conn.request(post_request("/portal/login", form, host))
            t2 = time.perf_counter()
        except (OSError, TimeoutError) as exc:
            rec.error("login", type(exc).__name__)
            return
        finally:
            conn.close()
        page = raw.decode()
        s = re.search(r"/portal/status\?s=([^&\"']+)", page)
        if status != 200 or 'id="success"' not in page or not s:
            rec.error("login", f"login {status} {re.findall(r'data-code=.([a-z_]+)', page)[:1]}")
            return
        rec.ok("journey", (t2 - t0) * 1000)
        rec.ok("login POST", (t2 - t1) * 1000)
        with online_lock:
            online[i] = urllib.parse.unquote(s.group(1))

    def logout() -> None:
        with online_lock:
            if not online:
                return
            i = random.choice(list(online)) if len(online) < 1000 else next(iter(online))
            token = online.pop(i)
        t0 = time.perf_counter()
        try:
            status, page = http_call(web_port, "POST", "/portal/logout", {"s": token})
        except OSError as exc:
            rec.error("logout", type(exc).__name__)
            return
        if status != 200 or "data-code" in page:
            rec.error("logout", f"logout {status} {re.findall(r'data-code=.([a-z_]+)', page)[:1]}")
            return
        rec.ok("logout POST", (time.perf_counter() - t0) * 1000)

    assert redis_server.process is not None
    redis_pid = redis_server.process.pid

    def snapshot(label: str) -> dict[str, Any]:
        roots = {name: p.pid for name, p in procs.items()}
        tree = process_tree(roots | {"redis": redis_pid, "driver+ac-sim": os.getpid()})
        info = client.info("memory")
        return {"label": label, "rss": {n: rss_mb(pid) for n, pid in tree.items()},
                "redis_used": info["used_memory"] / 2**20, "online": len(online),
                "sessions_online": sim_online(), "acctlog": client.xlen(keys.acct_log())}

    def sim_online() -> int:
        return len(sim.online())

    snaps: list[dict[str, Any]] = []
    stop_reporter = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if http_call(web_port, "GET", "/generate_204")[0] in (204, 302):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"web did not start; see {logs}")
            time.sleep(0.2)
        time.sleep(1.5)
        snaps.append(snapshot("start"))
        print(f"soak: {args.phones} phones, interim {args.interim:g} s, churn {args.churn:g}/s, "
              f"{args.duration:g} s steady; {os.cpu_count()} cores; web {args.web_workers}×{args.threads}, "
              f"RADIUS {args.radius_workers} worker(s); logs in {logs}", flush=True)

        def reporter() -> None:
            t0 = time.monotonic()
            while not stop_reporter.wait(args.report_every):
                s = snapshot(f"t+{time.monotonic() - t0:.0f}s")
                with rec.lock:
                    done = {k: v for k, v in rec.count.items()}
                    errs = {k: len(v) for k, v in rec.errors.items()}
                print(f"  [{s['label']} {rec.phase}] online {s['online']} (sim {s['sessions_online']}), "
                      f"redis {s['redis_used']:.0f} MiB, acct log {s['acctlog']}, done {done}, "
                      f"errors {errs}, "
                      f"sim {dict(sim.stats)}", flush=True)
                sim.accounting_log.clear()   # the simulator's own record of what it sent (unbounded)

        threading.Thread(target=reporter, daemon=True).start()

        # 1. ramp-up
        t_ramp = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            for f in [pool.submit(login) for _ in range(args.phones)]:
                f.result()
        ramp_s = time.perf_counter() - t_ramp
        snaps.append(snapshot("after ramp"))
        rec.phase = "steady"

        # 2. steady state: constant population, churn logouts + logins per second
        work: queue.Queue[Any] = queue.Queue()

        def worker() -> None:
            while True:
                job = work.get()
                if job is None:
                    return
                job()

        workers = [threading.Thread(target=worker, daemon=True) for _ in range(args.concurrency)]
        for w in workers:
            w.start()
        t_steady = time.perf_counter()
        end = time.monotonic() + args.duration
        interval = 1.0 / args.churn if args.churn > 0 else None
        next_at = time.monotonic()
        late = 0
        while time.monotonic() < end:
            if interval is None:
                time.sleep(min(1.0, end - time.monotonic()))
                continue
            now = time.monotonic()
            if now < next_at:
                time.sleep(min(next_at - now, 0.1))
                continue
            if work.qsize() > args.concurrency * 4:
                late += 1     # the system cannot keep up with this churn: do not pile up
            else:
                work.put(logout)
                work.put(login)
            next_at += interval
        for _ in workers:
            work.put(None)
        for w in workers:
            w.join(120)
        steady_s = time.perf_counter() - t_steady
        stop_reporter.set()
        time.sleep(args.interim / 10)
        snaps.append(snapshot("end"))

        # --- report ---------------------------------------------------------------------------
        print("\nresults")
        ramp_logins = rec.count[("ramp", "journey")]
        print(f"  ramp-up: {ramp_logins} logins in {ramp_s:.1f} s = {ramp_logins / ramp_s:.0f} logins/s "
              f"(concurrency {args.concurrency}); errors: {len(rec.errors[('ramp', 'login')])}"
              + (f" (first {rec.errors[('ramp', 'login')][0]})" if rec.errors[("ramp", "login")] else ""))
        sl, so = rec.count[("steady", "journey")], rec.count[("steady", "logout POST")]
        with acct_lock:
            interims = len(acct_lat["steady/Interim-Update"])
        print(f"  steady {steady_s:.0f} s: {sl / steady_s:.1f} logins/s, {so / steady_s:.1f} logouts/s, "
              f"{interims / steady_s:.0f} Interim-Updates/s answered ({interims} total); churn ticks skipped "
              f"(system behind): {late}; errors: login {len(rec.errors[('steady', 'login')])}, "
              f"logout {len(rec.errors[('steady', 'logout')])}")
        for phase in ("ramp", "steady"):
            print(f" {phase} latency:")
            for kind in ("journey", "login POST", "logout POST"):
                if rec.lat[(phase, kind)]:
                    print(fmt_lat(kind, rec.lat[(phase, kind)]))
            for status in ("Start", "Interim-Update", "Stop"):
                with acct_lock:
                    values = list(acct_lat[f"{phase}/{status}"])
                if values:
                    print(fmt_lat(f"acct {status}", values))
        print(f"  simulator: {dict(sim.stats)}; RADIUS client {radius.stats}")
        print(" memory (RSS MiB):")
        names = list(snaps[-1]["rss"])
        print("  " + f"{'process':<22}" + "".join(f"{s['label']:>14}" for s in snaps))
        for n in names:
            print("  " + f"{n:<22}" + "".join(f"{s['rss'].get(n, float('nan')):>14.1f}" for s in snaps))
        print("  " + f"{'redis used_memory':<22}" + "".join(f"{s['redis_used']:>14.1f}" for s in snaps))
        print("  " + f"{'acct log entries':<22}" + "".join(f"{s['acctlog']:>14}" for s in snaps))
        print("  " + f"{'online (sim)':<22}" + "".join(f"{s['sessions_online']:>14}" for s in snaps))
        errors = sum(len(v) for v in rec.errors.values())
        return 0 if errors == 0 else 1
    finally:
        stop_reporter.set()
        outbox.stop.set()
        sim.stop(send_stop=False, wait=0.5)
        for proc in reversed(list(procs.values())):
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        client.close()
        redis_server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
