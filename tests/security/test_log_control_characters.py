"""Control characters from the AC never reach the legal log, its exports or a terminal raw.

An SSID of ``\\x00\\x1b[31m…`` or one with CR/LF was stored raw, exported raw in CSV (rows split
in line-based tools) and printed raw to the operator's terminal by ``citywifi archive export``.
Now the stored value is escaped (reversibly) and no export prints a control character.

Real parts: radclient → the real RADIUS server → Redis (accounting log, real-name logout); the
real-name login writer; the real archive job; the real ``citywifi archive export`` CLI.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from portal.legal.log_archive import ArchiveJob
from portal.legal.logtext import unescape_raw
from portal.legal.reallog import LoginRecord, RealNameLog
from portal.runtime.settings import ArchiveSettings, RedisSettings, Settings
from portal.state import keys
from tests.radius.serverkit import HAVE_RADCLIENT, radclient, register, running_server, signed_class

ROOT = Path(__file__).resolve().parents[2]
PHONE = "18900000001"
EVIL_SSID = "\x00\x1b[31mFree\x1b[0m\r\nWiFi\u202e"
# Bytes a terminal or a line-based CSV reader acts on: C0 (but the CSV's own CR LF), DEL, C1
# controls as UTF-8, bidi overrides as UTF-8.
CONTROL_BYTES = re.compile(rb"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]")


def cli_export(settings: Settings, redis_url: str, stream: str, day: str) -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env.update(CITYWIFI_DATA_DIR=str(settings.data_dir), CITYWIFI_REDIS_URL=redis_url,
               PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "portal.cli", "archive", "export", "--stream", stream,
                           "--from", day, "--to", day], env=env, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def rows(out: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out.decode("utf-8-sig"), newline="")))


def assert_printable(out: bytes) -> None:
    """No control character at all, except the CRLF that ends each CSV row."""
    assert not CONTROL_BYTES.search(out), out
    inside = out.replace(b"\r\n", b"")
    assert b"\r" not in inside and b"\n" not in inside, out


@pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient (freeradius-utils) not installed")
def test_ac_control_characters_are_stored_escaped_and_never_printed(
        redis_client: Any, redis_url: str, tmp_path: Path) -> None:
    register(redis_client)
    settings = Settings(data_dir=tmp_path, redis=RedisSettings(url=redis_url),
                        archive=ArchiveSettings(keep_in_redis_days=1))
    cls = signed_class(PHONE, issued=time.time() - 60)
    # radclient writes \000, \033, \r, \n as those bytes on the wire.
    called = r'"00-11-22-33-44-55:\000\033[31mFree\033[0m\r\nWiFi"'
    sid = r'"S\r\n1\033]0;pwned\007"'
    stop = (f"Acct-Status-Type = Stop\nAcct-Session-Id = {sid}\nUser-Name = \"{PHONE}\"\n"
            f"Class = 0x{cls.hex()}\nCalled-Station-Id = {called}\nAcct-Session-Time = 30\n"
            "Acct-Input-Octets = 100\nAcct-Output-Octets = 200\n")
    with running_server(redis_url) as srv:
        out = radclient(srv.acct_port, "acct", stop)
        assert "Received Accounting-Response" in out, out
    # The phone side: a login whose SSID came with the AC's redirect.
    RealNameLog(redis_client).append(LoginRecord(
        phone=PHONE, mac="aa:bb:cc:dd:ee:01", ip="10.0.0.5", ac="ac1", ap="00:11:22:33:44:55",
        ssid=EVIL_SSID, venue="v1", kind="sms", plan="basic", at=time.time()))
    # Stored escaped: printable, and the original recoverable.
    (acct,) = [f for _, f in redis_client.xrange(keys.acct_log())]
    assert not CONTROL_BYTES.search(b"".join(acct.values()))
    assert unescape_raw(acct[b"sid"].decode()) == "S\r\n1\x1b]0;pwned\x07"
    assert acct[b"called"].decode().endswith(r":\x00\x1b[31mFree\x1b[0m\x0d\x0aWiFi")
    logout, login = sorted((f for _, f in redis_client.xrange(keys.real_name_log())),
                           key=lambda f: f[b"kind"])
    assert unescape_raw(login[b"ssid"].decode()) == EVIL_SSID
    assert not CONTROL_BYTES.search(b"".join(login.values()) + b"".join(logout.values()))
    # A record stored raw (before this fix, or by other code) is still never printed raw.
    redis_client.xadd(keys.real_name_log(), {**{k.decode(): v for k, v in login.items()},
                                             "ssid": EVIL_SSID.encode(), "ip": "10.0.0.6"})

    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    for stream in ("realname", "accounting"):
        out_redis = cli_export(settings, redis_url, stream, today)   # from Redis
        assert_printable(out_redis)
        assert out_redis.count(b"\r\n") == len(rows(out_redis)) + 1   # one line per row + header
    got = rows(cli_export(settings, redis_url, "realname", today))
    assert [r["ssid"] for r in got if r["kind"] == "sms"] == [
        r"\x00\x1b[31mFree\x1b[0m\x0d\x0aWiFi\u202e", r"\x00\x1b[31mFree\x1b[0m\x0d\x0aWiFi\u202e"]
    # The same from the archive files (the day archived by the real job, then exported).
    ArchiveJob.from_settings(redis_client, settings).run(time.time() + 2 * 86400)
    assert redis_client.xlen(keys.real_name_log()) == 0
    for stream in ("realname", "accounting"):
        out_files = cli_export(settings, redis_url, stream, today)
        assert_printable(out_files)
        assert len(rows(out_files)) == (3 if stream == "realname" else 1)
