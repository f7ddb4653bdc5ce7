"""The roll-up runs inside ``citywifi archive schedule`` (a real process on the real Redis)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from portal.legal.reallog import LoginRecord
from portal.state import keys
from portal.state import keys_reports as rk


def test_archive_schedule_rolls_up_past_days_and_stops_on_sigterm(
        redis_client: Any, redis_url: str, tmp_path: Path) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    three_days_ago = dt.datetime.now(tz).date() - dt.timedelta(days=3)
    noon = dt.datetime.combine(three_days_ago, dt.time(12), tz).timestamp()
    for i in range(4):
        rec = LoginRecord(phone=f"1380000000{i}", mac="aa:bb:cc:00:00:01", ip="10.0.0.1", ac="ac1",
                          ap="", ssid="CityWiFi", venue="plaza", kind="sms", plan="free",
                          at=noon + i)
        redis_client.xadd(keys.real_name_log(), rec.fields(), id=f"{int((noon + i) * 1000)}-0")
    repo = str(Path(__file__).resolve().parents[3])
    env = {**os.environ, "CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    env.pop("CITYWIFI_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "archive", "schedule"], env=env,
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        key = rk.report_day(three_days_ago.isoformat(), "v")
        while not redis_client.hget(rk.report_last_run(), "at"):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no roll-up within 60 s"
            time.sleep(0.05)
        assert redis_client.hget(rk.report_last_run(), "error") == b""
        assert b'"logins":4' in redis_client.hget(key, "plaza")
        # Every day from the oldest record on that ended 15 minutes ago; final a day after.
        now = time.time()
        want = {}
        day = three_days_ago
        def end_of(d: dt.date) -> float:
            return dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), tz).timestamp()

        while (end := end_of(day)) + 900 <= now:
            want[day.isoformat()] = now >= end + 86400
            day += dt.timedelta(days=1)
        done = {k.decode(): v.decode().endswith(" 1")
                for k, v in redis_client.hgetall(rk.report_days()).items()}
        assert done == want and want[three_days_ago.isoformat()]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == 0
    assert redis_client.get(rk.report_lock()) is None
