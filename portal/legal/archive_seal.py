"""Tamper evidence for the log archive: every day file is sealed, and the seals form a chain.

Next to ``<stream>/<day>.jsonl.gz`` the archive job writes ``<stream>/<day>.seal.json``: the
file's SHA-256, its entry count and last stream id, the day and seal MAC of the previous sealed
day of the stream, and an HMAC-SHA256 over all of it with the archive key (``archive.hmac_key``,
else ``data_dir/archive-hmac.key``). So, without the key:

* editing or deleting a record changes the file's hash → "content changed";
* re-sealing an edited file needs the key → "seal signature does not verify";
* deleting a day (file and seal) breaks the next day's link → "the day before it … is missing";
* deleting the newest day is caught by the chain head kept in Redis (``keys.archive_seals``);
* deleting the oldest days is caught by the signed chain base (``chain-base.json``) that the
  retention purge writes before it deletes days past retention.

Days archived before sealing existed (no seal, and no sealed day before them) are reported as
unsealed, not as failures: there is nothing to check them against.

``ArchiveSealer.verify`` is what ``citywifi archive status`` and every export run
(portal/legal/logexport.py): an export refuses to start when a day it would read fails, and says which.
The limit: whoever holds the key (or can write both the archive and Redis) can rewrite history;
keep the key where the archive's readers cannot read it (``archive.hmac_key`` from a secret
store) when that matters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.errors import CitywifiError
from portal.legal.texts import DAY_PROBLEM, PROBLEM_LIST, SEAL_PROBLEMS, TAMPERED
from portal.state import keys
from portal.texts import fill

__all__ = [
    "SEAL_SUFFIX",
    "ArchiveSealer",
    "ArchiveTampered",
    "DayProblem",
    "StreamCheck",
    "file_sha256",
    "seal_path",
]

SEAL_SUFFIX = ".seal.json"
BASE_NAME = "chain-base.json"
_VERSION = 1


class ArchiveTampered(CitywifiError):
    """Archive days failed the integrity check; ``problems`` names them."""

    code = "archive_tampered"

    def __init__(self, problems: list[DayProblem]) -> None:
        self.problems = problems
        super().__init__(TAMPERED[1] + PROBLEM_LIST[1].join(p.text() for p in problems))
        self.message_zh = TAMPERED[0] + PROBLEM_LIST[0].join(p.text_zh() for p in problems)


@dataclass(frozen=True, slots=True)
class DayProblem:
    stream: str
    day: str
    what: str          # English
    what_zh: str

    def text(self) -> str:
        return DAY_PROBLEM[1].format(stream=self.stream, day=self.day, what=self.what)

    def text_zh(self) -> str:
        return DAY_PROBLEM[0].format(stream=self.stream, day=self.day, what=self.what_zh)


@dataclass(slots=True)
class StreamCheck:
    stream: str
    sealed: int = 0
    unsealed: list[str] = field(default_factory=list)    # archived before sealing existed
    problems: list[DayProblem] = field(default_factory=list)

    def problem(self, day: str, what: str, what_zh: str) -> None:
        self.problems.append(DayProblem(self.stream, day, what, what_zh))


def _says(key: str, **fields: object) -> tuple[str, str]:
    """(en, zh) of an integrity problem (portal/legal/texts.py), in :meth:`StreamCheck.problem`'s order."""
    zh, en = fill(SEAL_PROBLEMS[key], **fields)
    return en, zh


def seal_path(directory: Path, stream: str, day: dt.date | str) -> Path:
    return Path(directory) / stream / f"{day}{SEAL_SUFFIX}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in fields.items() if k != "mac"}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True).encode()


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


class ArchiveSealer:
    """Seals day files as the job writes them, and verifies a stream's chain. ``key`` None: no
    key is available (a reader on a host without it): any existing seal then fails to verify."""

    def __init__(self, directory: Path, key: bytes | None, redis: Any) -> None:
        self.directory = Path(directory)
        self.key = key
        self.redis = redis

    def _mac(self, fields: dict[str, Any]) -> str:
        if self.key is None:
            return ""
        return hmac.new(self.key, _canonical(fields), hashlib.sha256).hexdigest()

    def _valid(self, fields: dict[str, Any] | None) -> bool:
        if not fields or self.key is None or not isinstance(fields.get("mac"), str):
            return False
        return hmac.compare_digest(fields["mac"], self._mac(fields))

    # --- writing (the archive job) ---------------------------------------------------------

    def seal_day(self, stream: str, day: dt.date, path: Path, entries: int, last_id: str) -> str:
        """Seal a day file just written; returns the seal's MAC. Chained to the newest sealed day
        before it (or the chain base)."""
        if self.key is None:
            raise ValueError("sealing needs the archive key")
        prev_day, prev = self._previous(stream, day.isoformat())
        fields: dict[str, Any] = {
            "v": _VERSION, "stream": stream, "day": day.isoformat(), "sha256": file_sha256(path),
            "entries": entries, "last_id": last_id, "prev_day": prev_day, "prev": prev,
        }
        fields["mac"] = self._mac(fields)
        _write_atomically(seal_path(self.directory, stream, day), json.dumps(fields).encode())
        head = self.redis.hget(keys.archive_seals(), stream)
        head_day = head.decode().partition(" ")[0] if head else ""
        if day.isoformat() >= head_day:
            self.redis.hset(keys.archive_seals(), stream, f"{day.isoformat()} {fields['mac']}")
        return str(fields["mac"])

    def _previous(self, stream: str, day: str) -> tuple[str, str]:
        """(day, mac) of the newest validly sealed day before ``day``, else the chain base."""
        for other in sorted((d for d in self._seal_days(stream) if d < day), reverse=True):
            seal = _read_json(seal_path(self.directory, stream, other))
            if self._valid(seal):
                assert seal is not None
                return other, str(seal["mac"])
        base = self._base(stream)
        return (str(base["day"]), str(base["mac"])) if base else ("", "")

    def mark_purged(self, stream: str, days: list[dt.date]) -> None:
        """Before the retention purge deletes ``days``: the chain now starts after the newest of
        them that is sealed (a signed base), so the next day's link still checks."""
        if self.key is None:
            return
        for day in sorted(days, reverse=True):
            seal = _read_json(seal_path(self.directory, stream, day))
            if self._valid(seal):
                assert seal is not None
                fields: dict[str, Any] = {"v": _VERSION, "stream": stream,
                                          "day": day.isoformat(), "mac": seal["mac"]}
                fields["sig"] = hmac.new(self.key, _canonical(fields), hashlib.sha256).hexdigest()
                _write_atomically(self.directory / stream / BASE_NAME, json.dumps(fields).encode())
                return

    def unseal_purged(self, stream: str, day: dt.date) -> None:
        seal_path(self.directory, stream, day).unlink(missing_ok=True)

    def seal_matches(self, stream: str, day: dt.date, path: Path) -> bool | None:
        """Whether a day file matches its valid seal (None: the day has no seal)."""
        seal = _read_json(seal_path(self.directory, stream, day))
        if seal is None:
            return None
        return self._valid(seal) and seal.get("sha256") == file_sha256(path)

    # --- reading ---------------------------------------------------------------------------

    def _seal_days(self, stream: str) -> list[str]:
        folder = self.directory / stream
        if not folder.is_dir():
            return []
        return sorted(p.name[: -len(SEAL_SUFFIX)] for p in folder.iterdir()
                      if p.name.endswith(SEAL_SUFFIX) and not p.name.startswith("."))

    def _base(self, stream: str) -> dict[str, Any] | None:
        base = _read_json(self.directory / stream / BASE_NAME)
        if not base or self.key is None:
            return None
        sig = base.get("sig")
        body = {k: v for k, v in base.items() if k != "sig"}
        good = hmac.new(self.key, _canonical(body), hashlib.sha256).hexdigest()
        if not isinstance(sig, str) or not hmac.compare_digest(sig, good):
            return None
        return base

    def has_seals(self, stream: str) -> bool:
        return bool(self._seal_days(stream)) or (self.directory / stream / BASE_NAME).exists()

    def verify(self, stream: str, files: dict[str, Path], *, upto: str | None = None,
               content: set[str] | None = None) -> StreamCheck:
        """Check ``stream``'s days (``files``: ISO day → day file) up to ``upto`` (inclusive;
        None = all): seal MACs and the chain always, the files' hashes for the days in
        ``content`` (None = every day)."""
        check = StreamCheck(stream)
        raw_base = _read_json(self.directory / stream / BASE_NAME)
        base = self._base(stream)
        if raw_base is not None and base is None:
            check.problem("-", *_says("base_invalid"))
        expected: tuple[str, str] | None = (
            (str(base["day"]), str(base["mac"])) if base else ("", ""))
        sealed_before = base is not None
        macs: dict[str, str] = {}
        for day in sorted(set(files) | set(self._seal_days(stream))):
            if upto is not None and day > upto:
                break
            if base is not None and day <= str(base["day"]):
                continue                          # past retention, being purged
            seal = _read_json(seal_path(self.directory, stream, day))
            if day not in files:
                check.problem(day, *_says("day_missing"))
                expected = (day, str(seal["mac"])) if self._valid(seal) else None   # type: ignore[index]
                sealed_before = True
                continue
            if seal is None:
                if sealed_before:
                    check.problem(day, *_says("not_sealed"))
                    expected = None
                else:
                    check.unsealed.append(day)
                continue
            sealed_before = True
            if not self._valid(seal) or seal.get("day") != day or seal.get("stream") != stream:
                check.problem(day, *_says("seal_invalid"))
                expected = None
                continue
            check.sealed += 1
            macs[day] = str(seal["mac"])
            if (content is None or day in content) and seal.get("sha256") != file_sha256(files[day]):
                check.problem(day, *_says("content_changed"))
            link = (str(seal.get("prev_day", "")), str(seal.get("prev", "")))
            if expected is not None and link != expected:
                if link[0] and link[0] not in files:
                    check.problem(day, *_says("previous_missing", day=link[0]))
                else:
                    check.problem(day, *_says("chain_broken"))
            expected = (day, str(seal["mac"]))
        head = self.redis.hget(keys.archive_seals(), stream)
        if head:
            head_day, _, head_mac = head.decode().partition(" ")
            if (upto is None or head_day <= upto) and (base is None or head_day > str(base["day"])):
                if head_day not in files:
                    check.problem(head_day, *_says("newest_missing"))
                elif head_day in macs and macs[head_day] != head_mac:
                    check.problem(head_day, *_says("newest_replaced"))
        return check
