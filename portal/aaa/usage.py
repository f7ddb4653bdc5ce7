"""Per-phone usage counters: daily and total online time and volume, and the first login.

One small hash per phone (``keys.usage``) in the phone's ``{p:<phone>}`` slot, so the accounting
script can add a session's deltas to it atomically with the session's last-seen counters. The
daily counters carry the local day (``d`` = YYYYMMDD in the configured timezone) they belong to;
a reader that sees another day reads zero, and the next writer resets them. No cron job is
needed at midnight. Usage reported by an Interim-Update that spans midnight is booked on the day
the update arrives (accounting only knows cumulative counters at report times).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from portal.state import keys

__all__ = ["ADD_USAGE_LUA", "Usage", "UsageBook", "day_of", "next_midnight", "parse_usage"]


def day_of(now: float, tz: ZoneInfo) -> str:
    """The local day of an epoch time, as YYYYMMDD."""
    return dt.datetime.fromtimestamp(now, tz).strftime("%Y%m%d")


def next_midnight(now: float, tz: ZoneInfo) -> float:
    """Epoch of the next local midnight after ``now`` (DST-safe: computed on the local date)."""
    local = dt.datetime.fromtimestamp(now, tz)
    tomorrow = local.date() + dt.timedelta(days=1)
    return dt.datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=tz).timestamp()


class Usage(NamedTuple):
    """A phone's counters as seen at one moment (daily ones already zero on a new day).
    A NamedTuple, not a frozen dataclass: one is parsed per Access-Request, and a frozen
    dataclass sets each field through ``object.__setattr__`` (three times the instructions)."""

    day: str
    daily_time: int = 0
    daily_volume: int = 0
    total_time: int = 0
    total_volume: int = 0
    first_login: float | None = None


def parse_usage(raw: dict[bytes, bytes], today: str, today_raw: bytes) -> Usage:
    """A phone's Usage from an HGETALL of ``keys.usage`` (as read in anyone's pipeline), on the
    local day ``today`` (``today_raw``: the same, encoded; callers on the RADIUS hot path keep
    both until midnight). The one parser of the hash: every reader comes through here."""
    first = raw.get(b"f")
    get = raw.get
    # Positional: a NamedTuple built from keywords costs twice the instructions (hot path).
    if get(b"d") == today_raw:
        return Usage(today, int(get(b"dt", 0)), int(get(b"dv", 0)), int(get(b"tt", 0)),
                     int(get(b"tv", 0)), None if first is None else float(first))
    return Usage(today, 0, 0, int(get(b"tt", 0)), int(get(b"tv", 0)), None if first is None else float(first))


# Lua helper shared by every script that books usage. Numbers are formatted with %.0f because
# Lua's tostring() would turn large doubles into "1e+15", which HINCRBY rejects.
ADD_USAGE_LUA = """
local function add_usage(ukey, day, dsec, doct)
  if redis.call('HGET', ukey, 'd') ~= day then
    redis.call('HSET', ukey, 'd', day, 'dt', 0, 'dv', 0)
  end
  local r = {}
  r[1] = redis.call('HINCRBY', ukey, 'dt', string.format('%.0f', dsec))
  r[2] = redis.call('HINCRBY', ukey, 'dv', string.format('%.0f', doct))
  r[3] = redis.call('HINCRBY', ukey, 'tt', string.format('%.0f', dsec))
  r[4] = redis.call('HINCRBY', ukey, 'tv', string.format('%.0f', doct))
  return r
end
"""

_ADD_SCRIPT = ADD_USAGE_LUA + """
local r = add_usage(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
redis.call('HSETNX', KEYS[1], 'f', ARGV[4])
return r
"""

# The same booking guarded by a marker in the phone's own slot, so "exactly once" needs no
# transaction across slots (Redis Cluster refuses one): the marker is taken (SET NX) in the
# same script that books.
_ADD_ONCE_SCRIPT = ADD_USAGE_LUA + """
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[5]) then return 0 end
add_usage(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
redis.call('HSETNX', KEYS[1], 'f', ARGV[4])
return 1
"""


class UsageBook:
    """Reads and books usage for phones; day boundaries in ``timezone``."""

    def __init__(self, redis: Any, timezone: str = "Asia/Shanghai") -> None:
        self.redis = redis
        self.tz = ZoneInfo(timezone)
        self._add = redis.register_script(_ADD_SCRIPT)
        self._add_once = redis.register_script(_ADD_ONCE_SCRIPT)
        self._day: tuple[float, float, str] = (0.0, 0.0, "")   # [from, to) → local day

    def today(self, now: float) -> str:
        """The local day of ``now``, kept until the next local midnight (strftime per call was
        two per accounting record). One tuple, replaced whole: safe across threads."""
        lo, hi, day = self._day
        if lo <= now < hi:
            return day
        day = day_of(now, self.tz)
        self._day = (now, next_midnight(now, self.tz), day)
        return day

    def from_raw(self, raw: dict[bytes, bytes], now: float) -> Usage:
        """Decode an HGETALL of ``keys.usage`` (as read in someone's pipeline)."""
        today = self.today(now)
        return parse_usage(raw, today, today.encode())

    def get(self, phone: str, now: float) -> Usage:
        return self.from_raw(self.redis.hgetall(keys.usage(phone)), now)

    def add(self, phone: str, seconds: int, octets: int, now: float) -> Usage:
        """Book usage outside accounting (imports, corrections). Also sets the first login."""
        self._add(keys=[keys.usage(phone)], args=[self.today(now), int(seconds), int(octets), now])
        return self.get(phone, now)

    def add_once(self, phone: str, marker: str, marker_ttl: int, seconds: int, octets: int,
                 now: float) -> bool:
        """:meth:`add`, unless ``marker`` (a key in the phone's slot) says it was booked already;
        True when this call booked. For events a sender may repeat (an openNDS stop)."""
        return bool(self._add_once(keys=[keys.usage(phone), marker],
                                   args=[self.today(now), int(seconds), int(octets), now, int(marker_ttl)]))

    def mark_first_login(self, phone: str, now: float) -> bool:
        """Start the validity clock if it has not started; True when this call started it."""
        return bool(self.redis.hsetnx(keys.usage(phone), "f", repr(float(now))))

    def reset(self, phone: str, *, total: bool = False) -> None:
        """NOC action: clear today's counters (or everything, including the first login)."""
        if total:
            self.redis.delete(keys.usage(phone))
        else:
            self.redis.hset(keys.usage(phone), mapping={"dt": 0, "dv": 0})
