"""Legal-log archive and export throughput: ``python3 tests/bench/logarchive.py``.

Appends N real-name records spread over 10 days to a throwaway redis-server, runs the archive
job (7 of the days go to gzip'd day files, fsync per file), then exports everything (files +
Redis) as CSV and as JSON Lines. Prints records/s for each step and the file size per record.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis

from portal.legal.log_archive import ArchiveJob, day_files
from portal.legal.logexport import LogExporter
from portal.state import keys
from portal.state.embedded import EmbeddedRedis

N = 300_000
DAYS = 10


def main() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    base = int(dt.datetime(2026, 5, 1, tzinfo=tz).timestamp() * 1000)
    step = DAYS * 86_400_000 // N
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp) / "redis").start()
        try:
            r = redis.Redis.from_url(server.url)
            t0 = time.perf_counter()
            pipe = r.pipeline(transaction=False)
            for i in range(N):
                ms = base + i * step
                pipe.xadd(keys.real_name_log(), {
                    "phone": f"189{i:08d}", "mac": "aa:bb:cc:dd:ee:ff", "ip": "10.0.0.1",
                    "ac": "ac1", "ap": "00:11:22:33:44:55", "ssid": "CityWiFi", "venue": "v1",
                    "kind": "sms", "plan": "free", "at": f"{ms / 1000:.3f}"}, id=f"{ms}-0")
                if i % 5000 == 4999:
                    pipe.execute()
            pipe.execute()
            print(f"append  : {N / (time.perf_counter() - t0):>9,.0f} records/s (pipelined XADD)")
            archive = Path(tmp) / "archive"
            t0 = time.perf_counter()
            report = ArchiveJob(r, archive).run(base / 1000 + 14 * 86400 + 3600)  # days 0-6 due
            took = time.perf_counter() - t0
            size = sum(p.stat().st_size for _, p in day_files(archive, "realname"))
            print(f"archive : {report.entries / took:>9,.0f} records/s ({report.entries:,} records,"
                  f" {len(report.days)} day files, {size / report.entries:.1f} bytes/record gzip'd)")
            ex = LogExporter(r, archive)
            for fmt in ("csv", "jsonl"):
                t0 = time.perf_counter()
                nbytes = sum(len(c) for c in ex.export("realname", base / 1000,
                                                       base / 1000 + DAYS * 86400, None, fmt))
                took = time.perf_counter() - t0
                print(f"export {fmt:<5}: {N / took:>9,.0f} records/s ({nbytes / 1e6:.0f} MB of text,"
                      f" files + Redis)")
            r.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
