"""The online-session records stay compact in Redis (README budget: ≤ 1 KB per session).

A phone's sessions are one hash of compact JSON records (portal/aaa/sessions.py); it must stay a
listpack (ziplist on Redis 6), which needs ``hash-max-ziplist-value 256`` (the embedded Redis
and deploy/redis/*.conf set it): with Redis's default of 64 every phone's hash was a hashtable,
157 bytes more per session. Real Redis (the embedded one the tests start).
"""

from __future__ import annotations

import time
from typing import Any

from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.state import keys


def test_a_phones_session_hash_is_a_listpack(redis_client: Any) -> None:
    now = int(time.time())
    registry = SessionRegistry(redis_client)
    phone = "13800138000"
    for n in range(3):   # a phone with three devices online, every field a record holds
        registry.open(OnlineSession(
            ac="ac-huawei-east-gate-01", session_id=f"0000{n:04x}-{now:x}-acct-session", phone=phone,
            mac=f"02:00:00:00:00:0{n}", ip=f"10.20.30.{n}", started=now, updated=now, interim=300,
            plan="basic@2026-12-07T10:00:00", session_time=86_400, input_octets=123_456_789_012,
            output_octets=987_654_321_098, ssid="CityWiFi-Free-5G-East", venue="venue-central-library",
            user_name=f"{phone}@citywifi.example"))
    ses = keys.phone_sessions(phone)
    longest = max(len(v) for v in redis_client.hvals(ses))
    assert 150 < longest <= 256
    assert redis_client.object("encoding", ses) in (b"listpack", b"ziplist")
