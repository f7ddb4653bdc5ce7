"""The audit log: every change a person (console) or a program (API token) makes.

One Redis stream entry per action: who (``user:<name>``, ``token:<id>`` with the token's name
and creator in ``actor_name``, or ``cli:<os user>``), when, the area
(``venue``, ``noc``, ``api``, ``account``), what (``plan.update``…), the target, and the state
before and after as JSON. Secrets never reach it: values under keys that look secret are
replaced by ``"***"`` before writing. The archive job moves old entries to files with the
real-name logs, so the audit trail is kept as long as they are. Every field is capped
(:data:`MAX_TEXT`, :data:`MAX_STATE`): an entry's size never depends on what a request carried.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from portal.state import keys

__all__ = ["AuditEntry", "AuditLog", "redact"]

_SECRET_WORDS = ("secret", "password", "hash", "token")
_BATCH = 500
MAX_TEXT = 200
"""Characters kept of ``actor``, ``area``, ``action``, ``target`` and ``ip`` (longer: cut, with a digest)."""
MAX_STATE = 8 * 1024
"""Bytes of JSON kept for ``before`` / ``after``; a larger state is replaced by its size and digest.
Together these cap one entry at about 17 KB, whatever a request carried."""


def _utf8(text: str) -> str:
    """``text`` as Redis can store it (a stray surrogate becomes "?" rather than an error)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _capped_text(value: str) -> str:
    value = _utf8(str(value))
    if len(value) <= MAX_TEXT:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
    return f"{value[:MAX_TEXT - 40]}…({len(value)} chars, sha256 {digest})"


def _capped_state(value: Any) -> str:
    text = _utf8(json.dumps(redact(value), ensure_ascii=False, default=str))
    data = text.encode("utf-8")
    if len(data) <= MAX_STATE:
        return text
    return json.dumps({"truncated": True, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                       "start": text[:200]}, ensure_ascii=False)


def redact(value: Any) -> Any:
    """``value`` with every mapping entry whose key names a secret replaced by ``"***"``."""
    if isinstance(value, dict):
        return {k: ("***" if any(w in str(k).lower() for w in _SECRET_WORDS) and v not in (None, "")
                    else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    at: float
    actor: str
    area: str
    action: str
    target: str
    before: Any
    after: Any
    ip: str
    actor_name: str = ""     # a token's name (the actor is its id) and its creator, for people

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "actor": self.actor, "area": self.area,
                "action": self.action, "target": self.target, "before": self.before,
                "after": self.after, "ip": self.ip, "actor_name": self.actor_name}


def _entry(entry_id: Any, raw: dict[bytes, bytes]) -> AuditEntry:
    data = {k.decode(): v.decode() for k, v in raw.items()}

    def load(name: str) -> Any:
        try:
            return json.loads(data.get(name) or "null")
        except ValueError:
            return data.get(name)

    return AuditEntry(entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id),
                      float(data.get("at") or 0), data.get("actor", ""), data.get("area", ""),
                      data.get("action", ""), data.get("target", ""), load("before"), load("after"),
                      data.get("ip", ""), data.get("actor_name", ""))


class AuditLog:
    """Append to and read the audit stream."""

    def __init__(self, redis: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock

    def record(self, actor: str, area: str, action: str, target: str, before: Any = None,
               after: Any = None, ip: str = "", *, actor_name: str = "") -> str:
        fields = {"at": f"{self.clock():.3f}", "actor": _capped_text(actor), "area": _capped_text(area),
                  "action": _capped_text(action), "target": _capped_text(target), "ip": _capped_text(ip),
                  "before": _capped_state(before), "after": _capped_state(after)}
        if actor_name:
            fields["actor_name"] = _capped_text(actor_name)
        entry_id = self.redis.xadd(keys.audit_log(), fields)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def recent(self, count: int = 100, *, area: str | None = None, actor: str | None = None,
               target: str | None = None) -> list[AuditEntry]:
        """The newest matching entries, newest first (reads back in pages until ``count``)."""
        out: list[AuditEntry] = []
        upper = "+"
        while len(out) < count:
            page = self.redis.xrevrange(keys.audit_log(), max=upper, min="-", count=_BATCH)
            if not page:
                break
            for entry_id, raw in page:
                entry = _entry(entry_id, raw)
                if ((area is None or entry.area == area) and (actor is None or entry.actor == actor)
                        and (target is None or entry.target == target)):
                    out.append(entry)
                    if len(out) >= count:
                        break
            if len(page) < _BATCH:
                break
            upper = "(" + _entry(page[-1][0], page[-1][1]).id
        return out

    def between(self, start: float, end: float) -> Iterator[AuditEntry]:
        """Entries with ``start <= at < end``, oldest first, read in pages (constant memory)."""
        lower = f"{int(start * 1000)}-0"
        upper = f"{max(0, int(end * 1000) - 1)}-18446744073709551615"
        while True:
            page = self.redis.xrange(keys.audit_log(), min=lower, max=upper, count=_BATCH)
            for entry_id, raw in page:
                yield _entry(entry_id, raw)
            if len(page) < _BATCH:
                return
            last = page[-1][0]
            lower = "(" + (last.decode() if isinstance(last, bytes) else str(last))
