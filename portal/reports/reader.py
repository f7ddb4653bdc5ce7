"""Reading a day's real-name records from the Redis stream fast: a server-side script.

A day of a million logins is four million stream entries to read (its logins and logouts, and
the next day's records for the sessions spanning midnight). Through XRANGE every entry becomes a
Python dict of a dozen decoded fields, most of which the roll-up never looks at. This script
walks the same XRANGE page inside Redis and returns one tab-separated line per record with only
the fields the roll-up uses, and nothing for the logins outside the day (``parse_rows`` in
portal/reports/rollup.py reads the lines). Field values never hold a raw tab: the writers escape
control characters (portal/logtext.py).

Pages are small (``PAGE`` entries, a few milliseconds of Redis time each), so RADIUS and the
portal are not held up while a day is read. Only the part of the stream still in Redis can be
read this way; the store falls back to the generic reader (archive files, then Redis) for days
the archive job has moved out.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from portal.archive import as_text
from portal.state import keys

__all__ = ["PAGE", "read_rows"]

PAGE = 2000

_LUA = """
local rows = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
local lo, hi = tonumber(ARGV[4]), tonumber(ARGV[5])
local logouts_only = ARGV[6] == '1'
local out, last = {}, ''
for _, e in ipairs(rows) do
  last = e[1]
  local f = e[2]
  local wanted = true
  if logouts_only then
    -- past the day: only logout records matter; find the kind without building a table
    wanted = false
    for j = 1, #f, 2 do
      if f[j] == 'kind' then wanted = f[j + 1] == 'logout' break end
    end
  end
  if wanted then
    local m = {}
    for j = 1, #f, 2 do m[f[j]] = f[j + 1] end
    local kind = m['kind']
    if kind == 'logout' then
      out[#out + 1] = table.concat({'logout', m['ac'] or '', m['sid'] or '', m['phone'] or '',
        m['venue'] or '', m['ssid'] or '', m['start'] or '', m['stop'] or '', m['t'] or '',
        m['in'] or '', m['out'] or ''}, '\t')
    elseif kind == 'sms' or kind == 'returning' or kind == 'silent' then
      local at = tonumber(m['at'])
      if at and at * 1000 >= lo and at * 1000 < hi then
        out[#out + 1] = table.concat({kind, m['phone'] or '', m['ac'] or '', m['venue'] or '',
          m['ssid'] or '', m['at']}, '\t')
      end
    end
  end
end
return {last, #rows, out}
"""
LOGIN_SLACK_MS = 60_000    # a login record is appended a moment after its ``at``


def read_rows(redis: Any, start_ms: int, end_ms: int, login_lo: int, login_hi: int,
              page: int = PAGE) -> Iterator[str]:
    """Compact lines of the records with ids in ``[start_ms, end_ms)``; logins only when their
    ``at`` is in ``[login_lo, login_hi)``. Past ``login_hi`` (and a minute's slack) only logout
    records are looked at, which makes the next day's logins nearly free to skip.

    The next page is fetched on a helper thread while the caller works through this one, so
    redis-server's share of the work and ours overlap (the wait on the socket frees the GIL)."""
    pages = _pages(redis, start_ms, end_ms, login_lo, login_hi, page)
    with ThreadPoolExecutor(1, thread_name_prefix="report-read") as pool:
        ahead = pool.submit(next, pages, None)
        while (rows := ahead.result()) is not None:
            ahead = pool.submit(next, pages, None)
            yield from rows


def _pages(redis: Any, start_ms: int, end_ms: int, login_lo: int, login_hi: int,
           page: int) -> Iterator[list[str]]:
    script = redis.register_script(_LUA)
    split = max(start_ms, min(end_ms, login_hi + LOGIN_SLACK_MS))
    for lower_ms, upper_ms, logouts_only in ((start_ms, split, "0"), (split, end_ms, "1")):
        lower = f"{lower_ms}-0"
        while upper_ms > lower_ms:
            last, count, rows = script(keys=[keys.real_name_log()], args=[
                lower, str(upper_ms - 1), page, login_lo, login_hi, logouts_only])
            yield list(map(bytes.decode, rows)) if rows and isinstance(rows[0], bytes) else rows
            if int(count) < page:
                break
            lower = "(" + as_text(last)
