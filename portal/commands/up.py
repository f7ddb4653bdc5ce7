"""``citywifi up``: the whole system on one box.

Starts an embedded Redis when ``redis.url`` is empty, then one child process per service
(``radius``, ``ac-listener``, ``sms-worker``, ``web``, ``archive`` — the daily log archive job,
``citywifi archive schedule``, unless ``archive.enabled`` is off; with ``--demo`` also ``ac-sim``), each
the ordinary ``citywifi`` subcommand, so what runs here is exactly what runs in production.
Children that die are restarted with back-off; Ctrl-C (or SIGTERM) stops them in reverse order,
then Redis, and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.cli import SUBCOMMANDS
from portal.settings import Settings
from portal.state.embedded import EmbeddedRedis

__all__ = ["Supervisor", "add_arguments", "run"]

log = logging.getLogger("citywifi.up")

SERVICES = ("radius", "ac-listener", "sms-worker", "web", "archive")
SERVICE_ARGS = {"archive": ("schedule",)}   # extra arguments of a service's subcommand
DEMO_SERVICES = ("ac-sim",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true",
                        help="also run the AC simulator, use the file SMS backend, seed a demo venue/AC")
    parser.add_argument("--only", action="append", default=[], metavar="SERVICE",
                        help="run only these services (repeatable): " + ", ".join(SERVICES + DEMO_SERVICES))


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff: float = 1.0
    next_start: float = 0.0
    log_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    stop_timeout: float = 0.0       # seconds after SIGTERM before SIGKILL; 0 = the supervisor's

    def start(self) -> None:
        assert self.log_path is not None
        out = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,   # Ctrl-C reaches us only; we stop children in order
        )
        out.close()
        self.started_at = time.monotonic()
        log.info("started %s (pid %s), log %s", self.name, self.process.pid, self.log_path)


class Supervisor:
    """Keeps a set of child processes alive until told to stop."""

    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self.stopping = threading.Event()

    def start_all(self) -> None:
        for child in self.children:
            child.start()

    def watch(self, poll: float = 0.5) -> None:
        while not self.stopping.wait(poll):
            now = time.monotonic()
            for child in self.children:
                proc = child.process
                if proc is not None and proc.poll() is None:
                    if now - child.started_at > 30:
                        child.backoff = 1.0    # it stayed up: forget earlier crashes
                    continue
                if proc is not None:
                    log.error("%s exited with status %s; restarting in %.0f s (see %s)",
                              child.name, proc.returncode, child.backoff, child.log_path)
                    child.process = None
                    child.next_start = now + child.backoff
                    child.backoff = min(child.backoff * 2, 30.0)
                elif now >= child.next_start:
                    child.restarts += 1
                    child.start()

    def stop_all(self, timeout: float = 15.0) -> None:
        """Stop the children one after another, each with SIGTERM (its graceful stop) and
        SIGKILL after its ``stop_timeout`` (else ``timeout``) seconds. The front door goes first
        — ``web``, whose in-flight logins still need the AC, RADIUS, the listener and Redis —
        then the others in reverse start order, so nothing a login depends on stops under it."""
        self.stopping.set()
        order = sorted(reversed(self.children), key=lambda c: c.name != "web")
        for child in order:
            proc = child.process
            if proc is None or proc.poll() is not None:
                continue
            log.info("stopping %s (pid %s)", child.name, proc.pid)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(child.stop_timeout or timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                proc.kill()
                proc.wait()


def _available(command: str) -> bool:
    module = SUBCOMMANDS[command][0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Handlers first: a Ctrl-C while Redis is still starting must also stop cleanly.
    stop_requested = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop_requested.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    data_dir = Path(settings.data_dir).resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if args.config:
        env["CITYWIFI_CONFIG"] = str(Path(args.config).resolve())
    env["CITYWIFI_DATA_DIR"] = str(data_dir)

    embedded: EmbeddedRedis | None = None
    if stop_requested.is_set():
        return 0
    if not settings.redis.url and not settings.redis.sentinels:
        embedded = EmbeddedRedis(data_dir / "redis", binary=settings.redis.embedded_binary).start()
        env["CITYWIFI_REDIS_URL"] = embedded.url
        log.info("embedded Redis at %s (AOF in %s)", embedded.url, data_dir / "redis")
    redis_url = env.get("CITYWIFI_REDIS_URL", settings.redis.url)

    wanted = list(args.only) or [*SERVICES, *(DEMO_SERVICES if args.demo else ())]
    if not args.only and not settings.archive.enabled:
        wanted.remove("archive")
    demo_check: bool | None = None
    if args.demo:
        env.setdefault("CITYWIFI_SMS_BACKEND", "file")
        env.setdefault("CITYWIFI_WEB_DEMO", "1")    # the demo SMS outbox page
        env.setdefault("CITYWIFI_CONSOLE_COOKIE_SECURE", "false")   # the demo serves plain http
        demo_check = _seed_demo(settings, redis_url)
    children = []
    for name in wanted:
        if name not in SUBCOMMANDS:
            print(f"citywifi up: unknown service {name!r}", file=sys.stderr)
            return 2
        if not _available(name):
            log.warning("%s is not part of this build yet; not starting it", name)
            continue
        argv = [sys.executable, "-m", "portal.cli", name, *SERVICE_ARGS.get(name, ())]
        child = Child(name, argv, env, log_path=data_dir / "logs" / f"{name}.log")
        if name == "web":   # gunicorn lets in-flight logins finish for up to graceful_timeout
            from portal.commands.web import graceful_timeout

            child.stop_timeout = graceful_timeout(settings) + 5.0
        children.append(child)

    supervisor = Supervisor(children)
    supervisor.stopping = stop_requested
    try:
        supervisor.start_all()
        _print_banner(settings, children, redis_url, data_dir, args.demo, demo_check)
        supervisor.watch()
    finally:
        supervisor.stop_all()
        if embedded is not None:
            embedded.stop()
        log.info("stopped")
    return 0


def _seed_demo(settings: Settings, redis_url: str) -> bool | None:
    """A demo AC matching the simulator's defaults, so ``--demo`` works with no settings file.
    Returns the demo AC's ``client_address_check`` (None when there is no ``demo-ac``)."""
    from portal.acs import AcRecord, AcRegistry
    from portal.seeding import seed_from_settings
    from portal.state import connect

    client = connect(settings.redis, redis_url)
    registry = AcRegistry(client)
    seed_from_settings(client, settings)
    sim = settings.ac_sim
    if registry.get_or_none("demo-ac") is None and registry.by_address(sim.host) is None:
        registry.put(AcRecord(
            name="demo-ac", addresses=(sim.host,), secret=sim.secret, radius_secret=sim.radius_secret,
            vendor=sim.flavour, port=sim.port, coa_port=sim.coa_port,
            description="demo AC simulator started by citywifi up --demo",
            # Its phones are simulated (10.10.x.x) while the browser that plays them connects from
            # this machine: the portal cannot see their addresses, as behind NAT. The banner says so.
            client_address_check=False,
        ))
    from portal.demo import seed_demo_venue

    seed_demo_venue(client, "demo-ac")
    _seed_demo_admin(client, settings.data_dir)
    demo_ac = registry.get_or_none("demo-ac")
    client.close()
    return None if demo_ac is None else demo_ac.client_address_check


def _seed_demo_admin(client: object, data_dir: Path) -> None:
    """A first console administrator for the demo, its password kept in the data dir (0600)."""
    import secrets

    from portal.accounts import AccountStore

    accounts = AccountStore(client)
    if accounts.all():
        return
    password = secrets.token_urlsafe(12)
    accounts.create("admin", password, "admin", display_name="demo administrator")
    path = data_dir / "console-admin-password"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")


def _print_banner(
    settings: Settings, children: list[Child], redis_url: str, data_dir: Path, demo: bool,
    demo_check: bool | None = None,
) -> None:
    names = ", ".join(c.name for c in children) or "nothing"
    lines = [
        "",
        "citywifi is running — Ctrl-C stops everything",
        f"  services : {names}",
        f"  redis    : {redis_url}",
        f"  logs     : {data_dir / 'logs'}",
        f"  RADIUS   : {settings.radius.host}:{settings.radius.auth_port}/{settings.radius.acct_port}",
        f"  listener : {settings.listener.host}:{settings.listener.port} (UDP)",
    ]
    if any(c.name == "web" for c in children):
        lines.append(f"  portal   : http://127.0.0.1:{settings.web.port}/")
    if demo:
        sim = settings.ac_sim
        lines.append(f"  AC sim   : {sim.host}:{sim.port} ({sim.flavour}); "
                     f"redirect URLs for phones are in {data_dir / 'logs' / 'ac-sim.log'}")
        if demo_check is False:
            lines.append("  demo AC  : client address check OFF (its phones are simulated; a browser is "
                         f"bound to the first phone it opens for {settings.web.device_binding_ttl // 60} "
                         "min) — keep the check on for real ACs")
        elif demo_check:
            lines.append("  demo AC  : client address check ON: a browser on this machine is not the "
                         "simulated phone; turn it off on /noc/acs/demo-ac to play phones from here")
        outbox = settings.sms.outbox_dir or str(data_dir / "sms-outbox")
        lines.append(f"  SMS codes: {outbox}")
        if any(c.name == "web" for c in children):
            from portal.demo import demo_phone_url

            lines.append(f"  SMS page : http://127.0.0.1:{settings.web.port}/demo/outbox")
            lines.append("  as a phone, open (use a China Telecom number such as 18900000001):")
            lines.append(f"    {demo_phone_url(settings)}")
            secret_file = data_dir / "console-admin-password"
            if secret_file.exists():
                lines.append(f"  consoles : http://127.0.0.1:{settings.web.port}/login  user admin, "
                             f"password in {secret_file}")
    print("\n".join(lines), flush=True)
