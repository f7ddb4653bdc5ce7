"""A real FreeRADIUS (Debian's ``freeradius`` 3.2) on loopback, as a pytest fixture.

Follows TESTING.md: copy ``/etc/freeradius/3.0`` to a temp dir, point its dirs there, drop
``user``/``group`` and proxying, remove the inner-tunnel site, bind every ``listen`` to
127.0.0.1 / ::1 on free ports, add one user, run ``freeradius -f -d DIR`` and stop it by PID.
Import the fixture in a test module with ``from tests.ac_adapters.freeradius import freeradius``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_udp_port

__all__ = ["FREERADIUS_USER", "FreeRadius", "freeradius", "start_freeradius"]

SOURCE = Path("/etc/freeradius/3.0")
BINARY = shutil.which("freeradius") or "/usr/sbin/freeradius"
FREERADIUS_USER = ("simuser", "simpass")
REJECT_MESSAGE = "Login failed: wrong password"


@dataclass
class FreeRadius:
    directory: Path
    process: subprocess.Popen[bytes]
    auth_port: int
    acct_port: int
    secret: bytes = b"testing123"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def detail_text(self) -> str:
        """Everything the ``detail`` module wrote (the accounting records FreeRADIUS accepted)."""
        root = self.directory / "log" / "radacct"
        return "".join(p.read_text(errors="replace") for p in sorted(root.rglob("detail*")) if p.is_file())


def _configure(directory: Path, auth_port: int, acct_port: int, session_timeout: int, interim: int) -> None:
    conf = directory / "radiusd.conf"
    text = conf.read_text()
    text = re.sub(r"(?m)^raddbdir = .*$", f"raddbdir = {directory}", text)
    text = re.sub(r"(?m)^logdir = .*$", f"logdir = {directory}/log", text)
    text = re.sub(r"(?m)^run_dir = .*$", f"run_dir = {directory}/run", text)
    text = re.sub(r"(?m)^(\s*)(user|group) = ", r"\1#\2 = ", text)
    text = re.sub(r"(?m)^proxy_requests\s*=.*$", "proxy_requests = no", text)
    text = re.sub(r"(?m)^(\s*)reject_delay = .*$", r"\1reject_delay = 0", text)   # fast reject tests
    conf.write_text(text)
    (directory / "log" / "radacct").mkdir(parents=True, exist_ok=True)
    (directory / "run").mkdir(exist_ok=True)
    (directory / "sites-enabled" / "inner-tunnel").unlink(missing_ok=True)

    site = directory / "sites-available" / "default"
    text = site.read_text()
    text = re.sub(r"(?m)^(\s*)ipaddr = \*", r"\1ipaddr = 127.0.0.1", text)
    text = re.sub(r"(?m)^(\s*)ipv6addr = ::(\s|$)", r"\1ipv6addr = ::1\2", text)
    # The four listen sections in order: auth v4, acct v4, auth v6, acct v6.
    ports = iter([auth_port, acct_port, free_udp_port(), free_udp_port()])
    text = re.sub(r"(?m)^(\s*)port = 0\s*$", lambda m: f"{m.group(1)}port = {next(ports)}", text)
    text = text.replace(
        "\tPost-Auth-Type REJECT {\n",
        "\tPost-Auth-Type REJECT {\n"
        f'\t\tupdate reply {{\n\t\t\tReply-Message := "{REJECT_MESSAGE}"\n\t\t}}\n',
        1,
    )
    site.write_text(text)

    user, password = FREERADIUS_USER
    authorize = directory / "mods-config" / "files" / "authorize"
    entry = (
        f'{user}\tCleartext-Password := "{password}"\n'
        f"\tSession-Timeout = {session_timeout},\n"
        f"\tAcct-Interim-Interval = {interim},\n"
        f'\tClass = 0x6369747977696669\n\n'   # "citywifi", echoed in accounting
    )
    authorize.write_text(entry + authorize.read_text())


def _bound(port: int) -> bool:
    """Whether a UDP socket is bound to ``port`` (read from /proc: probing by binding would race)."""
    wanted = f":{port:04X}"
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(line.split()[1].endswith(wanted) for line in lines if len(line.split()) > 1):
            return True
    return False


def _wait_listening(process: subprocess.Popen[bytes], port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"freeradius exited with {process.returncode}")
        if _bound(port):
            return
        time.sleep(0.05)
    raise RuntimeError("freeradius did not start listening")


def start_freeradius(tmp: Path, *, session_timeout: int = 3600, interim: int = 60) -> FreeRadius:
    directory = tmp / "raddb"
    shutil.copytree(SOURCE, directory, symlinks=True)
    auth_port, acct_port = free_udp_port(), free_udp_port()
    _configure(directory, auth_port, acct_port, session_timeout, interim)
    log = open(directory / "stdout.log", "wb")   # noqa: SIM115 - kept open for the child's lifetime
    process = subprocess.Popen(
        [BINARY, "-f", "-d", str(directory), "-l", "stdout"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    log.close()
    server = FreeRadius(directory, process, auth_port, acct_port)
    try:
        _wait_listening(process, auth_port)
    except Exception:
        server.stop()
        output = (directory / "stdout.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"freeradius failed to start:\n{output}") from None
    return server


@pytest.fixture(scope="module")
def freeradius(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreeRadius]:
    if not SOURCE.is_dir() or not Path(BINARY).exists():
        pytest.skip("Debian freeradius is not installed")
    server = start_freeradius(tmp_path_factory.mktemp("freeradius"), session_timeout=3600, interim=60)
    try:
        yield server
    finally:
        server.stop()
