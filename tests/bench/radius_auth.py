#!/usr/bin/env python3
"""RADIUS benchmark: `citywifi radius` (full policy in Redis) against stock FreeRADIUS.

Runs, on this machine and in one go:

1. Debian's FreeRADIUS 3.2.1 (files module, one user; unprivileged on loopback, TESTING.md) and
   `citywifi radius --workers N` (per-MAC credentials, blocklist, plan/quota check, vendor
   rate attributes — every lookup in Redis), both loaded by the same `radclient` command
   (100 distinct packets, `-p` in flight): Access-Requests/s and the ratio.
2. p99 reply latency of citywifi at half its measured rate (radclient `-n` background load,
   plus a Python probe sending fresh requests and timing each reply).
3. Accounting Interim-Updates/s for both (citywifi: R2's processor, durable in Redis).
4. Redis memory per online session with 100,000 sessions (R2's SessionRegistry).

    python3 tests/bench/radius_auth.py [--requests 100000] [--trials 3] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from portal.aaa.acs import AcRecord, AcRegistry  # noqa: E402
from portal.aaa.credentials import CredentialStore  # noqa: E402
from portal.aaa.grants import ClassSigner  # noqa: E402
from portal.aaa.plans import Plan, PlanStore  # noqa: E402
from portal.state import keys  # noqa: E402
from portal.state.embedded import EmbeddedRedis  # noqa: E402
from tests.bench.session_memory import write_sessions  # noqa: E402

SECRET = "testing123"          # FreeRADIUS's stock localhost client secret; same for both
CLASS_KEY = "bench-class-key-0123456789abcdef"   # radius.class_key: accounting carries signed Class
FR_USER, FR_PASS = "13800138000", "pass1234"
LOADGEN_CPU = [0.0]            # CPU seconds of the last radclient run


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_policy(r: Any) -> None:
    """The bench's AC (127.0.0.1, Huawei) and default plan, in Redis."""
    AcRegistry(r).put(AcRecord(name="bench-ac", addresses=("127.0.0.1",), secret=SECRET,
                               vendor="huawei-v2"))
    plans = PlanStore(r)
    plans.put(Plan(name="basic", up_kbps=2000, down_kbps=8000, session_timeout=7200,
                   idle_timeout=600, daily_time=4 * 3600, max_sessions=3, interim_interval=300))
    plans.assign("default", "", "basic")


# --- FreeRADIUS as an unprivileged loopback peer (TESTING.md) --------------------------------

def freeradius_config(base: Path, auth_port: int, acct_port: int) -> Path:
    conf = base / "raddb"
    shutil.copytree("/etc/freeradius/3.0", conf, symlinks=True)
    (base / "log").mkdir()
    (base / "run").mkdir()
    text = (conf / "radiusd.conf").read_text()
    text = re.sub(r"(?m)^logdir = .*$", f"logdir = {base / 'log'}", text)
    text = re.sub(r"(?m)^raddbdir = .*$", f"raddbdir = {conf}", text)
    text = re.sub(r"(?m)^run_dir = .*$", f"run_dir = {base / 'run'}", text)
    text = re.sub(r"(?m)^(\s*)(user|group) = ", r"\1#\2 = ", text)
    text = re.sub(r"(?m)^proxy_requests\s*=.*$", "proxy_requests = no", text)
    (conf / "radiusd.conf").write_text(text)
    (conf / "sites-enabled" / "inner-tunnel").unlink(missing_ok=True)
    site = (conf / "sites-available" / "default").read_text().splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(site):
        line = site[i]
        if line.startswith("listen {"):
            depth, block = 0, []
            while True:
                block.append(site[i])
                depth += site[i].count("{") - site[i].count("}")
                i += 1
                if depth == 0:
                    break
            body = "".join(block)
            if re.search(r"(?m)^\s*ipv6addr", body):
                continue   # loopback IPv4 only
            port = auth_port if re.search(r"(?m)^\s*type = auth", body) else acct_port
            body = re.sub(r"(?m)^(\s*)ipaddr = \*", r"\1ipaddr = 127.0.0.1", body)
            body = re.sub(r"(?m)^(\s*)port = 0", rf"\g<1>port = {port}", body)
            out.append(body)
            continue
        out.append(line)
        i += 1
    (conf / "sites-enabled" / "default").unlink()
    (conf / "sites-enabled" / "default").write_text("".join(out))
    users = conf / "mods-config" / "files" / "authorize"
    users.write_text(f'{FR_USER} Cleartext-Password := "{FR_PASS}"\n' + users.read_text())
    return conf


# --- load files --------------------------------------------------------------------------------

def write_packets(path: Path, entries: list[str]) -> Path:
    path.write_text("\n\n".join(entries) + "\n")
    return path


def radclient(port: int, kind: str, packets: Path, count: int, parallel: int,
              rate: int | None = None, timeout: float = 3,
              retries: int = 3) -> tuple[float, dict[str, int]]:
    cmd = ["radclient", "-q", "-s", "-t", str(timeout), "-r", str(retries), "-c", str(count),
           "-p", str(parallel), "-f", str(packets)]
    if rate:
        cmd += ["-n", str(rate)]
    cmd += [f"127.0.0.1:{port}", kind, SECRET]
    t0 = time.perf_counter()
    u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - t0
    u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    LOADGEN_CPU[0] = u1.ru_utime + u1.ru_stime - u0.ru_utime - u0.ru_stime
    summary = {k.lower(): int(v) for k, v in re.findall(r"(Accepted|Rejected|Lost)\s*:\s*(\d+)", proc.stdout)}
    return elapsed, summary


def wait_udp(port: int, packets: Path, what: str) -> None:
    for _ in range(60):
        _, s = radclient(port, "auth", packets, 1, 1, timeout=0.5, retries=1)
        if s.get("accepted"):
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up on port {port}")


# --- latency probe -----------------------------------------------------------------------------

def probe_latency(port: int, user: str, password: str, mac: str, rate: float, seconds: float) -> list[float]:
    from pyrad.packet import AuthPacket

    from radius.dictionary import load_dictionary

    d = load_dictionary()
    lat: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(1.0)
        end = time.perf_counter() + seconds
        nxt = time.perf_counter()
        ident = 0
        while time.perf_counter() < end:
            pkt = AuthPacket(id=ident, secret=SECRET.encode(), dict=d)
            ident = (ident + 1) % 256
            pkt["User-Name"] = user
            pkt["User-Password"] = pkt.PwCrypt(password)
            pkt["Calling-Station-Id"] = mac
            pkt.add_message_authenticator()
            raw = pkt.RequestPacket()
            t0 = time.perf_counter()
            sock.sendto(raw, ("127.0.0.1", port))
            try:
                sock.recv(4096)
                lat.append(time.perf_counter() - t0)
            except TimeoutError:
                lat.append(1.0)
            nxt += 1.0 / rate
            pause = nxt - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    return lat


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes and their children (workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{pid}/task").iterdir():
                kids = (task / "children").read_text().split()
                todo += [int(k) for k in kids]
        except (OSError, IndexError, ValueError):
            continue
    return total


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


# --- main --------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=100_000, help="Access-Requests per trial")
    ap.add_argument("--acct-requests", type=int, default=20_000, help="Interim-Updates per trial")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=25, help="radclient -p")
    # radclient busy-polls about one core whatever the server does (README), so by default the
    # server gets the rest: one worker per remaining core.
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                    help="citywifi radius workers (default: cores - 1, one core is radclient's)")
    ap.add_argument("--sessions", type=int, default=100_000, help="sessions for the memory figure")
    ap.add_argument("--skip-freeradius", action="store_true")
    ap.add_argument("--auth-only", action="store_true", help="stop after the auth figures")
    ap.add_argument("--acct-only", action="store_true", help="only the accounting figures")
    ap.add_argument("--redis-tcp", action="store_true", help="Redis on loopback TCP, not a unix socket")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="cw-radbench-"))
    procs: list[subprocess.Popen[Any]] = []
    # Redis on a unix socket, as `citywifi up` runs its embedded one (--redis-tcp: loopback TCP).
    emb = EmbeddedRedis(base / "redis", port=0 if args.redis_tcp else None).start()
    try:
        r = redis.Redis.from_url(emb.url)
        seed_policy(r)
        creds = CredentialStore(r)
        signer = ClassSigner(CLASS_KEY.encode())
        cw_auth, fr_auth, cw_acct, fr_acct = [], [], [], []
        probe_cred = None
        for i in range(100):
            phone = f"1380013{i:04d}"
            mac = f"02-00-00-00-{i // 256:02X}-{i % 256:02X}"
            cred = creds.bind_mac(mac, phone, days=30)
            probe_cred = probe_cred or (phone, cred.password, mac)
            common = f'NAS-IP-Address=127.0.0.1, NAS-Port={i}, Called-Station-Id="AC-01:CityWiFi", ' \
                     f'Calling-Station-Id="{mac}", Message-Authenticator=0x00'
            cw_auth.append(f'User-Name="{phone}", User-Password="{cred.password}", {common}')
            fr_auth.append(f'User-Name="{FR_USER}", User-Password="{FR_PASS}", {common}')
            acct = (f'User-Name="{phone}", Acct-Session-Id="bench-{i}", NAS-IP-Address=127.0.0.1, '
                    f'NAS-Port={i}, Calling-Station-Id="{mac}", Framed-IP-Address=10.1.{i // 256}.{i % 256}')
            # The Class the login's Access-Accept carried (signed for the bench AC): what real
            # ACs echo, and what citywifi books accounting by.
            cls = signer.make(phone, "basic", time.time() - 3600, "bench-ac", i.to_bytes(4, "big"))
            cw_acct.append(acct + f", Class=0x{cls.hex()}")
            fr_acct.append(acct)
        files = {
            "cw_auth": write_packets(base / "cw_auth.txt", cw_auth),
            "fr_auth": write_packets(base / "fr_auth.txt", fr_auth),
            "start": write_packets(base / "start.txt", [a + ", Acct-Status-Type=Start" for a in cw_acct]),
            "interim": write_packets(base / "interim.txt", [
                a + f", Acct-Status-Type=Interim-Update, Acct-Session-Time={60 + i}, "
                    f"Acct-Input-Octets={1000 * i}, Acct-Output-Octets={5000 * i}"
                for i, a in enumerate(cw_acct)]),
            "fr_start": write_packets(base / "fr_start.txt",
                                      [a + ", Acct-Status-Type=Start" for a in fr_acct]),
            "fr_interim": write_packets(base / "fr_interim.txt", [
                a + f", Acct-Status-Type=Interim-Update, Acct-Session-Time={60 + i}, "
                    f"Acct-Input-Octets={1000 * i}, Acct-Output-Octets={5000 * i}"
                for i, a in enumerate(fr_acct)]),
        }

        cw_ports = (free_udp_port(), free_udp_port())
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
        env.update(CITYWIFI_REDIS_URL=emb.url, PYTHONPATH=str(ROOT), CITYWIFI_LOG_LEVEL="WARNING",
                   CITYWIFI_RADIUS_CLASS_KEY=CLASS_KEY, CITYWIFI_DATA_DIR=str(base / "data"))
        cw = subprocess.Popen(
            [sys.executable, "-m", "portal.cli", "radius", "--workers", str(args.workers),
             "--host", "127.0.0.1", "--auth-port", str(cw_ports[0]), "--acct-port", str(cw_ports[1])],
            env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=open(base / "cw.log", "w"),  # noqa: SIM115
        )
        procs.append(cw)
        fr = None
        fr_ports = (free_udp_port(), free_udp_port())
        if not args.skip_freeradius:
            conf = freeradius_config(base / "fr", *fr_ports)
            fr = subprocess.Popen(["freeradius", "-f", "-d", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=open(base / "fr.log", "w"))  # noqa: SIM115
            procs.append(fr)
            wait_udp(fr_ports[0], files["fr_auth"], "FreeRADIUS")
        wait_udp(cw_ports[0], files["cw_auth"], "citywifi radius")

        per_trial = max(1, args.requests // 100)
        if not args.acct_only:
            print(f"# {args.trials} trials × {per_trial * 100} Access-Requests, "
                  f"radclient -p {args.parallel}, citywifi workers={args.workers}, "
                  f"cores={os.cpu_count()}, Redis {emb.url.split(':')[0]}")
            fr_rates, cw_rates = [], []
            redis_pid = emb.process.pid if emb.process is not None else 0
            n_req = per_trial * 100
            for t in range(args.trials):
                if fr is not None:
                    c0 = cpu_seconds([fr.pid])
                    el, s = radclient(fr_ports[0], "auth", files["fr_auth"], per_trial, args.parallel)
                    fr_rates.append(n_req / el)
                    print(f"trial {t + 1}: FreeRADIUS {fr_rates[-1]:8.0f} req/s  {s}  "
                          f"server CPU {(cpu_seconds([fr.pid]) - c0) / n_req * 1e6:.0f} us/req, "
                          f"radclient {LOADGEN_CPU[0] / n_req * 1e6:.0f} us/req")
                c0, r0 = cpu_seconds([cw.pid]), cpu_seconds([redis_pid])
                el, s = radclient(cw_ports[0], "auth", files["cw_auth"], per_trial, args.parallel)
                cw_rates.append(n_req / el)
                print(f"trial {t + 1}: citywifi   {cw_rates[-1]:8.0f} req/s  {s}  "
                      f"server CPU {(cpu_seconds([cw.pid]) - c0) / n_req * 1e6:.0f} us/req "
                      f"+ Redis {(cpu_seconds([redis_pid]) - r0) / n_req * 1e6:.0f} us/req, "
                      f"radclient {LOADGEN_CPU[0] / n_req * 1e6:.0f} us/req")
            cw_med = statistics.median(cw_rates)
            print(f"AUTH citywifi median {cw_med:.0f} req/s", end="")
            if fr_rates:
                fr_med = statistics.median(fr_rates)
                # Each trial runs both servers back to back, so a trial's own ratio is the figure
                # least disturbed by other load on a shared machine.
                pairs = [c / f for c, f in zip(cw_rates, fr_rates, strict=True)]
                trial_ratios = ", ".join(f"{x:.2f}" for x in pairs)
                print(f" | FreeRADIUS median {fr_med:.0f} req/s | ratio {cw_med / fr_med:.2f} "
                      f"(per trial {trial_ratios}; median {statistics.median(pairs):.2f})")
            else:
                print()

            if args.auth_only:
                return 0

            # Latency at half of citywifi's measured rate (background radclient + probe).
            half = int(cw_med / 2)
            probe_rate = 200
            bg_rate = max(1, half - probe_rate)
            seconds = 10.0
            bg_count = max(1, int(bg_rate * (seconds + 2) / 100))
            result: dict[str, Any] = {}

            def background() -> None:
                result["bg"] = radclient(cw_ports[0], "auth", files["cw_auth"], bg_count, args.parallel,
                                         rate=bg_rate)

            th = threading.Thread(target=background)
            th.start()
            time.sleep(1.0)
            assert probe_cred is not None
            lat = probe_latency(cw_ports[0], *probe_cred, rate=probe_rate, seconds=seconds)
            th.join()
            print(f"LATENCY at ~{half} req/s total: p50 {pct(lat, 0.5) * 1000:.2f} ms, "
                  f"p99 {pct(lat, 0.99) * 1000:.2f} ms, max {max(lat) * 1000:.2f} ms "
                  f"({len(lat)} probes; background radclient: {bg_count * 100} requests in "
                  f"{result['bg'][0]:.1f} s, {result['bg'][1]})")

        # Accounting: Start once, then Interim-Updates.
        per_acct = max(1, args.acct_requests // 100)
        radclient(cw_ports[1], "acct", files["start"], 1, 10)
        if fr is not None:
            radclient(fr_ports[1], "acct", files["fr_start"], 1, 10)
        fr_acct_rates, cw_acct_rates = [], []
        for t in range(args.trials):
            if fr is not None:
                el, s = radclient(fr_ports[1], "acct", files["fr_interim"], per_acct, args.parallel)
                fr_acct_rates.append(per_acct * 100 / el)
                print(f"acct trial {t + 1}: FreeRADIUS {fr_acct_rates[-1]:8.0f} interim/s")
            redis_pid = emb.process.pid if emb.process is not None else 0
            c0, r0 = cpu_seconds([cw.pid]), cpu_seconds([redis_pid])
            el, s = radclient(cw_ports[1], "acct", files["interim"], per_acct, args.parallel)
            cw_acct_rates.append(per_acct * 100 / el)
            n_acct = per_acct * 100
            print(f"acct trial {t + 1}: citywifi   {cw_acct_rates[-1]:8.0f} interim/s  {s}  "
                  f"server CPU {(cpu_seconds([cw.pid]) - c0) / n_acct * 1e6:.0f} us/req "
                  f"+ Redis {(cpu_seconds([redis_pid]) - r0) / n_acct * 1e6:.0f} us/req")
        cw_acct_med = statistics.median(cw_acct_rates)
        refused = sum(1 for _, f in r.xrange(keys.acct_log()) if f.get(b"k") == b"rejected")
        assert refused == 0, f"{refused} accounting records refused: the bench would measure refusals"
        print(f"ACCT citywifi median {cw_acct_med:.0f} interim/s", end="")
        if fr_acct_rates:
            fr_acct_med = statistics.median(fr_acct_rates)
            print(f" | FreeRADIUS median {fr_acct_med:.0f} interim/s | ratio {cw_acct_med / fr_acct_med:.2f}")
        else:
            print()

        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=20)
        procs.clear()

        # Redis memory per online session.
        r.flushall()
        time.sleep(0.2)
        before = int(r.info("memory")["used_memory"])
        # tests/bench/session_memory.py writes the same sessions and breaks the figure down by key
        write_sessions(r, args.sessions)
        after = int(r.info("memory")["used_memory"])
        per = (after - before) / args.sessions
        print(f"MEMORY {args.sessions} sessions: {(after - before) / 1e6:.1f} MB in Redis, "
              f"{per:.0f} bytes per session")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        emb.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
