"""Reading a day's real-name records from the Redis stream fast: a server-side script.

A day of a million logins is four million stream entries to read (its logins and logouts, and
the next day's records for the sessions spanning midnight). Through XRANGE every entry becomes a
Python dict of a dozen decoded fields, most of which the roll-up never looks at. This script
walks the same XRANGE page inside Redis and returns one tab-separated line per record with only
the fields the roll-up uses, and nothing for the logins outside the day or the sessions that
start after it (``parse_rows`` in portal/reports/rollup.py reads the lines). Field values never
hold a raw tab or newline: the writers escape control characters (portal/legal/logtext.py).

Pages are small (``PAGE`` entries, about ten milliseconds of Redis time each), so RADIUS and the
portal are not held up for long while a day is read. Only the part of the stream still in Redis can be
read this way; the store falls back to the generic reader (archive files, then Redis) for days
the archive job has moved out.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from portal.legal.log_archive import as_text
from portal.state import keys

__all__ = ["PAGE", "read_rows"]

PAGE = 5000

# Records are written with their fields in one order (portal/legal/reallog.py: ``logout_fields`` puts
# ``kind`` first, ``LoginRecord.fields`` has it eighth), so the script reads the fields it needs
# by position after checking their names — comparing two interned Lua strings is a pointer
# comparison — and builds no table per entry. Any other layout (older or future records) takes
# the slow path, which looks the names up. A page's lines come back as one string: one reply
# to encode and decode instead of thousands.
_LUA = """
local rows = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
local lo, hi = tonumber(ARGV[4]), tonumber(ARGV[5])
local logouts_only = ARGV[6] == '1'
local kinds = {sms = true, returning = true, silent = true}
local out, n, last = {}, 0, ''
local function login(kind, phone, ac, venue, ssid, at)
  local ms = tonumber(at)
  if ms and ms * 1000 >= lo and ms * 1000 < hi then
    n = n + 1
    out[n] = kind .. '\\t' .. phone .. '\\t' .. ac .. '\\t' .. venue .. '\\t' .. ssid .. '\\t' .. at
  end
end
local function logout(ac, sid, phone, venue, ssid, start, stop, t, i, o)
  -- a session that starts after the day has no part in it
  local s = tonumber(start)
  if s == nil or s * 1000 < hi then
    n = n + 1
    out[n] = 'logout\\t' .. ac .. '\\t' .. sid .. '\\t' .. phone .. '\\t' .. venue .. '\\t' .. ssid
      .. '\\t' .. start .. '\\t' .. stop .. '\\t' .. t .. '\\t' .. i .. '\\t' .. o
  end
end
for _, e in ipairs(rows) do
  last = e[1]
  local f = e[2]
  local nf = #f
  if f[1] == 'kind' and f[2] == 'logout' and f[3] == 'phone' and f[9] == 'ac' and f[11] == 'sid'
      and f[13] == 'start' and f[15] == 'stop' and f[17] == 't' and f[19] == 'in'
      and f[21] == 'out' and nf <= 32 and (nf < 29 or f[29] == 'venue' or f[29] == 'ssid') then
    local venue, ssid = '', ''
    if f[29] == 'venue' then
      venue = f[30]
      if f[31] == 'ssid' then ssid = f[32] end
    elseif f[29] == 'ssid' then
      ssid = f[30]
    end
    logout(f[10], f[12], f[4], venue, ssid, f[14], f[16], f[18], f[20], f[22])
  elseif f[15] == 'kind' and f[1] == 'phone' and f[7] == 'ac' and f[11] == 'ssid'
      and f[13] == 'venue' and f[19] == 'at' then
    if (not logouts_only) and kinds[f[16]] then login(f[16], f[2], f[8], f[14], f[12], f[20]) end
  else
    local m = {}
    for j = 1, nf, 2 do m[f[j]] = f[j + 1] end
    local kind = m['kind']
    if kind == 'logout' then
      logout(m['ac'] or '', m['sid'] or '', m['phone'] or '', m['venue'] or '', m['ssid'] or '',
        m['start'] or '', m['stop'] or '', m['t'] or '', m['in'] or '', m['out'] or '')
    elseif kinds[kind] and not logouts_only then
      login(kind, m['phone'] or '', m['ac'] or '', m['venue'] or '', m['ssid'] or '', m['at'] or '')
    end
  end
end
return {last, #rows, table.concat(out, '\\n')}
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
            last, count, text = script(keys=[keys.real_name_log()], args=[
                lower, str(upper_ms - 1), page, login_lo, login_hi, logouts_only])
            text = as_text(text)
            yield text.split("\n") if text else []
            if int(count) < page:
                break
            lower = "(" + as_text(last)
