"""Redis key names of the daily report roll-ups (portal/reports/), next to ``keys.py``.

A sibling of ``keys.py`` like the other ``keys_*`` modules (imported directly, not re-exported);
the same rules hold: every name is built here, with a hash tag for Redis Cluster.

* ``{rep:<day>}`` — one local day's roll-up: one hash per dimension, written together.
* ``{repm:<month>}`` — a calendar month's figures per scope, summed from its days, so a month
  report over hundreds of venues reads one hash per dimension instead of thirty.
* ``{repfs:<bucket>}`` — the first-seen day of phones, spread over buckets so no single hash
  (or Cluster slot) holds every phone of a city.
* ``{reports}`` — the job's own state: which days are rolled up, its lock.
* ``{stats}:rq:<quarter>`` — SMS and refusal counts by place of one quarter hour, written with
  the live figures (same hash tag, same pipeline: portal/noc/livestats.py).
"""

from __future__ import annotations

import zlib

from portal.state.keys import PREFIX

__all__ = ["FIRST_SEEN_BUCKETS", "first_seen", "first_seen_bucket", "report_counts", "report_day",
           "report_days",
           "report_last_run", "report_lock", "report_month", "report_months_stale"]

FIRST_SEEN_BUCKETS = 256


def report_day(day: str, dim: str) -> str:
    """Hash: one local day (``YYYY-MM-DD``) of one dimension (``t`` total, ``v`` venue, ``a`` AC,
    ``s`` SSID) — scope name (``""`` for the total) → JSON object of that scope's figures
    (portal/reports/rollup.py names them). Rewritten whole when the day is rolled up again."""
    return f"{PREFIX}:{{rep:{day}}}:{dim}"


def report_month(month: str, dim: str) -> str:
    """Hash: one local calendar month (``YYYY-MM``) of one dimension — scope name → JSON of the
    figures of the month's stored days combined (portal/reports/store.py rewrites it whenever a
    day of the month is written)."""
    return f"{PREFIX}:{{repm:{month}}}:{dim}"


def report_counts(quarter: int) -> str:
    """Hash (TTL ``COUNTS_TTL``): SMS and refusal counts of one quarter hour (``quarter`` = epoch
    ms // 900,000) — ``<figure>\\t<venue>\\t<AC>\\t<SSID>`` → count (portal/reports/counts.py)."""
    return f"{PREFIX}:{{stats}}:rq:{quarter}"


def first_seen_bucket(phone: str) -> int:
    return zlib.crc32(phone.encode()) % FIRST_SEEN_BUCKETS


def first_seen(bucket: int) -> str:
    """Hash: phone → ``YYYYMMDD`` of the first local day it logged in (the earliest day any
    roll-up saw it); the phones of one bucket (``first_seen_bucket``)."""
    return f"{PREFIX}:{{repfs:{bucket}}}"


def report_days() -> str:
    """Hash: ``YYYY-MM-DD`` → ``<rolled-up at> <final 0|1>`` — which days the roll-up job has
    done, and whether it did them again after the session span (then they are final)."""
    return f"{PREFIX}:{{reports}}:days"


def report_months_stale() -> str:
    """Set: ``YYYY-MM`` of months whose summary misses a day written since (added with the day,
    in its MULTI; removed when the summary is rewritten), so a run that dies between writing
    days and summing their month leaves a note for the next one."""
    return f"{PREFIX}:{{reports}}:months-stale"


def report_lock() -> str:
    """String (TTL, renewed): ``<host>:<pid>:<nonce>`` of the roll-up job running now."""
    return f"{PREFIX}:{{reports}}:lock"


def report_last_run() -> str:
    """Hash: summary of the last roll-up run (at, days, seconds, error)."""
    return f"{PREFIX}:{{reports}}:last-run"
