"""Device slots: a plan's ``max_sessions`` enforced atomically at Access-Accept, on any node.

Counting the sessions that Accounting-Start opened is not enough: two devices authorising in
the same instant both see one session online, both get an Accept, and the phone ends up with
one device more than its plan allows. So an Access-Accept for a plan with ``max_sessions``
*reserves* a slot in the same Lua step that decides it (for a login token: the step that spends
the token, ``portal.aaa.credentials.CONSUME_LUA``), counting, atomically:

* the phone's live sessions (``keys.phone_sessions``: not silent for 2 × interim + grace), and
* the phone's live reservations (``keys.device_slots``: field = the device's MAC, or
  ``lg:<login nonce>`` when the AC sent no Calling-Station-Id; value ``<expiry>|<login>``),

leaving out the requesting device itself (a device re-authorising does not take a second slot)
and a reservation whose MAC already has a live session (that session counts instead).

A reservation ends when the device's accounting opens its session (the session takes the slot
over: ``RELEASE_LUA`` after the accounting script), when a Stop of the same login arrives, or
after ``quota.slot_hold`` seconds with no accounting at all (the AC never brought the device
online). Every key is in the phone's ``{p:<phone>}`` slot, so this works on Redis Cluster.

A token's Accept repeated to the same AC and device (``radius.token_grants``) does not reserve
again: it never reaches the consume step, and its MAC's reservation is the one already held.
"""

from __future__ import annotations

from typing import Any

from portal.state import keys

__all__ = ["EARLY_RESERVE_LUA", "RELEASE_LUA", "RESERVE_FUNCTION_LUA", "RESERVE_LUA", "UNDO_RESERVE_LUA",
           "release_args", "reserve_command", "slot_field"]

# reserve_slot(sessions key, slots key, max, field, own MAC or '', now, hold seconds, grace, login)
# → nil when the slot was reserved, else the number of devices counted (the plan is full); and,
# second, the value ``field`` had before ('' if none: EARLY_RESERVE_LUA's undo information).
RESERVE_FUNCTION_LUA = """
local function reserve_slot(ses_key, slot_key, max, field, own, now, hold, grace, login)
  local n = 0
  local online = {}
  local ses = redis.call('HGETALL', ses_key)
  for i = 2, #ses, 2 do
    local ok, rec = pcall(cjson.decode, ses[i])
    if ok and type(rec) == 'table' then
      local m = rec['m']
      local alive = (tonumber(rec['u']) or 0) + 2 * (tonumber(rec['ii']) or 300) + grace > now
      if alive and not (own ~= '' and m == own) then
        n = n + 1
        if type(m) == 'string' then online[m] = true end
      end
    end
  end
  local held = redis.call('HGETALL', slot_key)
  local before = ''
  for i = 1, #held, 2 do
    local f = held[i]
    if f == field then before = held[i + 1] end
    local expiry = tonumber(string.match(held[i + 1], '^[^|]*')) or 0
    if expiry <= now then
      redis.call('HDEL', slot_key, f)
    elseif f ~= field and not online[f] then
      n = n + 1
    end
  end
  if n >= max then return n, before end
  redis.call('HSET', slot_key, field, string.format('%.3f', now + hold) .. '|' .. login)
  redis.call('PEXPIRE', slot_key, math.ceil(hold * 1000) + 1000)
  return nil, before
end
"""

# The reservation alone, for Accepts that spend no token (a bound device's credential, MAC
# authentication). KEYS: phone_sessions, device_slots.
# ARGV: max, field, own MAC, now, hold, grace, login. Returns {'ok'} or {'full', count}.
RESERVE_LUA = RESERVE_FUNCTION_LUA + """
local n = reserve_slot(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]),
                       tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7])
if n then return {'full', n} end
return {'ok'}
"""

# RESERVE_LUA sent before the decision, in the same round trip as the reads (the RADIUS fast
# path, radius/auth_slots.py), for a device whose last Access-Request was accepted on a limited
# plan. Same KEYS and ARGV; returns {'ok', value the field had before or ''} or {'full', count}:
# if the decision then does not take this slot (a refusal, another limit), UNDO_RESERVE_LUA
# puts the field back as it was.
EARLY_RESERVE_LUA = RESERVE_FUNCTION_LUA + """
local n, before = reserve_slot(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]),
                       tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7])
if n then return {'full', n} end
return {'ok', before}
"""

# Take back an early reservation the decision did not use. KEYS: device_slots.
# ARGV: field, its login, the value before ('' = none). Only while the field still holds that
# login: a later reservation of the same device (another worker, a token's consume) stays.
UNDO_RESERVE_LUA = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v or string.match(v, '|(.*)$') ~= ARGV[2] then return 0 end
if ARGV[3] == '' then return redis.call('HDEL', KEYS[1], ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""

# After an accounting record was applied. KEYS: device_slots, phone_sessions.
# ARGV: field, login ('' = none), the session's field '<ac>|<sid>', kind.
# Start/Interim: the session now exists and counts itself, so its device's reservation goes
# (only if the accounting script really stored it: a refused record releases nothing).
# Stop: only the reservation of the same login goes (a late Stop of an older session of the
# same device must not free the slot a new login of it holds).
RELEASE_LUA = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
if ARGV[4] == 'stop' then
  local login = string.match(v, '|(.*)$') or ''
  if ARGV[2] == '' or login ~= ARGV[2] then return 0 end
elseif redis.call('HEXISTS', KEYS[2], ARGV[3]) == 0 then
  return 0
end
return redis.call('HDEL', KEYS[1], ARGV[1])
"""


def slot_field(mac: str | None, login: str) -> str:
    """The reservation's field: the device's normalised MAC, else the login nonce."""
    return mac if mac else f"lg:{login}"


def reserve_command(phone: str, mac: str | None, max_sessions: int, now: float, hold: float,
                    grace: float, login: str) -> tuple[Any, ...]:
    """("RESERVE", KEYS..., ARGV...) of RESERVE_LUA; each executor runs it its own way."""
    return ("RESERVE", keys.phone_sessions(phone), keys.device_slots(phone), max_sessions,
            slot_field(mac, login), mac or "", f"{now:.3f}", f"{hold:.3f}", f"{grace:.3f}", login)


def release_args(phone: str, mac: str | None, login: str, session_field: str,
                 kind: str) -> tuple[list[Any], list[Any]] | None:
    """KEYS and ARGV of RELEASE_LUA for one applied accounting record; None when the record
    names neither a device nor a login (nothing it could release)."""
    if not mac and not login:
        return None
    return ([keys.device_slots(phone), keys.phone_sessions(phone)],
            [slot_field(mac, login), login, session_field, kind])
