"""``citywifi up``: the whole system on one box.

Starts an embedded Redis when ``redis.url`` is empty, then one child process per service
(``radius``, ``ac-listener``, ``sms-worker``, ``web``, ``archive`` — the daily log archive job,
``citywifi archive schedule``, unless ``archive.enabled`` is off; with ``--demo`` also ``ac-sim``), each
the ordinary ``citywifi`` subcommand, so what runs here is exactly what runs in production.

"citywifi is running" is printed only once every service has reported that it serves
(:mod:`portal.runtime.supervisor`); a service that cannot start is named with the end of its log and
``up`` stops everything and exits 1. Children that die later are restarted with back-off.
Ctrl-C (SIGINT, which a terminal sends to the whole process group) or SIGTERM reaches only this
process — children and Redis run in their own sessions — and stops the services in order
(web first), then Redis, and exits 0.

Files: the data directory is made private (0700) and the services' files are created 0640 at
most (umask 027, inherited by every child and by Redis): the Redis AOF, the SMS outbox and the
logs hold phone numbers and, briefly, codes.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import stat
import sys
import threading
from dataclasses import replace
from pathlib import Path

from portal.cli import SUBCOMMANDS
from portal.commands import texts
from portal.runtime.readiness import notify_ready
from portal.runtime.settings import Settings
from portal.runtime.supervisor import Child, Supervisor, log_tail
from portal.state.embedded import EmbeddedRedis
from portal.state.instance import embedded_redis_dir, embedded_socket_answers

__all__ = ["Child", "Supervisor", "add_arguments", "private_data_dir", "run"]

log = logging.getLogger("citywifi.up")

SERVICES = ("radius", "ac-listener", "sms-worker", "web", "archive")
SERVICE_ARGS = {"archive": ("schedule",)}   # extra arguments of a service's subcommand
DEMO_SERVICES = ("ac-sim",)
UMASK = 0o027               # files 0640, directories 0750 (inside the 0700 data directory)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true",
                        help="also run the AC simulator, use the file SMS backend, seed a demo venue/AC")
    parser.add_argument("--only", action="append", default=[], metavar="SERVICE",
                        help="run only these services (repeatable): " + ", ".join(SERVICES + DEMO_SERVICES))
    parser.add_argument("--ready-timeout", type=float, default=120.0, metavar="SECONDS",
                        help="give up when a service has not reported ready this long after its start "
                             "(default 120)")


def _available(command: str) -> bool:
    module = SUBCOMMANDS[command][0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def private_data_dir(data_dir: Path) -> None:
    """Create ``data_dir`` 0700, and take group write and all "other" access away from what an
    earlier (pre-umask) run left inside it. Symlinks and other users' files are left alone."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if stat.S_IMODE(data_dir.stat().st_mode) != 0o700:
        log.warning("data directory %s was mode %o; making it 0700", data_dir,
                    stat.S_IMODE(data_dir.stat().st_mode))
        os.chmod(data_dir, 0o700)
    uid = os.getuid()
    for root, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            if st.st_uid == uid and not stat.S_ISLNK(st.st_mode) and mode & UMASK:
                os.chmod(path, mode & ~UMASK)


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Handlers first: a Ctrl-C while Redis is still starting must also stop cleanly.
    stop_requested = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop_requested.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    os.umask(UMASK)          # inherited by Redis and every service
    if not args.only or "web" in args.only:    # say it now, not as a web child restarting forever
        from portal.commands.web import StartupRefused, check_exposure

        try:
            check_exposure(replace(settings, web=replace(settings.web, demo=settings.web.demo or args.demo)))
        except StartupRefused as exc:
            print(str(exc).replace("citywifi web:", "citywifi up:"), file=sys.stderr)
            return 2
    data_dir = Path(settings.data_dir).resolve()
    try:
        private_data_dir(data_dir)
        (data_dir / "logs").mkdir(exist_ok=True)
    except OSError as exc:
        print(texts.UP_BAD_DATA_DIR.format(data_dir=data_dir, error=exc), file=sys.stderr)
        return 1

    wanted = list(args.only) or [*SERVICES, *(DEMO_SERVICES if args.demo else ())]
    if not args.only and not settings.archive.enabled:
        wanted.remove("archive")
    for name in wanted:
        if name not in SERVICES + DEMO_SERVICES:
            print(texts.UP_UNKNOWN_SERVICE.format(name=name, services=", ".join(SERVICES + DEMO_SERVICES)),
                  file=sys.stderr)
            return 2
    env = dict(os.environ)
    if args.config:
        env["CITYWIFI_CONFIG"] = str(Path(args.config).resolve())
    env["CITYWIFI_DATA_DIR"] = str(data_dir)

    embedded: EmbeddedRedis | None = None
    if stop_requested.is_set():
        return 0
    if not settings.redis.url and not settings.redis.sentinels:
        redis_dir = embedded_redis_dir(data_dir)
        if embedded_socket_answers(redis_dir / "redis.sock"):
            # A second Redis on the same AOF and socket would take the running one's place.
            print(texts.UP_ALREADY_RUNNING.format(data_dir=data_dir, socket=redis_dir / "redis.sock"),
                  file=sys.stderr)
            return 1
        try:
            embedded = EmbeddedRedis(redis_dir, binary=settings.redis.embedded_binary).start()
        except (OSError, RuntimeError) as exc:
            print(texts.UP_REDIS_FAILED.format(error=exc, log=redis_dir / "redis.log",
                                               tail=log_tail(redis_dir / "redis.log")), file=sys.stderr)
            return 1
        env["CITYWIFI_REDIS_URL"] = embedded.url
        log.info("embedded Redis at %s (AOF in %s)", embedded.url, redis_dir)
    redis_url = env.get("CITYWIFI_REDIS_URL", settings.redis.url)

    demo_check: bool | None = None
    if args.demo:
        env.setdefault("CITYWIFI_SMS_BACKEND", "file")
        env.setdefault("CITYWIFI_WEB_DEMO", "1")    # the demo SMS outbox page
        env.setdefault("CITYWIFI_CONSOLE_COOKIE_SECURE", "false")   # the demo serves plain http
        demo_check = _seed_demo(settings, redis_url)
    children = []
    for name in wanted:
        if not _available(name):
            log.warning("%s is not part of this build yet; not starting it", name)
            continue
        argv = [sys.executable, "-m", "portal.cli", name, *SERVICE_ARGS.get(name, ())]
        child = Child(name, argv, env, log_path=data_dir / "logs" / f"{name}.log")
        if name == "web":   # gunicorn lets in-flight logins finish for up to graceful_timeout
            from portal.commands.web import graceful_timeout

            child.stop_timeout = graceful_timeout(settings) + 5.0
        children.append(child)

    supervisor = Supervisor(children, ready_timeout=args.ready_timeout)
    supervisor.stopping = stop_requested

    def running() -> None:
        _print_banner(settings, children, redis_url, data_dir, args.demo, demo_check)
        notify_ready("running")          # when `up` itself runs under systemd Type=notify

    try:
        supervisor.start_all()
        log.info("waiting for %s to report ready", ", ".join(c.name for c in children) or "nothing")
        if not children:
            running()
        supervisor.watch(on_all_ready=running)
    finally:
        supervisor.stop_all()
        if embedded is not None:
            log.info("stopping the embedded Redis")
            embedded.stop()
        log.info("stopped")
    if supervisor.failure is not None:
        print(f"citywifi up: {supervisor.failure.describe()}\n" + texts.UP_STOPPED, file=sys.stderr)
        return 1
    return 0


def _seed_demo(settings: Settings, redis_url: str) -> bool | None:
    """A demo AC matching the simulator's defaults, so ``--demo`` works with no settings file.
    Returns the demo AC's ``client_address_check`` (None when there is no ``demo-ac``)."""
    from portal.aaa.acs import AcRecord, AcRegistry
    from portal.runtime.seeding import seed_from_settings
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
    from portal.runtime.demo import seed_demo_venue

    seed_demo_venue(client, "demo-ac")
    _seed_demo_admin(client, settings.data_dir)
    demo_ac = registry.get_or_none("demo-ac")
    client.close()
    return None if demo_ac is None else demo_ac.client_address_check


def _seed_demo_admin(client: object, data_dir: Path) -> None:
    """A first console administrator for the demo, its password kept in the data dir (0600)."""
    import secrets

    from portal.admin.accounts import AccountStore

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
    from portal.runtime.demo import demo_phone_url, local_web_url

    names = ", ".join(c.name for c in children) or "nothing"
    running = {c.name for c in children}
    web = local_web_url(settings)
    lines = [
        "",
        "citywifi is running — Ctrl-C stops everything",
        f"  services : {names}",
        f"  redis    : {redis_url}",
        f"  logs     : {data_dir / 'logs'}",
    ]
    if "radius" in running:
        lines.append(f"  RADIUS   : {settings.radius.host}:{settings.radius.auth_port}/"
                     f"{settings.radius.acct_port}")
    if "ac-listener" in running:
        lines.append(f"  listener : {settings.listener.host}:{settings.listener.port} (UDP)")
    if "web" in running and demo and "ac-sim" in running:
        # The bare /portal needs the AC's redirect parameters: print a URL that works.
        lines.append(f"  portal   : {demo_phone_url(settings)}")
        lines.append("             (the AC simulator's first phone; use a China Telecom number such as "
                     "18900000001)")
    elif "web" in running:
        lines.append(f"  portal   : {web}/portal — phones arrive here through their AC's redirect")
    if "web" in running:
        lines.append(f"  consoles : {web}/login")
    if demo:
        sim = settings.ac_sim
        if "ac-sim" in running:
            lines.append(f"  AC sim   : {sim.host}:{sim.port} ({sim.flavour}); "
                         f"redirect URLs of more phones are in {data_dir / 'logs' / 'ac-sim.log'}")
            if demo_check is False:
                lines.append("  demo AC  : client address check OFF (its phones are simulated; a browser is "
                             f"bound to the first phone it opens for {settings.web.device_binding_ttl // 60} "
                             "min) — keep the check on for real ACs")
            elif demo_check:
                lines.append("  demo AC  : client address check ON: a browser on this machine is not the "
                             "simulated phone; turn it off on /noc/acs/demo-ac to play phones from here")
        outbox = settings.sms.outbox_dir or str(data_dir / "sms-outbox")
        lines.append(f"  SMS codes: {outbox}")
        if "web" in running:
            lines.append(f"  SMS page : {web}/demo/outbox")
            secret_file = data_dir / "console-admin-password"
            if secret_file.exists():
                lines.append(f"  admin    : user admin, password in {secret_file}")
    print("\n".join(lines), flush=True)
