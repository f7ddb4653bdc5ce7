"""Several citywifi nodes as real processes on loopback, for the scale-out and fault tests.

``MultiNode`` starts, against one Redis (a single server, a Redis Cluster seed node, or a
Sentinel group): N ``citywifi web`` nodes (gunicorn), N ``citywifi radius`` nodes, one
``citywifi ac-listener`` and one ``citywifi sms-worker`` (file backend) — each the ordinary
subcommand with its own ``CITYWIFI_*`` environment — plus the AC simulator in this process,
configured with every RADIUS node as its server group. ``journey()`` drives one phone over HTTP
like a real one: landing page → code → code read from the outbox → login, optionally through
different nodes. Every process is stopped (by PID / its own process group) in ``stop()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ac_adapters.simulator import SimConfig, SimulatedAc
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.plans import Plan, PlanStore
from portal.runtime.settings import RedisSettings
from portal.state import connect
from portal.venues.venue_store import Venue, VenueStore
from tests.conftest import free_tcp_port, free_udp_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "multinode-secret-0123456789"
AC_NAME = "sim-ac"
SSID = "CityWiFi"


def phone(i: int) -> str:
    """A China Telecom number (the default number policy allows telecom only)."""
    return f"189{i:08d}"


def device(i: int) -> tuple[str, str]:
    """(IP, MAC) of simulated device ``i``."""
    return (f"10.{40 + i // 60000}.{(i // 250) % 240}.{i % 250 + 2}",
            f"02:6e:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:01")


def wait_for(pred: Callable[[], object], timeout: float = 10.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if pred():
                return True
        time.sleep(step)
    return bool(pred())


@dataclass
class Node:
    """One citywifi subcommand process."""

    name: str
    command: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "portal.cli", self.command], env=self.env, cwd=self.log_path.parent,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def children(self) -> list[int]:
        """PIDs of this node's direct children (RADIUS workers, gunicorn workers)."""
        if self.process is None:
            return []
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def kill9(self) -> None:
        """SIGKILL the node's main process (a crash: no shutdown code runs)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Whatever it left behind in its own session (orphaned workers after a kill -9).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class Outbox(threading.Thread):
    """Watches the file SMS backend's outbox: phone → codes in arrival order."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.codes: dict[str, list[str]] = {}
        self.seen: set[str] = set()
        self.cond = threading.Condition()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.01):
            if not self.folder.is_dir():
                continue
            with os.scandir(self.folder) as entries:
                fresh = sorted(e.name for e in entries
                               if e.name.endswith(".json") and e.name not in self.seen)
            found: list[tuple[str, str]] = []
            for name in fresh:
                try:
                    msg = json.loads((self.folder / name).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue          # still being written: next round
                self.seen.add(name)
                m = re.search(r"(\d{6})", msg.get("text", ""))
                if m:
                    found.append((msg["phone"], m.group(1)))
            if found:
                with self.cond:
                    for number, code in found:
                        self.codes.setdefault(number, []).append(code)
                    self.cond.notify_all()

    def wait_code(self, number: str, timeout: float = 20.0) -> str | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.codes.get(number):
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.codes[number].pop(0)


@dataclass
class Outcome:
    """What one phone saw. ``ok`` = the success page came back (the login was confirmed)."""

    phone: str
    ip: str
    mac: str
    ok: bool = False
    stage: str = ""          # landing / code / sms / login where it failed
    error: str = ""          # error code from the page, "http-<status>", or an exception name
    started: float = 0.0
    ended: float = 0.0
    nodes: tuple[int, int] = (0, 0)
    extra: dict[str, Any] = field(default_factory=dict)


def _error_of(resp: requests.Response) -> str:
    m = re.search(r'data-code="([^"]+)"', resp.text)
    return m.group(1) if m else f"http-{resp.status_code}"


class MultiNode:
    """The whole system over several nodes; see the module docstring."""

    def __init__(self, root: Path, redis_url: str, *, cluster: bool = False,
                 sentinels: tuple[str, ...] = (), sentinel_master: str = "citywifi", web_nodes: int = 2,
                 radius_nodes: int = 2, plan: Plan | None = None, env: dict[str, str] | None = None,
                 radius_timeout: float = 2.0, sim: dict[str, Any] | None = None) -> None:
        self.root = root
        self.redis_url = redis_url
        self.redis_settings = RedisSettings(url=redis_url, cluster=cluster, sentinels=sentinels,
                                            sentinel_master=sentinel_master, socket_timeout=2.0)
        self.data = root / "data"
        self.logs = root / "logs"
        self.data.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.web_ports = [free_tcp_port() for _ in range(web_nodes)]
        self.radius_ports = [(free_udp_port(), free_udp_port()) for _ in range(radius_nodes)]
        self.listener_port = free_udp_port()
        self.plan = plan or Plan(name="basic", title_zh="基础套餐", up_kbps=2000, down_kbps=8000,
                                 daily_time=4 * 3600, max_sessions=3, mac_binding_days=7)
        self.radius_timeout = radius_timeout
        self.sim_options = sim or {}
        base = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
        base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))
        base.update({
            "CITYWIFI_DATA_DIR": str(self.data), "CITYWIFI_REDIS_URL": redis_url,
            "CITYWIFI_REDIS_CLUSTER": "true" if cluster else "false",
            "CITYWIFI_REDIS_SENTINELS": ",".join(sentinels),
            "CITYWIFI_REDIS_SENTINEL_MASTER": sentinel_master,
            "CITYWIFI_LOG_LEVEL": "INFO",
            "CITYWIFI_WEB_HOST": "127.0.0.1", "CITYWIFI_WEB_WORKERS": "1", "CITYWIFI_WEB_THREADS": "16",
            "CITYWIFI_WEB_SECRET_KEY": "m" * 32, "CITYWIFI_WEB_MAX_AC_LOGINS": "128",
            "CITYWIFI_OTP_HMAC_KEY": "h" * 32, "CITYWIFI_OTP_RESEND_COOLDOWN": "0",
            "CITYWIFI_OTP_PER_IP_HOUR": "0", "CITYWIFI_OTP_PER_IP_DAY": "0",
            "CITYWIFI_OTP_PER_SOURCE_HOUR": "0", "CITYWIFI_OTP_PER_SOURCE_DAY": "0",
            "CITYWIFI_OTP_PER_AC_MINUTE": "0", "CITYWIFI_OTP_GLOBAL_PER_MINUTE": "0",
            "CITYWIFI_OTP_PER_PHONE_HOUR": "0", "CITYWIFI_OTP_PER_PHONE_DAY": "0",
            "CITYWIFI_SMS_BACKEND": "file", "CITYWIFI_SMS_CLAIM_IDLE": "3",
            "CITYWIFI_RADIUS_HOST": "127.0.0.1", "CITYWIFI_RADIUS_WORKERS": "1",
            "CITYWIFI_RADIUS_AC_CACHE_TTL": "1",
            "CITYWIFI_QUOTA_PLAN_CACHE_TTL": "0.5",
            "CITYWIFI_LISTENER_HOST": "127.0.0.1", "CITYWIFI_LISTENER_PORT": str(self.listener_port),
            "CITYWIFI_PORTAL_CLIENT_SOURCE_HOST": "127.0.0.1",
        })
        base.update(env or {})
        self.env = base
        self.nodes: dict[str, Node] = {}
        for i, port in enumerate(self.web_ports):
            self._add(f"web{i}", "web", CITYWIFI_WEB_PORT=str(port),
                      CITYWIFI_WEB_PUBLIC_URL=f"http://127.0.0.1:{port}")
        for i, (auth, acct) in enumerate(self.radius_ports):
            self._add(f"radius{i}", "radius", CITYWIFI_RADIUS_AUTH_PORT=str(auth),
                      CITYWIFI_RADIUS_ACCT_PORT=str(acct))
        self._add("listener", "ac-listener")
        self._add("sms", "sms-worker")
        self.outbox = Outbox(self.data / "sms-outbox")
        self.ac: SimulatedAc | None = None
        self.redis: Any = None

    def _add(self, name: str, command: str, **env: str) -> None:
        self.nodes[name] = Node(name, command, {**self.env, **env}, self.logs / f"{name}.log")

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> MultiNode:
        try:
            self.redis = connect(self.redis_settings)
            first, *others = self.radius_ports
            cfg = SimConfig(
                port=0, secret=SECRET.encode(), radius_secret=SECRET.encode(),
                radius_auth_port=first[0], radius_acct_port=first[1],
                radius_fallbacks=tuple(("127.0.0.1", a, b) for a, b in others), radius_balance=True,
                radius_timeout=self.radius_timeout, radius_retries=4, radius_dead_time=5.0,
                portal_port=self.listener_port, ssid=SSID, coa_port=0, tick=0.02,
                **self.sim_options)
            self.ac = SimulatedAc(cfg).start()
            # Simulated phones played from loopback: the portal cannot see their addresses (NAT).
            AcRegistry(self.redis).put(AcRecord(name=AC_NAME, addresses=("127.0.0.1",), secret=SECRET,
                                                port=self.ac.port, rfc5176=True,
                                                coa_port=self.ac.coa_port or 3799,
                                                client_address_check=False))
            plans = PlanStore(self.redis, cache_ttl=0.0)
            plans.put(self.plan)
            plans.assign("default", "", self.plan.name)
            VenueStore(self.redis, cache_ttl=0.0).put(Venue(
                id="plaza", name_zh="市民广场", name_en="City Plaza", acs=(AC_NAME,), ssids=(SSID,),
                redirect_delay=1, ad_seconds=1))
            for node in self.nodes.values():
                node.start()
            self.outbox.start()
            for port in self.web_ports:
                self.wait_web(port, timeout)
            for auth, _acct in self.radius_ports:
                self.wait_radius(auth, timeout)
            # The listener and the sms-worker take a moment longer than gunicorn sometimes.
            time.sleep(0.5)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_web(self, port: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{port}/generate_204", timeout=2,
                                allow_redirects=False).status_code in (204, 302):
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"web on {port} did not start:\n{self.logs_text()}")
            time.sleep(0.2)

    def wait_radius(self, port: int, timeout: float = 60.0) -> None:
        """Until the RADIUS node on ``port`` answers Status-Server (RFC 5997), which it does
        only once it can reach Redis: the first phones must not find it cold."""
        from pyrad.packet import AuthPacket

        from ac_adapters.simulator.radius_client import load_dictionary

        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            while True:
                pkt = AuthPacket(code=12, secret=SECRET.encode(), dict=load_dictionary())
                pkt.add_message_authenticator()
                sock.sendto(pkt.RequestPacket(), ("127.0.0.1", port))
                with contextlib.suppress(OSError):
                    if sock.recv(4096):
                        break
                if time.monotonic() > deadline:
                    raise AssertionError(f"RADIUS on {port} did not answer:\n{self.logs_text()}")
            # Warm every worker's policy path (first Redis connections, cluster slot maps,
            # scripts): Access-Requests for an unknown phone, answered by rejects. A cold first
            # login slower than the simulator's timeout would mark the node dead for a while.
            answered = 0
            for _ in range(8):
                pkt = AuthPacket(code=1, secret=SECRET.encode(), dict=load_dictionary(),
                                 User_Name="10000000000", NAS_IP_Address="127.0.0.1")
                pkt["User-Password"] = pkt.PwCrypt("warm-up")
                pkt.add_message_authenticator()
                sock.sendto(pkt.RequestPacket(), ("127.0.0.1", port))
                while time.monotonic() < deadline:
                    with contextlib.suppress(OSError):
                        if sock.recv(4096):
                            answered += 1
                            break
                    sock.sendto(pkt.RequestPacket(), ("127.0.0.1", port))   # same packet again
            if answered < 8:
                raise AssertionError(f"RADIUS on {port} did not answer Access-Requests:\n{self.logs_text()}")

    def stop(self) -> None:
        if self.ac is not None:
            self.ac.stop(wait=1.0)
            self.ac = None
        for node in reversed(list(self.nodes.values())):
            node.stop()
        self.outbox.halt.set()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.close()

    def __enter__(self) -> MultiNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def logs_text(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {n.name}\n{n.log()[-tail:]}" for n in self.nodes.values())

    def tracebacks(self) -> dict[str, str]:
        """Node name → its log from a little before the first Python traceback."""
        found = {}
        for n in self.nodes.values():
            text = n.log()
            at = text.find("Traceback")
            if at >= 0:
                found[n.name] = text[max(0, at - 400):at + 2500]
        return found

    # --- a phone --------------------------------------------------------------------------------

    def portal_url(self, node: int) -> str:
        return f"http://127.0.0.1:{self.web_ports[node]}/portal"

    def _request(self, session: requests.Session, method: str, node: int, path: str,
                 timeout: float, balanced: bool, **kw: Any) -> tuple[requests.Response, int]:
        """One HTTP request to ``node``; with ``balanced``, what nginx does by default
        (``proxy_next_upstream error``): a connection that cannot be made goes to the next node,
        and so does a GET whose connection broke; a POST already sent is not retried (the phone
        sees a 502). Returns the response and the node used."""
        tries = len(self.web_ports) if balanced else 1
        for k in range(tries):
            target = (node + k) % len(self.web_ports)
            try:
                url = f"http://127.0.0.1:{self.web_ports[target]}{path}"
                return session.request(method, url, timeout=timeout, **kw), target
            except requests.ConnectionError as exc:
                if k == tries - 1 or (method != "GET" and "refused" not in str(exc).lower()):
                    raise
        raise AssertionError("unreachable")

    def journey(self, number: str, dev: int, *, landing_node: int = 0, login_node: int | None = None,
                timeout: float = 15.0, balanced: bool = False) -> Outcome:
        """One phone: landing + code through ``landing_node``, login through ``login_node``
        (``balanced``: see ``_request``)."""
        assert self.ac is not None
        login_node = landing_node if login_node is None else login_node
        ip, mac = device(dev)
        out = Outcome(number, ip, mac, started=time.monotonic(), nodes=(landing_node, login_node))
        self.ac.add_user(ip, mac)
        session = requests.Session()
        stage = "landing"
        try:
            query = self.ac.redirect_url(ip, "/portal").split("?", 1)[1]
            page, used = self._request(session, "GET", landing_node, f"/portal?{query}", timeout, balanced)
            rerouted = used != landing_node
            m = re.search(r'name="c" value="([^"]+)"', page.text)
            if page.status_code != 200 or m is None:
                out.stage, out.error = stage, _error_of(page)
                return out
            ctx = m.group(1)
            stage = "code"
            sent, used = self._request(session, "POST", landing_node, "/portal/code", timeout, balanced,
                                       data={"c": ctx, "phone": number})
            rerouted |= used != landing_node
            if sent.status_code != 200 or 'data-code="' in sent.text:
                out.stage, out.error = stage, _error_of(sent)
                return out
            stage = "sms"
            code = self.outbox.wait_code(number, timeout=timeout)
            if code is None:
                out.stage, out.error = stage, "no-sms"
                return out
            stage = "login"
            done, used = self._request(session, "POST", login_node, "/portal/login", timeout, balanced,
                                       data={"c": ctx, "phone": number, "code": code})
            rerouted |= used != login_node
            out.extra["rerouted"] = rerouted
            if done.status_code == 200 and 'id="success"' in done.text:
                out.ok = True
            else:
                out.stage, out.error = stage, _error_of(done)
            return out
        except requests.ConnectionError as exc:
            # What nginx would answer: 502 when the node died with the request in flight.
            out.stage, out.error = stage, "refused" if "refused" in str(exc).lower() else "reset(502)"
            return out
        except requests.Timeout:
            out.stage, out.error = stage, "timeout(504)"
            return out
        except requests.RequestException as exc:
            out.stage, out.error = stage, type(exc).__name__
            return out
        finally:
            out.ended = time.monotonic()
            session.close()
