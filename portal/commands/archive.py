"""``citywifi archive``: the legal-log archive job and exports.

* ``citywifi archive run [--now ISO]`` — one archive run (what the daily job does), then exit.
* ``citywifi archive schedule`` — run now, then daily at ``archive.run_at`` until SIGTERM
  (``citywifi up`` supervises this as the ``archive`` service); with ``reports.enabled`` it
  also runs the report roll-up every ``reports.interval_seconds`` (portal/reports/job.py).
* ``citywifi archive export --from DATE --to DATE [--stream S] [--phone P --mac M --ac A
  --venue V --kind K] [--format csv|jsonl]`` — streamed to standard output; audited (actor
  ``cli:<os user>``) like the consoles' exports.
* ``citywifi archive status`` — checkpoints, last run, files on disk, and the integrity check
  of every archived day (exit status 1 when a day fails it; portal/legal/archive_seal.py).

Exports check the days they read first and refuse, naming the day, when one fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError

from portal.admin.audit import AuditLog
from portal.legal.archive_seal import ArchiveSealer
from portal.legal.log_archive import (
    STREAMS,
    ArchiveError,
    ArchiveJob,
    archive_directory,
    archive_key,
    archive_timezone,
    as_text,
    day_files,
    run_daily,
)
from portal.legal.logexport import (
    FORMATS,
    ExportFilters,
    ExportIntegrityError,
    ExportRequestError,
    day_range,
    log_exporter,
)
from portal.legal.logtext import printable
from portal.runtime.keyfiles import KeyFileError
from portal.runtime.readiness import notify_ready
from portal.runtime.settings import Settings, SettingsError
from portal.state import StateUnavailable, connect
from portal.state import keys as state_keys
from portal.state.instance import instance_redis_url

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", default=None, help="override redis.url")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    p_run = sub.add_parser("run", help="archive old log entries and delete expired files, once")
    p_run.add_argument("--now", default=None, metavar="ISO",
                       help="pretend it is this time (ISO 8601; naive = archive time zone)")
    sub.add_parser("schedule", help="run now, then every day at archive.run_at (until SIGTERM)")
    sub.add_parser("status", help="show checkpoints, the last run and the archive files")
    p_exp = sub.add_parser("export", help="export log records to standard output")
    p_exp.add_argument("--from", dest="date_from", required=True, metavar="YYYY-MM-DD")
    p_exp.add_argument("--to", dest="date_to", required=True, metavar="YYYY-MM-DD",
                       help="last day included")
    p_exp.add_argument("--stream", default="realname", choices=list(STREAMS))
    p_exp.add_argument("--format", default="csv", choices=list(FORMATS))
    for name in ("phone", "mac", "ac", "venue", "kind"):
        p_exp.add_argument(f"--{name}", default="")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        # --redis-url, redis.url, else the running `citywifi up` of data_dir (NoInstance otherwise)
        redis = connect(settings.redis, instance_redis_url(settings, args.redis_url))
    except (StateUnavailable, SettingsError) as exc:
        print(f"citywifi archive: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "run":
            return _run_once(redis, settings, args.now)
        if args.action == "schedule":
            return _schedule(redis, settings)
        if args.action == "status":
            return _status(redis, settings)
        return _export(redis, settings, args)
    finally:
        redis.close()


def _run_once(redis: Any, settings: Settings, now_text: str | None) -> int:
    now = None
    if now_text:
        try:
            when = dt.datetime.fromisoformat(now_text)
        except ValueError:
            print(f"citywifi archive: --now: not an ISO 8601 time: {now_text!r}", file=sys.stderr)
            return 2
        if when.tzinfo is None:
            when = when.replace(tzinfo=ZoneInfo(archive_timezone(settings)))
        now = when.timestamp()
    try:
        report = ArchiveJob.from_settings(redis, settings).run(now)
    except (ArchiveError, KeyFileError) as exc:
        print(f"citywifi archive: {exc}", file=sys.stderr)
        return 1
    for day in report.days:
        print(f"archived {day.entries:>8} {day.stream:<10} {day.day} → {day.path}")
    for path in report.deleted:
        print(f"deleted (past retention) {path}")
    print(f"done: {report.entries} entries archived, {sum(report.trimmed.values())} trimmed "
          f"from Redis, {len(report.deleted)} expired file(s) deleted")
    return 0


def _schedule(redis: Any, settings: Settings) -> int:
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    job = ArchiveJob.from_settings(redis, settings)
    reports = None
    if settings.reports.enabled:
        # The report roll-up rides in this long-running process (portal/reports/job.py); its
        # own Redis lock keeps two nodes from rolling up at once.
        from portal.reports.job import report_job, run_periodically
        reports = threading.Thread(target=run_periodically, name="reports", daemon=True, kwargs={
            "job": report_job(redis, settings), "stop": stop,
            "interval": float(settings.reports.interval_seconds)})
        reports.start()
    notify_ready(f"archive job scheduled daily at {settings.archive.run_at}")
    run_daily(job, settings.archive.run_at, stop=stop)
    if reports is not None:
        reports.join(timeout=30)
    return 0


def _status(redis: Any, settings: Settings) -> int:
    directory = archive_directory(settings)
    checkpoints = {as_text(k): as_text(v)
                   for k, v in redis.hgetall(state_keys.archive_checkpoints()).items()}
    last = {as_text(k): as_text(v) for k, v in redis.hgetall(state_keys.archive_last_run()).items()}
    try:
        sealer = ArchiveSealer(directory, archive_key(settings, create=False), redis)
    except KeyFileError as exc:
        print(f"citywifi archive status: {exc}", file=sys.stderr)
        return 1
    print(f"archive directory: {directory}")
    print(f"last run: {printable(str(last or 'never'))}")
    failed = False
    for stream, key in STREAMS.items():
        files = day_files(directory, stream)
        span = f"{files[0][0]} … {files[-1][0]}" if files else "none"
        print(f"{stream:<10} in Redis: {int(redis.xlen(key())):>8}  checkpoint: "
              f"{checkpoints.get(stream, '-'):<20} files: {len(files)} ({span})")
        check = sealer.verify(stream, {day.isoformat(): path for day, path in files})
        verdict = "FAILED" if check.problems else "ok"
        unsealed = f", {len(check.unsealed)} unsealed (archived before sealing)" if check.unsealed else ""
        print(f"{'':<10} integrity: {verdict} — {check.sealed} sealed day(s){unsealed}")
        for problem in check.problems:
            failed = True
            print(f"{'':<10}   {problem.day}: {problem.what} / {problem.what_zh}")
    return 1 if failed else 0


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):      # no passwd entry (containers): the uid still names someone
        return f"uid{os.getuid()}"


def _export(redis: Any, settings: Settings, args: argparse.Namespace) -> int:
    try:
        first = dt.date.fromisoformat(args.date_from)
        last = dt.date.fromisoformat(args.date_to)
        start, end = day_range(first, last, archive_timezone(settings))
        filters = ExportFilters(phone=args.phone, mac=args.mac, ac=args.ac, venue=args.venue,
                                kind=args.kind)
        chunks = log_exporter(redis, settings).export(args.stream, start, end, filters, args.format)
        # Audited like the console's and the API's exports, before the first record leaves (an
        # export that cannot be recorded does not run).
        AuditLog(redis).record(f"cli:{_os_user()}", "noc", "log.export", args.stream, None,
                               {"from": str(first), "to": str(last), "format": args.format,
                                "filters": filters.active(), "via": "citywifi archive export"},
                               "local")
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk.encode("utf-8"))
        out.flush()
    except ExportIntegrityError as exc:
        print(f"citywifi archive export: refused: {exc}\n{exc.message_zh}", file=sys.stderr)
        return 1
    except (ValueError, ExportRequestError) as exc:
        print(f"citywifi archive export: {exc}", file=sys.stderr)
        return 2
    except (ArchiveError, KeyFileError, RedisError) as exc:
        print(f"citywifi archive export: {exc}", file=sys.stderr)
        return 1
    return 0
