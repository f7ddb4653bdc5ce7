"""The accounting Lua script: one session record applied atomically, all or nothing.

All keys are in the phone's ``{p:<phone>}`` slot (Redis Cluster). Redis does not roll a script
back when a command inside it fails, so the script first reads, computes and checks everything,
and writes only when every check passed: a record it refuses (or that errors) changes nothing.

KEYS: 1 phone_sessions, 2 usage, 3 tombstone, 4 login claim (``keys.login_claim``),
      5 (Stop only) logout-pending marker (``keys.session_logout_pending``)

ARGV:  1 field ``<ac>|<sid>``, 2 kind (start|interim|stop), 3 now, 4 today, 5 session time,
       6 in octets, 7 out octets, 8 in has gigawords, 9 out has gigawords, 10 mac, 11 ip,
       12 interim, 13 plan (from the signed Class; "" = unknown), 14 user name,
       15 tombstone ttl, 16 started, 17 SSID, 18 venue (17/18 kept from the record that creates
       the session: a session belongs to the venue it started in), 19 login ("" = none),
       20 event time (now - Acct-Delay-Time), 21 clock skew, 22/23 in/out octets per second
       allowed under plan 13 (0 = no rate in the plan), 24 octets per second allowed otherwise
       (line rate × margin), 25 burst seconds, 26 the NAS's raw identifiers as a JSON object
       or '' (``portal.aaa.sessions.encode_nas_ids``; kept from the creating record too: DM/CoA
       repeat them exactly as the NAS sent them).

Returns ``{verdict, record json or false, {d, dt, dv, tt, tv, f}, reason, previous IP}``;
verdict is new | updated | closed | dup | refused | busy (reason set only for refused; the IP
the record had before, "" if none, only for updated: the IP index follows a changed IP).

A Stop that closes the session also sets KEYS[5] (``<lease until>|<record json>``): the Stop's
accounting-log entry and real-name logout go to streams in other hash slots, so they are written
after this script, and the marker is deleted after them. Should Redis fail in between, the AC's
retransmitted Stop finds the tombstone AND the marker: it is answered 'closed' again (nothing
booked twice) and its caller writes the missing records. The lease (``STOP_LEASE`` seconds) keeps
a copy that arrives while the first is still writing from writing them too: it gets 'busy' and
is not answered (the AC retransmits it later).
"""

from __future__ import annotations

from portal.aaa.usage import ADD_USAGE_LUA

__all__ = ["ACCT_LUA", "STOP_LEASE"]

STOP_LEASE = 3   # s a closing Stop's copy writes its log records alone (longer than one round trip)

ACCT_LUA = ADD_USAGE_LUA + f"local STOP_LEASE = {STOP_LEASE}\n" + """
local TWO32 = 4294967296
local MAX = 9007199254740991
local function unwrap(raw, base, has_gw, advanced)
  -- A NAS that sends no Gigawords wraps its 32-bit octet counters; when time moved on but the
  -- counter went down, assume whole wraps (less than 4 GiB per interim).
  if has_gw == 1 or raw >= base or not advanced then return raw end
  local v = raw + math.floor(base / TWO32) * TWO32
  if v < base then v = v + TWO32 end
  return v
end
local function usage_now()
  return redis.call('HMGET', KEYS[2], 'd', 'dt', 'dv', 'tt', 'tv', 'f')
end
local function number(i)
  local v = tonumber(ARGV[i])
  if v == nil or v ~= v or v < 0 or v > MAX then return nil end
  return v
end
local kind = ARGV[2]
local now, nt, ni, no = number(3), number(5), number(6), number(7)
local started, evt = number(16), number(20)
if not (now and nt and ni and no and started and evt) then
  return {'refused', false, usage_now(), 'bad_number'}
end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local function refuse(why) return {'refused', raw or false, usage_now(), why} end
local tomb = false
local rec
local bt, bi, bo = 0, 0, 0
if raw then
  if kind == 'start' then return {'dup', raw, usage_now()} end
  rec = cjson.decode(raw)
  bt, bi, bo = rec['t'], rec['i'], rec['o']
else
  tomb = redis.call('GET', KEYS[3])
  if tomb then
    -- closed recently: a Start is a replay; Interim/Stop count only beyond the final counters
    if kind == 'start' then return {'dup', false, usage_now()} end
    if kind == 'stop' then
      -- the closing Stop again: its log records may not have been written (KEYS[5])
      local p = redis.call('GET', KEYS[5])
      if p then
        local lease, prec = string.match(p, '^(%d+)|(.*)$')
        if now < (tonumber(lease) or 0) then return {'busy', false, usage_now()} end
        redis.call('SET', KEYS[5], string.format('%.0f|', now + STOP_LEASE) .. prec, 'KEEPTTL')
        return {'closed', prec, usage_now()}
      end
    end
    local a, b, c = string.match(tomb, '^(%d+),(%d+),(%d+)$')
    bt, bi, bo = tonumber(a) or 0, tonumber(b) or 0, tonumber(c) or 0
  end
  rec = {s = started, ii = tonumber(ARGV[12])}
  if ARGV[10] ~= '' then rec['m'] = ARGV[10] end
  if ARGV[13] ~= '' then rec['pl'] = ARGV[13] end
  if ARGV[14] ~= '' then rec['un'] = ARGV[14] end
  if ARGV[17] ~= '' then rec['ss'] = ARGV[17] end
  if ARGV[18] ~= '' then rec['v'] = ARGV[18] end
  if ARGV[26] ~= '' then rec['id'] = cjson.decode(ARGV[26]) end
end
local adv = nt > bt
ni = unwrap(ni, bi, tonumber(ARGV[8]), adv)
no = unwrap(no, bo, tonumber(ARGV[9]), adv)
local grew = nt > bt or ni > bi or no > bo
if not grew and (raw or tomb) and not (raw and kind == 'stop') then
  -- a replay or an older update arriving late: nothing to book, nothing to change
  return {'dup', raw or false, usage_now()}
end
-- The session's owner: one login (signed Class) backs one session, on the AC it was issued to.
-- (A session that already holds this login's claim, 'lg', needs no lookup.)
if ARGV[19] ~= '' and rec['lg'] ~= ARGV[19] then
  local owner = redis.call('GET', KEYS[4])
  if owner and owner ~= ARGV[1] then return refuse('login_reused') end
end
-- Plausibility against the session: its time cannot run ahead of our clock since it started,
-- its counters cannot exceed its plan's rate (× margin) over its time.
if raw and rec['s'] and nt > evt - rec['s'] + tonumber(ARGV[21]) then
  return refuse('time_ahead')
end
local rin, rout = tonumber(ARGV[24]), tonumber(ARGV[24])
if ARGV[13] ~= '' and rec['pl'] == ARGV[13] then
  if tonumber(ARGV[22]) > 0 then rin = tonumber(ARGV[22]) end
  if tonumber(ARGV[23]) > 0 then rout = tonumber(ARGV[23]) end
end
local span = math.max(nt, bt) + tonumber(ARGV[25])
if ni > MAX or ni > rin * span then return refuse('rate_in') end
if no > MAX or no > rout * span then return refuse('rate_out') end
local dt = math.max(0, nt - bt)
local dv = math.max(0, ni - bi) + math.max(0, no - bo)
local u = redis.call('HMGET', KEYS[2], 'd', 'dt', 'dv', 'tt', 'tv', 'f')
for i = 2, 5 do
  local add = dv
  if i % 2 == 0 then add = dt end
  if (tonumber(u[i]) or 0) + add > MAX then return refuse('usage_overflow') end
end
-- Every check passed: write. The usage returned is built from what was read and booked (the
-- same values usage_now() would read back, one HMGET fewer on the hot path).
if dt > 0 or dv > 0 then
  local r = add_usage(KEYS[2], ARGV[4], dt, dv)
  u = {ARGV[4], r[1], r[2], r[3], r[4], u[6]}
end
if not u[6] then
  redis.call('HSET', KEYS[2], 'f', ARGV[3])
  u[6] = ARGV[3]
end
rec['t'] = math.max(nt, bt)
rec['i'] = math.max(ni, bi)
rec['o'] = math.max(no, bo)
rec['u'] = now
local prev_ip = rec['ip'] or ''
if ARGV[11] ~= '' then rec['ip'] = ARGV[11] end
if ARGV[19] ~= '' then
  -- The claim must outlive the session by the tombstone's lifetime (late records of it still
  -- match). Renewed when half its life is gone and at the Stop, not on every update.
  local life = tonumber(ARGV[15]) + 3 * tonumber(ARGV[12])
  if kind == 'stop' or rec['lg'] ~= ARGV[19] or not rec['ce'] or now + life / 2 > rec['ce'] then
    redis.call('SET', KEYS[4], ARGV[1], 'EX', life)
    rec['lg'] = ARGV[19]
    rec['ce'] = now + life
  end
end
local out = cjson.encode(rec)
if kind == 'stop' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[3], string.format('%.0f,%.0f,%.0f', rec['t'], rec['i'], rec['o']),
             'EX', tonumber(ARGV[15]))
  redis.call('SET', KEYS[5], string.format('%.0f|', now + STOP_LEASE) .. out, 'EX', tonumber(ARGV[15]))
  return {'closed', out, u}
end
redis.call('HSET', KEYS[1], ARGV[1], out)
if raw then return {'updated', out, u, false, prev_ip} end
return {'new', out, u}
"""
