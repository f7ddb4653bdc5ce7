"""Benchmark: the web worker's own cost of one phone login, counted in instructions.

    python3 tests/bench/web_journey.py [--journeys 200]              # CPU µs per journey, one thread
    python3 tests/bench/web_journey.py --callgrind [--journeys 40]   # instructions per journey
    python3 tests/bench/web_journey.py --profile                     # cProfile of the measured journeys

``tests/bench/login.py`` measures the whole box, but on a machine shared with other jobs its CPU
per login moves by ±20 % between runs of the same code, more than most single cuts of the web
path. This one runs the portal's WSGI app (``portal.commands.web.worker_app``, what a gunicorn
worker serves) in this process, one request at a time, against the real neighbours started as
processes on free loopback ports (embedded Redis, ``citywifi radius``, ``citywifi sms-worker``
with the file backend, ``citywifi ac-sim``), and drives the same journey as login.py: landing
(the AC's redirect URL), code request, the SMS read from the outbox, login POST (OTP → plan →
token → REQ_CHALLENGE/REQ_AUTH on the simulator → RADIUS → binding → real-name record). Under
``--callgrind`` only the requests are counted (instrumentation is off while the SMS travels):
instructions per journey are what a cut changes, whatever else the box is doing. gunicorn's own
share (request parsing, response writing, its event loop) is not in this figure.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import ipaddress
import json
import os
import pstats
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
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
from tests.bench.login import SECRET, free_port, free_udp_ports  # noqa: E402

WARMUP = 10
ROLES = ("radius", "sms-worker", "ac-sim")


class Outbox:
    """The file backend's outbox, read by the request thread itself while nothing is counted (a
    polling thread would add its own instructions to the requests' at the pace of the clock)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def wait_code(self, phone: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.folder.is_dir():
                for entry in os.scandir(self.folder):
                    if entry.name.endswith(".json"):
                        msg = json.loads(Path(entry.path).read_text(encoding="utf-8"))
                        found = re.search(r"(\d{6})", msg["text"])
                        if msg["phone"] == phone and found:
                            os.unlink(entry.path)
                            return found.group(1)
            time.sleep(0.002)
        raise TimeoutError(f"no SMS for {phone}")


class Phone:
    """One phone's side of the journey: WSGI environs as gunicorn builds them, its cookies kept."""

    def __init__(self, app: Callable[..., Any], port: int) -> None:
        self.app = app
        self.port = port
        self.cookies: dict[str, str] = {}

    def call(self, method: str, target: str, form: dict[str, str] | None = None) -> tuple[int, bytes]:
        path, _, query = target.partition("?")
        body = urllib.parse.urlencode(form).encode() if form is not None else b""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": urllib.parse.unquote(path),
            "QUERY_STRING": query, "RAW_URI": target, "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(self.port), "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "40000", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": True,
            "wsgi.multiprocess": True, "wsgi.run_once": False,
            "HTTP_HOST": f"127.0.0.1:{self.port}", "HTTP_USER_AGENT": "Mozilla/5.0 (bench)",
            "HTTP_ACCEPT": "text/html", "HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9",
        }
        if form is not None:
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
            environ["CONTENT_LENGTH"] = str(len(body))
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        seen: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            seen["status"], seen["headers"] = int(status.split()[0]), headers

        result = self.app(environ, start_response)
        try:
            page = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        for name, value in seen["headers"]:
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return seen["status"], page


def journey(phone: Phone, number: str, landing: str, outbox: Outbox, pause: Callable[[bool], None]) -> str:
    status, page = phone.call("GET", landing)
    found = re.search(rb'name="c" value="([^"]+)"', page)
    if status != 200 or found is None:
        return f"landing {status}"
    c = found.group(1).decode()
    status, _ = phone.call("POST", "/portal/code", {"c": c, "phone": number})
    if status != 200:
        return f"code {status}"
    pause(True)
    try:
        code = outbox.wait_code(number, timeout=120)
    finally:
        pause(False)
    status, page = phone.call("POST", "/portal/login", {"c": c, "phone": number, "code": code})
    if status != 200 or b'id="success"' not in page:
        return f"login {status} {re.findall(rb'data-code=.([a-z_]+)', page)[:1]}"
    return ""


def _callgrind(on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
                   check=True, capture_output=True)


def run_under_callgrind(args: argparse.Namespace) -> int:
    out = Path(tempfile.mkdtemp(prefix="cw-web-callgrind-"))
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/cg.out",
           sys.executable, __file__, "--in-callgrind", "--journeys", str(args.journeys)]
    # A fixed hash seed: set and dict layouts (and so their probing) the same in every run.
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    found = re.search(r"Collected : (\d+)", proc.stderr)
    measured = re.search(r"JOURNEYS (\d+)", proc.stdout)
    if proc.returncode != 0 or found is None or measured is None:
        print(proc.stdout, proc.stderr[-4000:], sep="\n", file=sys.stderr)
        return 1
    print(proc.stdout.strip())
    print(f"INSTRUCTIONS {int(found.group(1)) / int(measured.group(1)):,.0f} per journey "
          f"(landing + code request + login, web worker side; callgrind, requests only; {out}/cg.out)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--journeys", type=int, default=200)
    ap.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the measured journeys")
    ap.add_argument("--in-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.callgrind:
        return run_under_callgrind(args)

    tmp = Path(tempfile.mkdtemp(prefix="cw-bench-web-"))
    redis = EmbeddedRedis(tmp / "redis").start()
    auth, acct, listener_port, sim_port = free_udp_ports(4)
    web_port = free_port(socket.SOCK_STREAM)    # only named in URLs: nothing listens on it
    env = dict(os.environ, PYTHONPATH=str(ROOT), CITYWIFI_DATA_DIR=str(tmp), CITYWIFI_REDIS_URL=redis.url,
               CITYWIFI_LOG_LEVEL="WARNING",
               CITYWIFI_RADIUS_HOST="127.0.0.1", CITYWIFI_RADIUS_AUTH_PORT=str(auth),
               CITYWIFI_RADIUS_ACCT_PORT=str(acct), CITYWIFI_RADIUS_WORKERS="1",
               CITYWIFI_LISTENER_HOST="127.0.0.1", CITYWIFI_LISTENER_PORT=str(listener_port),
               CITYWIFI_WEB_HOST="127.0.0.1", CITYWIFI_WEB_PORT=str(web_port),
               CITYWIFI_WEB_PUBLIC_URL=f"http://127.0.0.1:{web_port}",
               CITYWIFI_WEB_SECRET_KEY="b" * 32, CITYWIFI_WEB_MAX_AC_LOGINS="256",
               CITYWIFI_SMS_BACKEND="file", CITYWIFI_OTP_HMAC_KEY="h" * 32,
               CITYWIFI_OTP_PER_IP_HOUR="0", CITYWIFI_OTP_PER_IP_DAY="0",
               CITYWIFI_OTP_PER_SOURCE_HOUR="0", CITYWIFI_OTP_PER_SOURCE_DAY="0",
               CITYWIFI_OTP_PER_AC_MINUTE="0", CITYWIFI_OTP_GLOBAL_PER_MINUTE="0",
               CITYWIFI_AC_SIM_PORT=str(sim_port), CITYWIFI_AC_SIM_SECRET=SECRET,
               CITYWIFI_AC_SIM_RADIUS_SECRET=SECRET, CITYWIFI_AC_SIM_RADIUS_AUTH_PORT=str(auth),
               CITYWIFI_AC_SIM_RADIUS_ACCT_PORT=str(acct), CITYWIFI_AC_SIM_PORTAL_PORT=str(listener_port),
               CITYWIFI_AC_SIM_COA_PORT="-1", CITYWIFI_AC_SIM_USERS="0")
    client = connect(RedisSettings(), redis.url)
    AcRegistry(client).put(AcRecord(name="bench-ac", addresses=("127.0.0.1",), secret=SECRET, port=sim_port,
                                    rfc5176=False, client_address_check=False))
    seed_demo_venue(client, "bench-ac")
    procs = [subprocess.Popen([sys.executable, "-m", "portal.cli", name], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
             for name in ROLES]
    outbox = Outbox(tmp / "sms-outbox")
    try:
        os.environ.update(env)          # this process is the web worker: same settings
        try:
            from portal.commands.web import worker_app
        except ImportError:             # code from before worker_app (for before/after runs)
            from portal.commands.web import build_wsgi as worker_app
        from portal.runtime.settings import load_settings

        app = worker_app(load_settings())
        time.sleep(2.0)                 # RADIUS / simulator / sms-worker start-up
        hosts = ipaddress.IPv4Network("10.64.0.0/12").hosts()
        phones = []
        for i in range(args.journeys + WARMUP):
            ip = next(hosts)
            mac = "02:00:" + ":".join(f"{b:02x}" for b in ip.packed)
            url = build_redirect_url("/portal", flavour="huawei-v2", user_ip=str(ip), user_mac=mac,
                                     ac_ip="127.0.0.1", ac_name="citywifi-ac-sim", ssid="CityWiFi",
                                     ap_mac="00:11:22:33:44:55", first_url="http://www.example.com/")
            phones.append((f"189{i:08d}", url))
        instrument = _callgrind if args.in_callgrind else (lambda on: None)
        for number, url in phones[:WARMUP]:
            error = journey(Phone(app, web_port), number, url, outbox, lambda paused: None)
            if error:
                raise SystemExit(f"warm-up journey failed: {error}")
        profiler = cProfile.Profile() if args.profile else None
        spent = 0.0

        def pause(paused: bool) -> None:    # nothing counted while the SMS travels
            nonlocal spent
            if paused:
                spent += time.thread_time() - started[0]
                if profiler is not None:
                    profiler.disable()
                instrument(False)
            else:
                instrument(True)
                if profiler is not None:
                    profiler.enable()
                started[0] = time.thread_time()

        errors = []
        started = [0.0]
        for number, url in phones[WARMUP:]:
            pause(False)
            error = journey(Phone(app, web_port), number, url, outbox, pause)
            pause(True)
            if error:
                errors.append(error)
        if errors:
            print(f"{len(errors)} journeys failed, first: {errors[0]}", file=sys.stderr)
            return 1
        print(f"JOURNEYS {args.journeys}: {spent / args.journeys * 1e6:.0f} us CPU per journey in the "
              f"request thread (landing + code request + login; gunicorn's share not included)")
        if profiler is not None:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(40)
            if os.environ.get("CW_PROFILE_OUT"):
                profiler.dump_stats(os.environ["CW_PROFILE_OUT"])
            print(text.getvalue())
        return 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        client.close()
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
