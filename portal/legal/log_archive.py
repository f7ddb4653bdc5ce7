"""The daily log archive: real-name, accounting and audit streams → compressed day files.

The law keeps network logs at least 180 days (docs/protocols/sms.md §4.6); Redis keeps only the last
``archive.keep_in_redis_days`` local days. Older entries move to one gzip'd JSON Lines file per
stream and local day, ``<dir>/<stream>/<YYYY-MM-DD>.jsonl.gz``, and files older than
``archive.retention_days`` are deleted. A day is the local (``archive.timezone``) calendar day of
the stream entry id, i.e. when Redis appended it; ids only grow, so once a day lies before the
cut-off no entry can join it later and every file holds a complete day.

Nothing is lost, nothing doubles, whatever point a run dies at, because each day goes through:

1. write ``.<day>.jsonl.gz.tmp-<pid>``, fsync, rename over ``<day>.jsonl.gz``, fsync the folder;
2. only then move the stream's checkpoint (``keys.archive_checkpoints()``) to the day's last id;
3. only then ``XTRIM MINID`` the stream past the checkpoint.

A file is the union, deduplicated by stream id, of what an earlier file of that day holds and
what Redis holds for that day, written in id order with a fixed gzip header (no name, mtime 0),
so re-archiving a day (a crash after 1, before 2) rewrites the same bytes. A crash after 2 leaves
entries up to the checkpoint in Redis; the next run trims them first. Readers (portal/legal/logexport.py)
take ids up to the checkpoint from files and ids after it from Redis, so an export during a crash
window also sees every entry exactly once. Leftover temp files of a killed run are removed.

Each day file is sealed as it is written (portal/legal/archive_seal.py: hash, chained to the previous
day, HMAC with the archive key), so editing or deleting records, days or seals is detected by
``citywifi archive status`` and before every export.

One run at a time: a Redis lock ``<host>:<pid>:<nonce>`` (TTL renewed per day); a lock whose
holder process on this host is gone is taken over, so a rerun after ``kill -9`` works at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import heapq
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from portal.errors import CitywifiError
from portal.legal.archive_seal import ArchiveSealer
from portal.runtime.keyfiles import load_key
from portal.runtime.metrics_http import pid_alive
from portal.runtime.settings import Settings
from portal.state import keys

__all__ = [
    "STREAMS",
    "ArchiveBusy",
    "ArchiveError",
    "ArchiveJob",
    "ArchiveReport",
    "DayArchived",
    "Entry",
    "archive_directory",
    "archive_key",
    "archive_timezone",
    "as_text",
    "day_bounds_ms",
    "day_files",
    "day_of_ms",
    "day_path",
    "id_ms",
    "next_run_at",
    "parse_id",
    "read_day_file",
    "run_daily",
    "xrange_pages",
]

log = logging.getLogger(__name__)

# Archived streams: name (folder and checkpoint field) → key builder.
STREAMS: dict[str, Callable[[], str]] = {
    "realname": keys.real_name_log,
    "accounting": keys.acct_log,
    "audit": keys.audit_log,
}

LOCK_TTL_MS = 600_000
_MAX_SEQ = 18446744073709551615
_SUFFIX = ".jsonl.gz"

Hook = Callable[[str, str, dt.date], None]
Entry = tuple[str, dict[str, str]]


class ArchiveError(CitywifiError):
    """The archive job could not run or finish (the next run resumes where it stopped)."""

    code = "archive_failed"


class ArchiveBusy(ArchiveError):
    """Another archive run holds the lock."""

    code = "archive_busy"


# --- stream ids, days, files ---------------------------------------------------------------------

def parse_id(entry_id: str) -> tuple[int, int]:
    """``"<ms>-<seq>"`` → ``(ms, seq)`` (compare ids as tuples, never as strings)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def id_ms(entry_id: str) -> int:
    """The millisecond timestamp part of a stream id."""
    return int(entry_id.partition("-")[0])


def _next_id(entry_id: str) -> str:
    ms, seq = parse_id(entry_id)
    return f"{ms}-{seq + 1}" if seq < _MAX_SEQ else f"{ms + 1}-0"


def day_of_ms(ms: int, tz: ZoneInfo) -> dt.date:
    """The local calendar day of an epoch-milliseconds instant."""
    return dt.datetime.fromtimestamp(ms / 1000, tz).date()


def day_bounds_ms(day: dt.date, tz: ZoneInfo) -> tuple[int, int]:
    """``[start, end)`` of a local day in epoch milliseconds."""
    start = dt.datetime.combine(day, dt.time(), tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def _stream_folder(directory: Path, stream: str) -> Path:
    # Stream names reach here from export requests: only the fixed names become a folder.
    if stream not in STREAMS:
        raise ArchiveError(f"unknown log stream {stream[:40]!r}")
    return directory / stream


def day_path(directory: Path, stream: str, day: dt.date) -> Path:
    return _stream_folder(directory, stream) / f"{day.isoformat()}{_SUFFIX}"


def day_files(directory: Path, stream: str) -> list[tuple[dt.date, Path]]:
    """The stream's archive files, oldest day first (temp files and strangers ignored)."""
    folder = _stream_folder(directory, stream)
    if not folder.is_dir():
        return []
    out = []
    for path in folder.iterdir():
        if not path.name.endswith(_SUFFIX) or path.name.startswith("."):
            continue
        try:
            out.append((dt.date.fromisoformat(path.name[: -len(_SUFFIX)]), path))
        except ValueError:
            continue
    out.sort()
    return out


def _encode(entry_id: str, fields: dict[str, str]) -> bytes:
    return (json.dumps({"id": entry_id, "f": fields}, ensure_ascii=False,
                       separators=(",", ":")) + "\n").encode()


def read_day_file(path: Path) -> Iterator[Entry]:
    """Entries of one archive file in id order, read line by line (constant memory)."""
    try:
        with gzip.open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    obj = json.loads(line)
                    yield str(obj["id"]), dict(obj["f"])
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"archive file {path} is unreadable: {exc}") from exc


def _decode_fields(raw: dict[Any, Any]) -> dict[str, str]:
    return {(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)):
            (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
            for k, v in raw.items()}


def as_text(value: Any) -> str:
    """A Redis reply value (bytes or str) as str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def xrange_pages(redis: Any, key: str, lower: str, upper: str, page: int = 1000) -> Iterator[Entry]:
    """``XRANGE key lower upper`` read in pages, decoded; ``lower`` may be exclusive ``(id``."""
    while True:
        batch = redis.xrange(key, min=lower, max=upper, count=page)
        for entry_id, raw in batch:
            yield as_text(entry_id), _decode_fields(raw)
        if len(batch) < page:
            return
        lower = "(" + as_text(batch[-1][0])


def _merge_unique(*sources: Iterable[Entry]) -> Iterator[Entry]:
    """Merge id-ordered sources, keeping the first entry of each id."""
    last: tuple[int, int] | None = None
    for entry in heapq.merge(*sources, key=lambda e: parse_id(e[0])):
        key = parse_id(entry[0])
        if key != last:
            last = key
            yield entry


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def archive_directory(settings: Settings) -> Path:
    return Path(settings.archive.directory) if settings.archive.directory else (
        Path(settings.data_dir) / "archive")


def archive_timezone(settings: Settings) -> str:
    return settings.archive.timezone or settings.quota.timezone


def archive_key(settings: Settings, *, create: bool) -> bytes | None:
    """The key that seals archive days: ``archive.hmac_key``, else ``data_dir/archive-hmac.key``
    (made by the job when ``create``; readers never invent one)."""
    return load_key(settings.data_dir, "archive-hmac.key", settings.archive.hmac_key, create=create)


# --- the job ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DayArchived:
    stream: str
    day: dt.date
    path: Path
    entries: int
    last_id: str


@dataclass(frozen=True, slots=True)
class ArchiveReport:
    now: float
    days: tuple[DayArchived, ...] = ()
    trimmed: dict[str, int] = field(default_factory=dict)
    deleted: tuple[Path, ...] = ()

    @property
    def entries(self) -> int:
        return sum(d.entries for d in self.days)


class ArchiveJob:
    """Moves old stream entries to day files and deletes expired files; see the module doc.

    ``hook(point, stream, day)`` is called at "writing" (after the first line of a temp file),
    "file_written" (renamed, before the seal and the checkpoint), "checkpointed" (before the
    trim) and "trimmed" — tests raise from it to simulate a crash at that point.

    With ``key`` every day file is sealed (portal/legal/archive_seal.py); ``from_settings`` always
    passes the configured key.
    """

    def __init__(
        self, redis: Any, directory: Path, *, keep_in_redis_days: int = 7,
        retention_days: int = 180, timezone: str = "Asia/Shanghai",
        clock: Callable[[], float] = time.time, hook: Hook | None = None, page: int = 1000,
        streams: dict[str, Callable[[], str]] | None = None, key: bytes | None = None,
    ) -> None:
        self.redis = redis
        self.directory = Path(directory)
        self.sealer = ArchiveSealer(self.directory, key, redis) if key is not None else None
        self.keep_in_redis_days = keep_in_redis_days
        self.retention_days = retention_days
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self.hook = hook
        self.page = page
        self.streams = dict(streams or STREAMS)
        self._lock_value = ""

    @classmethod
    def from_settings(cls, redis: Any, settings: Settings, **kwargs: Any) -> ArchiveJob:
        a = settings.archive
        kwargs.setdefault("key", archive_key(settings, create=True))
        return cls(redis, archive_directory(settings), keep_in_redis_days=a.keep_in_redis_days,
                   retention_days=a.retention_days, timezone=archive_timezone(settings), **kwargs)

    def checkpoint(self, stream: str) -> str:
        """The last stream id durably archived ("0-0" before the first run)."""
        raw = self.redis.hget(keys.archive_checkpoints(), stream)
        return "0-0" if raw is None else as_text(raw)

    def run(self, now: float | None = None) -> ArchiveReport:
        """One run at ``now`` (default: the clock). Raises ArchiveBusy if another run is on."""
        now = self.clock() if now is None else now
        today = dt.datetime.fromtimestamp(now, self.tz).date()
        cutoff_ms = day_bounds_ms(today - dt.timedelta(days=self.keep_in_redis_days), self.tz)[0]
        self._acquire()
        try:
            self._remove_temp_files()
            days: list[DayArchived] = []
            trimmed: dict[str, int] = {}
            for stream in self.streams:
                trimmed[stream] = self._archive_stream(stream, cutoff_ms, days)
            deleted = self._purge(today - dt.timedelta(days=self.retention_days))
            report = ArchiveReport(now, tuple(days), trimmed, tuple(deleted))
            self.redis.hset(keys.archive_last_run(), mapping={
                "at": f"{now:.3f}", "entries": report.entries, "files": len(days),
                "trimmed": sum(trimmed.values()), "deleted": len(deleted), "error": "",
            })
            log.info("archive run: %d entries into %d day file(s), %d trimmed, %d expired file(s)"
                     " deleted", report.entries, len(days), sum(trimmed.values()), len(deleted))
            return report
        except Exception as exc:
            with contextlib.suppress(Exception):  # Redis itself may be what failed
                self.redis.hset(keys.archive_last_run(), mapping={"at": f"{now:.3f}",
                                                                  "error": str(exc)[:500]})
            raise
        finally:
            self._release()

    # --- per stream ------------------------------------------------------------------------------

    def _archive_stream(self, stream: str, cutoff_ms: int, days: list[DayArchived]) -> int:
        key = self.streams[stream]()
        cp = self.checkpoint(stream)
        trimmed = self._trim(key, cp)   # a run that died between checkpoint and trim
        while True:
            first = self.redis.xrange(key, min="(" + cp, max=str(cutoff_ms - 1), count=1)
            if not first:
                return trimmed
            day = day_of_ms(id_ms(as_text(first[0][0])), self.tz)
            archived = self._archive_day(stream, key, day)
            days.append(archived)
            if parse_id(archived.last_id) > parse_id(cp):
                self.redis.hset(keys.archive_checkpoints(), stream, archived.last_id)
                cp = archived.last_id
            self._point("checkpointed", stream, day)
            trimmed += self._trim(key, cp)
            self._point("trimmed", stream, day)
            self._renew()

    def _archive_day(self, stream: str, key: str, day: dt.date) -> DayArchived:
        start_ms, end_ms = day_bounds_ms(day, self.tz)
        path = day_path(self.directory, stream, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        sources: list[Iterable[Entry]] = [
            xrange_pages(self.redis, key, f"{start_ms}-0", str(end_ms - 1), self.page)]
        if path.exists():
            if self.sealer is not None and self.sealer.seal_matches(stream, day, path) is False:
                # Only a day past the checkpoint is ever rewritten: a run died between the file
                # and its seal, or Redis lost the checkpoint. `archive status` flagged it if not.
                log.warning("archive %s %s: the existing file does not match its seal; "
                            "rebuilding it from Redis and the file", stream, day)
            sources.append(read_day_file(path))   # union with what an earlier run archived
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        count, last_id = 0, "0-0"
        with open(tmp, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=raw, mtime=0) as gz:
                for entry_id, fields in _merge_unique(*sources):
                    gz.write(_encode(entry_id, fields))
                    count += 1
                    last_id = entry_id
                    if count == 1:
                        self._point("writing", stream, day)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        self._point("file_written", stream, day)
        if self.sealer is not None:
            self.sealer.seal_day(stream, day, path, count, last_id)
        return DayArchived(stream, day, path, count, last_id)

    def _trim(self, key: str, cp: str) -> int:
        if cp == "0-0":
            return 0
        return int(self.redis.xtrim(key, minid=_next_id(cp), approximate=False))

    def _purge(self, oldest_kept: dt.date) -> list[Path]:
        deleted = []
        for stream in self.streams:
            expired = [(day, path) for day, path in day_files(self.directory, stream)
                       if day < oldest_kept]
            if expired and self.sealer is not None:
                # The chain's new start is signed before its old days go.
                self.sealer.mark_purged(stream, [day for day, _ in expired])
            for day, path in expired:
                path.unlink(missing_ok=True)
                if self.sealer is not None:
                    self.sealer.unseal_purged(stream, day)
                deleted.append(path)
        return deleted

    def _remove_temp_files(self) -> None:
        for stream in self.streams:
            folder = self.directory / stream
            if folder.is_dir():
                for path in folder.glob(".*.tmp-*"):     # day files, seals, the chain base
                    path.unlink(missing_ok=True)

    def _point(self, point: str, stream: str, day: dt.date) -> None:
        if self.hook is not None:
            self.hook(point, stream, day)

    # --- the lock ---------------------------------------------------------------------------------

    def _acquire(self) -> None:
        me = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        for _ in range(2):
            if self.redis.set(keys.archive_lock(), me, nx=True, px=LOCK_TTL_MS):
                self._lock_value = me
                return
            holder = self.redis.get(keys.archive_lock())
            if holder is None:
                continue
            host, _, rest = as_text(holder).partition(":")
            pid = rest.partition(":")[0]
            if host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid)):
                # The holder died (kill -9, power cut): take over at once.
                self.redis.eval(_DEL_IF, 1, keys.archive_lock(), holder)
                continue
            raise ArchiveBusy(f"another archive run holds the lock ({as_text(holder)})")
        raise ArchiveBusy("could not take the archive lock")

    def _renew(self) -> None:
        if not self.redis.eval(_RENEW_IF, 1, keys.archive_lock(), self._lock_value, LOCK_TTL_MS):
            raise ArchiveBusy("lost the archive lock (run took longer than its TTL?)")

    def _release(self) -> None:
        if self._lock_value:
            try:
                self.redis.eval(_DEL_IF, 1, keys.archive_lock(), self._lock_value)
            finally:
                self._lock_value = ""


_DEL_IF = ("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
           "end return 0")
_RENEW_IF = ("if redis.call('GET', KEYS[1]) == ARGV[1] then "
             "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0")


# --- scheduling ----------------------------------------------------------------------------------

def next_run_at(now: float, run_at: str, timezone: str) -> float:
    """The next local ``HH:MM`` strictly after ``now`` (epoch seconds)."""
    tz = ZoneInfo(timezone)
    hh, _, mm = run_at.partition(":")
    local = dt.datetime.fromtimestamp(now, tz)
    target = local.replace(hour=int(hh), minute=int(mm), second=0, microsecond=0)
    if target.timestamp() <= now:
        target = dt.datetime.combine(local.date() + dt.timedelta(days=1), target.timetz())
    return target.timestamp()


def run_daily(
    job: ArchiveJob, run_at: str, *, stop: threading.Event, retry: float = 600.0,
) -> None:
    """Run ``job`` now (catching up after downtime), then every day at ``run_at`` (local, in the
    job's time zone) until ``stop`` is set. A failed run is logged and retried after ``retry``
    seconds — it resumes where the failed one stopped."""
    tz_name = str(job.tz.key)
    wake = job.clock()
    while not stop.is_set():
        if job.clock() >= wake:
            try:
                job.run()
                wake = next_run_at(job.clock(), run_at, tz_name)
            except Exception:
                log.exception("archive run failed; retrying in %.0f s", retry)
                wake = job.clock() + retry
        stop.wait(max(0.0, min(wake - job.clock(), 60.0)))
