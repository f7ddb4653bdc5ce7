"""SIGTERM to a loaded ``citywifi ac-listener``: it exits 0 promptly, and every NTF_LOGOUT it
acknowledged is counted in Redis — the buffered statistics are flushed on the way out, the
datagram in hand is finished."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ac_adapters.codec import PortalPacket, decode, encode
from ac_adapters.constants import PacketType
from portal.state import keys
from tests.conftest import free_udp_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


def test_sigterm_under_ntf_logout_load_flushes_every_acknowledged_count(
    tmp_path: Path, redis_url: str, redis_client: Any
) -> None:
    port = free_udp_port()
    config = tmp_path / "citywifi.toml"
    config.write_text("[[acs]]\nname = \"stop-ac\"\naddresses = [\"127.0.0.1\"]\nvendor = \"cmcc\"\n"
                      "secret = \"stop-secret\"\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env.update(PYTHONPATH=str(ROOT), CITYWIFI_REDIS_URL=redis_url, CITYWIFI_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "-c", str(config), "ac-listener", "--host", "127.0.0.1",
         "--port", str(port)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    acked = 0
    sent = 0
    stop = threading.Event()
    ready = threading.Event()

    def load() -> None:
        nonlocal acked, sent
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.3)
        n = 0
        try:
            while not stop.is_set():
                n += 1
                serial = n % 65536
                ip = f"10.30.{(n >> 8) & 255}.{n & 255}"
                data = encode(PortalPacket(type=PacketType.NTF_LOGOUT, version=1, serial_no=serial,
                                           req_id=n % 65536, user_ip=ip), header=16)
                sent += 1
                try:
                    sock.sendto(data, ("127.0.0.1", port))
                    reply = decode(sock.recvfrom(4096)[0], header=16)
                except (OSError, ValueError):
                    continue
                if reply.type == PacketType.ACK_LOGOUT and reply.serial_no == serial:
                    acked += 1
                    ready.set()
        finally:
            sock.close()

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    try:
        assert ready.wait(30), "the listener never answered"
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(5)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "ac-listener stopped" in err
    counted = int(redis_client.hget(keys.ac_stats("stop-ac"), "ntf_logout") or 0)
    assert acked >= 20
    assert acked <= counted <= sent, (acked, counted, sent)
