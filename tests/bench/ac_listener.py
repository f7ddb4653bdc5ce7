"""Benchmark: NTF_LOGOUT → ACK round trips per second through the ac-listener on loopback.

    python3 tests/bench/ac_listener.py [count]

Two runs: a do-nothing handler (transport + codec cost) and the portal handler on an embedded
Redis (AC lookup cache + buffered statistics). The sender keeps a window of 32 outstanding NTFs.
"""

from __future__ import annotations

import logging
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ac_adapters.codec import PortalPacket, encode
from ac_adapters.constants import PacketType
from ac_adapters.listener import AcPeer, BaseListenerHandler, ListenerHandler, PortalListener
from ac_adapters.profiles import PROFILES

SECRET = b"bench-secret"


class StaticHandler(BaseListenerHandler):
    peer = AcPeer("bench", profile=PROFILES["huawei-v2"], secret=SECRET, host="127.0.0.1")

    def acs_at(self, source_ip: str) -> list[AcPeer]:
        return [self.peer]


def run(handler: ListenerHandler, count: int, window: int = 32) -> float:
    packets = [
        encode(PortalPacket(type=PacketType.NTF_LOGOUT, version=2, serial_no=i & 0xFFFF,
                            user_ip=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"),
               header=32, secret=SECRET)
        for i in range(count)
    ]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    with PortalListener("127.0.0.1", 0, handler) as listener:
        start = time.perf_counter()
        sent = received = 0
        while received < count:
            while sent < count and sent - received < window:
                sock.sendto(packets[sent], ("127.0.0.1", listener.port))
                sent += 1
            sock.recv(4096)
            received += 1
        elapsed = time.perf_counter() - start
    sock.close()
    return count / elapsed


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    print(f"do-nothing handler : {run(StaticHandler(), count):8.0f} NTF_LOGOUT/s ({count} round trips)")
    import redis

    from portal.aaa.acs import AcRecord, AcRegistry
    from portal.phone.listener_handler import PortalListenerHandler
    from portal.state.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(tmp, port=0).start()
        try:
            client = redis.Redis.from_url(server.url)
            AcRegistry(client).put(AcRecord(name="bench", addresses=("127.0.0.1",),
                                            secret=SECRET.decode()))
            rate = run(PortalListenerHandler(client), count)
            print(f"portal handler     : {rate:8.0f} NTF_LOGOUT/s ({count} round trips, Redis)")
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
