"""Streamed export of the legal logs (real-name, accounting, audit) by time range and filters.

Reads the archive day files (portal/legal/log_archive.py) and the recent part still in Redis, in stream-id
order (= the order Redis appended them), and yields CSV or JSON Lines text in chunks of a few
hundred rows: memory stays flat whatever the range. The time range applies to the entry's stream
id time (when it was logged), ``start <= t < end``; rows also carry the record's own ``time``.

Exactly once, also while the archive job runs or after it crashed: entries up to the stream's
archive checkpoint come from files, entries after it from Redis. If the job moves the checkpoint
past the export's position while a Redis page is read (and might trim what the page should have
held), the page is dropped and that span is read from the files instead — correct because the job
writes the checkpoint only after the file is durable and trims only after the checkpoint.

Integrity: before the first row, the archive days the export will read are checked against
their seals and the day chain (portal/legal/archive_seal.py); a failed check refuses the export and
names the day (``ExportIntegrityError``). Days the archive job writes while the export runs are
checked as they are read. Every value is written with control characters escaped
(portal/legal/logtext.py): an AC-supplied SSID cannot drive the operator's terminal or split a row.

CSV is what the public-security bureau's staff open in Excel on Chinese Windows: UTF-8 **with a
BOM** (without it Excel decodes the file as GBK and the Chinese becomes mojibake), CRLF line ends,
a header row; cells that Excel would run as a formula (starting ``= + - @``, tab, CR) get a
leading ``'``. JSON Lines is exact (no BOM, one object per line, UTF-8).

Use::

    exporter = log_exporter(redis, settings)          # once (portal.web.wiring)
    for chunk in exporter.export("realname", start, end, ExportFilters(phone="189…"), "csv"):
        ...                                             # str chunks; encode as UTF-8
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from portal.aaa.sessions import normalise_mac_or_none
from portal.errors import ValidationError
from portal.legal.archive_seal import ArchiveSealer, ArchiveTampered, DayProblem
from portal.legal.log_archive import (
    STREAMS,
    Entry,
    archive_directory,
    archive_key,
    archive_timezone,
    as_text,
    day_bounds_ms,
    day_files,
    day_of_ms,
    id_ms,
    parse_id,
    read_day_file,
)
from portal.legal.logtext import printable
from portal.legal.texts import EXPORT_ERRORS, SEAL_PROBLEMS
from portal.runtime.settings import Settings
from portal.state import keys
from portal.texts import fill

__all__ = [
    "COLUMNS",
    "FORMATS",
    "ExportFilters",
    "ExportIntegrityError",
    "ExportRequestError",
    "LogExporter",
    "day_range",
    "log_exporter",
]

FORMATS = ("csv", "jsonl")

# Output columns per stream, in CSV order (JSON Lines objects have the same keys).
COLUMNS: dict[str, tuple[str, ...]] = {
    "realname": ("id", "time", "kind", "phone", "mac", "ip", "ac", "ap", "ssid", "venue", "plan",
                 "session_id", "start", "stop", "session_time", "bytes_in", "bytes_out", "cause",
                 "observed_ip"),
    "accounting": ("id", "time", "kind", "phone", "user_name", "mac", "ip", "ac", "nas_ip",
                   "nas_id", "called_station", "session_id", "session_time", "bytes_in",
                   "bytes_out", "packets_in", "packets_out", "terminate_cause", "event_time",
                   "delay", "class"),
    "audit": ("id", "time", "actor", "area", "action", "target", "ip", "before", "after"),
}
_NUMERIC = {"session_time", "bytes_in", "bytes_out", "packets_in", "packets_out",
            "terminate_cause", "delay"}
# Filters each stream understands (others are refused, not silently ignored).
_FILTERS = {
    "realname": {"phone", "mac", "ac", "venue", "kind"},
    "accounting": {"phone", "mac", "ac", "venue", "kind"},
    "audit": {"kind"},
}
_ACCT_KIND = {"1": "start", "2": "stop", "3": "interim", "7": "accounting-on", "8": "accounting-off"}
_FORMULA_START = frozenset("=+-@\t\r")   # a CSV cell starting so is a formula to Excel


class ExportRequestError(ValidationError):
    """A bad export request; ``code`` for the API, English ``str()`` and ``message_zh``."""

    def __init__(self, code: str, en: str, zh: str) -> None:
        super().__init__(en)
        self.code = code
        self.message_zh = zh


def _refused(code: str, key: str, **fields: object) -> ExportRequestError:
    """An :class:`ExportRequestError` saying EXPORT_ERRORS[key] (portal/legal/texts.py)."""
    zh, en = fill(EXPORT_ERRORS[key], **fields)
    return ExportRequestError(code, en, zh)


class ExportIntegrityError(ExportRequestError):
    """Archive days the export would read failed their integrity check (tampered)."""

    def __init__(self, problems: list[DayProblem]) -> None:
        tampered = ArchiveTampered(problems)
        super().__init__("archive_tampered", str(tampered), tampered.message_zh)
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """Exact-match filters ("" = any). ``mac`` in any common notation. ``venue``: real-name
    logins of that venue plus logouts/accounting on the venue's ACs. ``kind``: real-name
    sms/returning/silent/logout; accounting start/interim/stop/accounting-on/-off/reaped/
    nas-on/nas-off; audit the area or the action."""

    phone: str = ""
    mac: str = ""
    ac: str = ""
    venue: str = ""
    kind: str = ""

    def active(self) -> dict[str, str]:
        return {k: v for k, v in (("phone", self.phone), ("mac", self.mac), ("ac", self.ac),
                                  ("venue", self.venue), ("kind", self.kind)) if v}


def day_range(first: dt.date, last: dt.date, timezone: str) -> tuple[float, float]:
    """``(start, end)`` epoch seconds covering local days ``first`` … ``last`` inclusive."""
    tz = ZoneInfo(timezone)
    if last < first:
        raise _refused("bad_range", "to_before_from", last=last, first=first)
    return day_bounds_ms(first, tz)[0] / 1000, day_bounds_ms(last, tz)[1] / 1000


def _text_fields(raw: dict[Any, Any]) -> dict[str, str]:
    """One stream entry's fields as text. Decoding through C-level ``map`` is about three times
    faster than a comprehension calling ``as_text``: the reports' roll-up reads millions."""
    try:
        return dict(zip(map(bytes.decode, raw), map(bytes.decode, raw.values()), strict=True))
    except TypeError:                        # a client made with decode_responses
        return {as_text(k): as_text(v) for k, v in raw.items()}


class LogExporter:
    """Exports one archived stream; build once per process. ``venue_acs(venue_id)`` gives the
    AC names of a venue (for venue filters on logout/accounting rows). With ``sealer`` (what
    ``log_exporter`` always passes) every export checks the archive days it reads first."""

    def __init__(
        self, redis: Any, directory: Path, *, timezone: str = "Asia/Shanghai",
        venue_acs: Callable[[str], Iterable[str]] | None = None, page: int = 1000,
        chunk_rows: int = 500, sealer: ArchiveSealer | None = None,
    ) -> None:
        self.redis = redis
        self.directory = Path(directory)
        self.sealer = sealer
        self.tz = ZoneInfo(timezone)
        self.venue_acs = venue_acs
        self.page = page
        self.chunk_rows = chunk_rows

    # --- the public generator --------------------------------------------------------------------

    def export(
        self, stream: str, start: float | dt.datetime, end: float | dt.datetime,
        filters: ExportFilters | None = None, fmt: str = "csv",
    ) -> Iterator[str]:
        """Rows of ``stream`` ("realname", "accounting", "audit") logged in ``[start, end)``
        (epoch seconds or datetimes; naive = the archive time zone) matching ``filters``, oldest
        first, as ``fmt`` ("csv": BOM + header + rows, CRLF; "jsonl": one object per line).

        Yields ``str`` chunks of up to ``chunk_rows`` rows; the CSV header/BOM chunk comes first
        even when nothing matches. Bad arguments raise ``ExportRequestError`` at the call (before
        the first chunk), so a web view can answer 400 before it starts streaming.
        """
        filters = filters or ExportFilters()
        start_ms, end_ms = self._check(stream, start, end, filters, fmt)
        verified = self.verify(stream, start_ms, end_ms)
        rows = (self._row(stream, e) for e in self.entries(stream, start_ms, end_ms, verified))
        return self._render(stream, (r for r in rows if self._match(stream, r, filters)), fmt)

    def verify(self, stream: str, start_ms: int, end_ms: int) -> set[str]:
        """Check the archive days an export of ``[start_ms, end_ms)`` reads (their seals, their
        content) and the day chain up to the checkpoint; raise ExportIntegrityError naming the
        days that fail. Returns the days whose content was checked."""
        if self.sealer is None:
            return set()
        cp = self._checkpoint(stream)
        if cp == "0-0":
            return set()                       # nothing is read from files
        upto = day_of_ms(id_ms(cp), self.tz).isoformat()
        first = day_of_ms(start_ms, self.tz).isoformat()
        last = day_of_ms(end_ms - 1, self.tz).isoformat()
        files = {day.isoformat(): path for day, path in day_files(self.directory, stream)}
        content = {day for day in files if first <= day <= last and day <= upto}
        check = self.sealer.verify(stream, files, upto=upto, content=content)
        if check.problems:
            raise ExportIntegrityError(check.problems)
        return content

    def entries(self, stream: str, start_ms: int, end_ms: int,
                verified: set[str] | None = None) -> Iterator[Entry]:
        """Raw ``(id, fields)`` in ``[start_ms, end_ms)``, id order, files then Redis. A day file
        not in ``verified`` is checked against its seal before it is read."""
        key = STREAMS[stream]()
        cp = self._checkpoint(stream)
        verified = set() if verified is None else verified
        yield from self._from_files(stream, "0-0", cp, start_ms, end_ms, verified)
        after = cp
        while True:
            lower = ("(" + after) if parse_id(after) >= (start_ms, 0) else f"{start_ms}-0"
            batch = self.redis.xrange(key, min=lower, max=str(end_ms - 1), count=self.page)
            moved = self._checkpoint(stream)
            if parse_id(moved) > parse_id(after):
                # The archive job passed us (and may have trimmed this span): read it from files.
                yield from self._from_files(stream, after, moved, start_ms, end_ms, verified)
                after = moved
                continue
            for entry_id, raw in batch:
                yield as_text(entry_id), _text_fields(raw)
            if len(batch) < self.page:
                return
            after = as_text(batch[-1][0])

    # --- internals --------------------------------------------------------------------------------

    def _check(self, stream: str, start: float | dt.datetime, end: float | dt.datetime,
               filters: ExportFilters, fmt: str) -> tuple[int, int]:
        if stream not in STREAMS:
            raise _refused("bad_stream", "bad_stream", stream=stream, streams=", ".join(STREAMS))
        if fmt not in FORMATS:
            raise _refused("bad_format", "bad_format", fmt=fmt)
        for name in filters.active():
            if name not in _FILTERS[stream]:
                raise _refused("bad_filter", "bad_filter", name=name, stream=stream)
        if filters.mac and normalise_mac_or_none(filters.mac) is None:
            raise _refused("bad_mac", "bad_mac", mac=filters.mac)
        start_ms, end_ms = self._ms(start), self._ms(end)
        if end_ms <= start_ms:
            raise _refused("bad_range", "bad_range")
        return start_ms, end_ms

    def _ms(self, t: float | dt.datetime) -> int:
        if isinstance(t, dt.datetime):
            t = (t if t.tzinfo else t.replace(tzinfo=self.tz)).timestamp()
        return int(t * 1000)

    def _checkpoint(self, stream: str) -> str:
        raw = self.redis.hget(keys.archive_checkpoints(), stream)
        return "0-0" if raw is None else as_text(raw)

    def _from_files(self, stream: str, after: str, upto: str, start_ms: int,
                    end_ms: int, verified: set[str]) -> Iterator[Entry]:
        """File entries with ``after < id <= upto`` inside ``[start_ms, end_ms)``."""
        lo, hi = parse_id(after), parse_id(upto)
        if hi <= lo:
            return
        first_day = day_of_ms(max(start_ms, lo[0]), self.tz)
        last_day = day_of_ms(min(end_ms - 1, hi[0]), self.tz)
        for day, path in day_files(self.directory, stream):
            if day < first_day:
                continue
            if day > last_day:
                return
            if self.sealer is not None and day.isoformat() not in verified:
                # archived while this export ran: check it before reading it
                if self.sealer.seal_matches(stream, day, path) is False:
                    zh, en = SEAL_PROBLEMS["seal_mismatch"]
                    raise ExportIntegrityError([DayProblem(stream, day.isoformat(), en, zh)])
                verified.add(day.isoformat())
            for entry_id, fields in read_day_file(path):
                key = parse_id(entry_id)
                if key <= lo or key[0] < start_ms:
                    continue
                if key > hi or key[0] >= end_ms:
                    break
                yield entry_id, fields

    def _time(self, at: str, entry_id: str) -> str:
        try:
            seconds = float(at)
        except ValueError:
            seconds = id_ms(entry_id) / 1000
        return dt.datetime.fromtimestamp(seconds, self.tz).isoformat(timespec="seconds")

    def _row(self, stream: str, entry: Entry) -> dict[str, str]:
        entry_id, f = entry
        g = f.get
        row: dict[str, str]
        if stream == "realname":
            logout = g("kind") == "logout"
            row = {"id": entry_id, "time": self._time(g("at", ""), entry_id), "kind": g("kind", ""),
                   "phone": g("phone", ""), "mac": g("mac", ""), "ip": g("ip", ""),
                   "ac": g("ac", ""), "ap": g("ap", ""), "ssid": g("ssid", ""),
                   "venue": g("venue", ""), "plan": g("plan", ""), "session_id": g("sid", ""),
                   "start": self._time(g("start", ""), entry_id) if logout else "",
                   "stop": self._time(g("stop", ""), entry_id) if logout else "",
                   "session_time": g("t", ""), "bytes_in": g("in", ""), "bytes_out": g("out", ""),
                   "cause": g("cause", ""), "observed_ip": g("observed_ip", "")}
        elif stream == "accounting":
            kind = g("k", "")
            if kind == "acct":
                kind = _ACCT_KIND.get(g("st", ""), "status-" + g("st", "?"))
            ets = g("ets", "")
            row = {"id": entry_id, "time": self._time(g("at", ""), entry_id), "kind": kind,
                   "phone": g("ph", ""), "user_name": g("un", ""),
                   "mac": normalise_mac_or_none(g("mac", "")) or g("mac", ""), "ip": g("ip", ""),
                   "ac": g("ac", ""), "nas_ip": g("nas", ""), "nas_id": g("nasid", ""),
                   "called_station": g("called", ""), "session_id": g("sid", ""),
                   "session_time": g("t", ""), "bytes_in": g("in", ""), "bytes_out": g("out", ""),
                   "packets_in": g("ipk", ""), "packets_out": g("opk", ""),
                   "terminate_cause": g("tc", ""),
                   "event_time": self._time(ets, entry_id) if ets else "", "delay": g("dly", ""),
                   "class": g("cls", "")}
        else:
            row = {"id": entry_id, "time": self._time(g("at", ""), entry_id),
                   "actor": g("actor", ""), "area": g("area", ""), "action": g("action", ""),
                   "target": g("target", ""), "ip": g("ip", ""), "before": g("before", ""),
                   "after": g("after", "")}
        return row

    def _match(self, stream: str, row: dict[str, str], filters: ExportFilters) -> bool:
        if filters.phone and row.get("phone") != filters.phone:
            return False
        if filters.ac and row.get("ac") != filters.ac:
            return False
        if filters.mac and normalise_mac_or_none(row.get("mac")) != normalise_mac_or_none(
                filters.mac):
            return False
        if filters.kind:
            if stream == "audit":
                if filters.kind not in (row["area"], row["action"]):
                    return False
            elif row.get("kind") != filters.kind:
                return False
        if filters.venue:
            if row.get("venue") == filters.venue:
                return True
            if row.get("venue") or self.venue_acs is None:
                return False
            return row.get("ac", "") in self._acs_of(filters.venue)
        return True

    def _acs_of(self, venue: str) -> frozenset[str]:
        cache = getattr(self, "_venue_cache", None)
        if cache is None or cache[0] != venue:
            assert self.venue_acs is not None
            cache = (venue, frozenset(self.venue_acs(venue)))
            self._venue_cache = cache
        return cache[1]

    def _render(self, stream: str, rows: Iterable[dict[str, str]], fmt: str) -> Iterator[str]:
        columns = COLUMNS[stream]
        buf = io.StringIO()
        if fmt == "csv":
            writer = csv.writer(buf, lineterminator="\r\n")
            buf.write("\ufeff")
            writer.writerow(columns)
        for n, row in enumerate(rows, 1):
            if fmt == "csv":
                writer.writerow([("'" + v) if v[:1] in _FORMULA_START else v
                                 for v in map(printable, map(row.__getitem__, columns))])
            else:
                obj: dict[str, Any] = {c: (int(row[c]) if c in _NUMERIC and row[c].isdigit()
                                           else printable(row[c])) for c in columns}
                buf.write(json.dumps(obj, ensure_ascii=False))
                buf.write("\n")
            if n % self.chunk_rows == 0:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        if buf.tell():
            yield buf.getvalue()


def log_exporter(redis: Any, settings: Settings, **kwargs: Any) -> LogExporter:
    """A LogExporter configured from settings; venue filters resolve ACs through VenueStore."""
    from portal.venues.venue_store import VenueStore

    venues = VenueStore(redis)

    def venue_acs(venue_id: str) -> tuple[str, ...]:
        venue = venues.get_or_none(venue_id)
        return tuple(venue.acs) if venue is not None else ()

    kwargs.setdefault("venue_acs", venue_acs)
    directory = archive_directory(settings)
    kwargs.setdefault("sealer", ArchiveSealer(directory, archive_key(settings, create=False), redis))
    return LogExporter(redis, directory, timezone=archive_timezone(settings), **kwargs)
