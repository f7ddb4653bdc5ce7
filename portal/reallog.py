"""Real-name login records (实名制上网日志): who was online, from which device, where, when.

Chinese law requires public Wi-Fi to keep, per login, the verified phone number, the device
MAC, the IP it got, the AC/AP/SSID and the time (specs/sms.md, retention). Every successful
login appends one record to a Redis stream before the success page is returned — if the write
fails the login is reported as failed to the caller (``RealNameLog.append`` raises), so no
user is online without a record. The NOC issue archives and exports the stream.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from portal.state import keys

__all__ = ["LoginRecord", "RealNameLog"]


@dataclass(frozen=True, slots=True)
class LoginRecord:
    phone: str
    mac: str
    ip: str
    ac: str
    ap: str
    ssid: str
    venue: str
    kind: str            # "sms" (code), "returning" (ad page), "silent" (MAC-trigger)
    plan: str
    at: float            # epoch seconds

    def fields(self) -> dict[str, str]:
        return {k: (f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in asdict(self).items()}


class RealNameLog:
    """Append and read the real-name stream."""

    def __init__(self, redis: Any, *, wait_replicas: int = 0, wait_timeout_ms: int = 200) -> None:
        self.redis = redis
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms

    def append(self, record: LoginRecord) -> str:
        """Write one record (raises on Redis errors: the caller must not grant access then)."""
        entry_id = self.redis.xadd(keys.real_name_log(), record.fields())
        if self.wait_replicas > 0:
            # With replicas, also wait until the record reached them (survives a failover).
            self.redis.wait(self.wait_replicas, self.wait_timeout_ms)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def recent(self, count: int = 100) -> list[LoginRecord]:
        """The newest ``count`` records, newest first."""
        out = []
        for _entry_id, raw in self.redis.xrevrange(keys.real_name_log(), count=count):
            data = {k.decode(): v.decode() for k, v in raw.items()}
            try:
                out.append(LoginRecord(
                    phone=data["phone"], mac=data["mac"], ip=data["ip"], ac=data["ac"], ap=data["ap"],
                    ssid=data["ssid"], venue=data["venue"], kind=data["kind"], plan=data["plan"],
                    at=float(data["at"]),
                ))
            except (KeyError, ValueError):
                continue
        return out

    def count(self) -> int:
        return int(self.redis.xlen(keys.real_name_log()))
