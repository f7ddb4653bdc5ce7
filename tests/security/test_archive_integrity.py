"""An edit to the legal archive is detected.

Changing a phone number in a day's ``.jsonl.gz`` or deleting a record went unnoticed by the
export and by ``citywifi archive status``. The archive is now sealed day by day (hash, chained to
the previous day, HMAC with the archive key): these tests archive real days with the real job,
tamper with the real files the way an intruder with file access would, and run the real CLI.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from portal.legal.log_archive import ArchiveJob
from portal.legal.logexport import ExportIntegrityError, log_exporter
from portal.runtime.settings import ArchiveSettings, RedisSettings, Settings
from portal.state import keys

TZ = ZoneInfo("Asia/Shanghai")
DAY0 = dt.date(2026, 3, 1)
BASE_MS = int(dt.datetime.combine(DAY0, dt.time(), TZ).timestamp() * 1000)
DAY_MS = 86_400_000
ROOT = Path(__file__).resolve().parents[2]


def day(n: int) -> str:
    return (DAY0 + dt.timedelta(days=n)).isoformat()


def at(n: int) -> float:
    """03:30 local on day ``n`` (when the daily job runs)."""
    return BASE_MS / 1000 + n * 86400 + 3.5 * 3600


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    return Settings(data_dir=tmp_path, redis=RedisSettings(url=redis_url),
                    archive=ArchiveSettings(keep_in_redis_days=1))


def log_days(redis: Any, days: range, per_day: int = 5) -> None:
    pipe = redis.pipeline(transaction=False)
    for n in days:
        for i in range(per_day):
            ms = BASE_MS + n * DAY_MS + (i + 1) * 3_600_000
            pipe.xadd(keys.real_name_log(), {
                "phone": f"189{n:04d}{i:04d}", "mac": "aa:bb:cc:dd:ee:01", "ip": "10.0.0.5",
                "ac": "ac1", "ap": "", "ssid": "CityWiFi", "venue": "v1", "kind": "sms",
                "plan": "free", "at": f"{ms / 1000:.3f}"}, id=f"{ms}-0")
    pipe.execute()


@pytest.fixture
def archived(redis_client: Any, settings: Settings) -> Path:
    """Days 0–4 archived by the real job (sealed with data_dir/archive-hmac.key)."""
    log_days(redis_client, range(5))
    ArchiveJob.from_settings(redis_client, settings).run(at(6))
    folder = settings.data_dir / "archive" / "realname"
    assert sorted(p.name for p in folder.glob("*.jsonl.gz")) == [f"{day(n)}.jsonl.gz" for n in range(5)]
    return folder


def cli(settings: Settings, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env.update(CITYWIFI_DATA_DIR=str(settings.data_dir), CITYWIFI_REDIS_URL=redis_url,
               PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "portal.cli", "archive", *args], env=env,
                          cwd=settings.data_dir, capture_output=True, text=True, timeout=60)


def export_all(settings: Settings, redis: Any) -> str:
    chunks = log_exporter(redis, settings).export("realname", at(-1), at(30), None, "jsonl")
    return "".join(chunks)


def rewrite(path: Path, edit: Any) -> None:
    """Rewrite a day file's lines through ``edit`` (list of lines → list of lines)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in edit(lines)))


def assert_detected(settings: Settings, redis: Any, redis_url: str, bad_day: str,
                    words: str) -> None:
    status = cli(settings, redis_url, "status")
    assert status.returncode == 1, status.stdout + status.stderr
    assert f"{bad_day}: " in status.stdout and words in status.stdout, status.stdout
    export = cli(settings, redis_url, "export", "--from", day(0), "--to", day(9))
    assert export.returncode == 1 and export.stdout == ""                # nothing was exported
    assert bad_day in export.stderr and words in export.stderr, export.stderr
    with pytest.raises(ExportIntegrityError) as err:
        export_all(settings, redis)
    assert bad_day in str(err.value) and bad_day in err.value.message_zh


def test_untouched_archive_checks_out(redis_client: Any, redis_url: str, settings: Settings,
                                      archived: Path) -> None:
    status = cli(settings, redis_url, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "integrity: ok — 5 sealed day(s)" in status.stdout
    assert export_all(settings, redis_client).count("\n") == 25


def test_an_edited_phone_number_is_detected(redis_client: Any, redis_url: str, settings: Settings,
                                            archived: Path) -> None:
    rewrite(archived / f"{day(2)}.jsonl.gz",
            lambda lines: [lines[0].replace("18900020000", "13912345678"), *lines[1:]])
    assert_detected(settings, redis_client, redis_url, day(2), "content changed")


def test_a_deleted_record_is_detected(redis_client: Any, redis_url: str, settings: Settings,
                                      archived: Path) -> None:
    rewrite(archived / f"{day(3)}.jsonl.gz", lambda lines: lines[:2] + lines[3:])
    assert_detected(settings, redis_client, redis_url, day(3), "content changed")


def test_a_deleted_day_is_detected(redis_client: Any, redis_url: str, settings: Settings,
                                   archived: Path) -> None:
    for path in archived.glob(f"{day(1)}.*"):      # the file and its seal
        path.unlink()
    assert_detected(settings, redis_client, redis_url, day(2), f"({day(1)}) is missing")


def test_a_deleted_newest_or_oldest_day_is_detected(redis_client: Any, redis_url: str,
                                                    settings: Settings, archived: Path) -> None:
    for path in archived.glob(f"{day(4)}.*"):
        path.unlink()
    assert_detected(settings, redis_client, redis_url, day(4), "newest sealed day is missing")
    for path in archived.glob(f"{day(0)}.*"):
        path.unlink()
    status = cli(settings, redis_url, "status")
    assert status.returncode == 1 and f"{day(1)}: the day before it in the chain ({day(0)}) is missing" \
        in status.stdout, status.stdout


def test_resealing_without_the_key_is_detected(redis_client: Any, redis_url: str,
                                               settings: Settings, archived: Path) -> None:
    path = archived / f"{day(2)}.jsonl.gz"
    rewrite(path, lambda lines: lines[1:])
    seal_file = archived / f"{day(2)}.seal.json"
    seal = json.loads(seal_file.read_text())
    seal["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    seal["entries"] -= 1
    body = json.dumps({k: v for k, v in seal.items() if k != "mac"}, sort_keys=True,
                      separators=(",", ":")).encode()
    seal["mac"] = hmac.new(b"a guessed key", body, hashlib.sha256).hexdigest()
    seal_file.write_text(json.dumps(seal))
    assert_detected(settings, redis_client, redis_url, day(2), "seal does not verify")
    # A new key file does not help either: it changes every day's seal check.
    (settings.data_dir / "archive-hmac.key").write_text(os.urandom(32).hex())
    status = cli(settings, redis_url, "status")
    assert status.returncode == 1 and status.stdout.count("seal does not verify") == 5


def test_retention_purge_keeps_the_chain_checkable(redis_client: Any, redis_url: str,
                                                   settings: Settings, archived: Path) -> None:
    log_days(redis_client, range(183, 185))
    ArchiveJob.from_settings(redis_client, settings).run(at(186))   # days 0..4 pass retention
    names = sorted(p.name for p in archived.glob("*.jsonl.gz"))
    assert names == [f"{day(183)}.jsonl.gz", f"{day(184)}.jsonl.gz"]
    assert cli(settings, redis_url, "status").returncode == 0
    for path in archived.glob(f"{day(183)}.*"):     # the oldest day still kept
        path.unlink()
    status = cli(settings, redis_url, "status")
    assert status.returncode == 1 and f"{day(184)}: " in status.stdout, status.stdout
