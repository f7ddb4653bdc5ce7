"""Server keys kept in the data directory: one random key per purpose, created once (0600).

A key set in the settings wins (several hosts must share one: put the same value on each);
otherwise ``<data_dir>/<name>`` holds 32 random bytes as hex, written by whichever process
needs it first (O_EXCL, so racing workers agree on one key).
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

__all__ = ["KeyFileError", "load_key"]


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
