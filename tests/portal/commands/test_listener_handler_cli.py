"""``python3 -m portal.cli ac-listener`` as a real process: seeded AC, NTF_LOGOUT answered,
clean exit on SIGTERM; a clear message without a Redis URL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ac_adapters.codec import PortalPacket, decode, encode
from ac_adapters.constants import PacketType
from portal.aaa.acs import AcRegistry
from tests.conftest import free_udp_port

ROOT = Path(__file__).resolve().parents[3]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def test_ac_listener_process_answers_and_stops_on_sigterm(
    tmp_path: Path, redis_url: str, redis_client: Any
) -> None:
    port = free_udp_port()
    config = tmp_path / "citywifi.toml"
    config.write_text(
        "[listener]\nheartbeat_interval = 5.0\n\n"
        "[[acs]]\nname = \"cli-ac\"\naddresses = [\"127.0.0.1\"]\nvendor = \"cmcc\"\n"
        "secret = \"cli-secret\"\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "-c", str(config), "ac-listener",
         "--host", "127.0.0.1", "--port", str(port)],
        env=_env(CITYWIFI_REDIS_URL=redis_url), cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.3)
    try:
        data = encode(PortalPacket(type=PacketType.NTF_LOGOUT, version=1, serial_no=321,
                                   req_id=5, user_ip="10.0.0.77"), header=16)
        reply = None
        deadline = time.monotonic() + 20
        while reply is None and time.monotonic() < deadline and proc.poll() is None:
            sock.sendto(data, ("127.0.0.1", port))      # retry until the process is up
            try:
                reply = decode(sock.recvfrom(4096)[0], header=16)
            except TimeoutError:
                continue
        assert reply is not None, "no reply from the ac-listener process"
        assert (reply.type, reply.serial_no, reply.req_id, reply.user_ip) == (
            PacketType.ACK_LOGOUT, 321, 5, "10.0.0.77")
        assert AcRegistry(redis_client).get("cli-ac").vendor == "cmcc"   # seeded from the TOML
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "ac-listener stopped" in err
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_ac_listener_without_redis_url_says_so(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "portal.cli", "ac-listener", "--port", str(free_udp_port())],
        env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2
    assert "Redis URL" in proc.stderr and "citywifi up" in proc.stderr
    assert "Redis 地址" in proc.stderr
