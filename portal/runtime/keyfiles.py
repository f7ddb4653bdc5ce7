"""Server keys: one random key per purpose, created once.

A key set in the settings wins (several hosts must share one: put the same value on each).
Otherwise :func:`load_key` keeps it in the data directory: ``<data_dir>/<name>`` holds 32 random
bytes as hex, written by whichever process needs it first (O_EXCL, so racing workers agree on
one key) — right for one host only. :func:`shared_key` keeps it in Redis instead, where every
node of a fleet finds the same one (SET NX, so racing nodes agree on one key).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from portal.state import keys

__all__ = ["KeyFileError", "load_key", "shared_key"]

log = logging.getLogger(__name__)


class KeyFileError(RuntimeError):
    """A key file exists but cannot be used (empty, unreadable, not hex)."""


def load_key(data_dir: str | os.PathLike[str], name: str, configured: str = "", *,
             create: bool = True) -> bytes | None:
    """The key: ``configured`` if set, else the file ``data_dir/name`` (made when ``create``);
    None when there is no key and ``create`` is false (a reader that must not invent one)."""
    if configured:
        return configured.encode()
    path = Path(data_dir) / name
    if not create and not path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):                  # another process may be writing it right now
            text = path.read_text().strip()
            if text:
                try:
                    return bytes.fromhex(text)
                except ValueError:
                    raise KeyFileError(f"{path}: not a hex key") from None
            time.sleep(0.02)
        raise KeyFileError(f"{path} is empty") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return bytes.fromhex(path.read_text().strip())


def shared_key(redis: Any, data_dir: str | os.PathLike[str], name: str, configured: str = "") -> bytes:
    """The key every node must share: ``configured`` if set; else the one in Redis
    (``keys.shared_key(name)``), created once with SET NX by the first node that asks. That node
    publishes ``data_dir/name`` if it has that file (an installation that made the key there
    before keeps signing with it), else 32 random bytes. A local file that differs from the
    fleet's key is ignored, with a warning. Redis errors propagate (the caller retries)."""
    if configured:
        return configured.encode()
    where = keys.shared_key(name)
    raw = redis.get(where)
    path = Path(data_dir) / name
    local = _read_hex(path) if path.exists() else None
    if raw is None:
        redis.set(where, (local or secrets.token_bytes(32)).hex(), nx=True)
        raw = redis.get(where)
        if raw is None:
            raise KeyFileError(f"the shared key {where} vanished from Redis while it was made")
    try:
        key = bytes.fromhex(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        raise KeyFileError(f"the shared key {where} in Redis is not hex") from None
    if len(key) < 16:
        raise KeyFileError(f"the shared key {where} in Redis is shorter than 16 bytes")
    if local is not None and local != key:
        log.warning("%s differs from the key every node shares (Redis %s) and is ignored: "
                    "what was signed with it no longer verifies", path, where)
    return key


def _read_hex(path: Path) -> bytes | None:
    try:
        return bytes.fromhex(path.read_text().strip()) or None
    except (OSError, ValueError):
        log.warning("%s is not a readable hex key; ignored", path)
        return None
