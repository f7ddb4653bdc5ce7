"""The accounting Lua script: one session record applied atomically, all or nothing.

All keys are in the phone's ``{p:<phone>}`` slot (Redis Cluster). Redis does not roll a script
back when a command inside it fails, so the script first reads, computes and checks everything,
and writes only when every check passed: a record it refuses (or that errors) changes nothing.

KEYS: 1 phone_sessions, 2 usage, 3 tombstone, 4 login claim (``keys.login_claim``),
      5 (Stop only) logout-pending marker (``keys.session_logout_pending``)

ARGV (what a session repeats first, then what changes per record: radius/acct_wire.py encodes
the first run once per session):
       1 field ``<ac>|<sid>``, 2 kind (start|interim|stop), 3 mac, 4 ip, 5 interim,
       6 plan (from the signed Class; "" = unknown), 7 user name, 8 SSID, 9 venue (8/9 kept from
       the record that creates the session: a session belongs to the venue it started in),
       10 login ("" = none), 11/12 in/out octets per second allowed under plan 6 (0 = no rate in
       the plan), 13 the NAS's raw identifiers as a JSON object or '' (``portal.aaa.sessions.
       encode_nas_ids``; kept from the creating record too: DM/CoA repeat them exactly as the NAS
       sent them);
       14 now, 15 today, 16 session time, 17 in octets, 18 out octets, 19 in has gigawords,
       20 out has gigawords, 21 started, 22 event time (now - Acct-Delay-Time).
The tombstone lifetime, clock skew, octets per second allowed otherwise (line rate × margin) and
burst seconds are the processor's settings, written into the script (``acct_lua``).

Returns ``{verdict, record json or false, {d, dt, dv, tt, tv, f} (empty for dup), reason,
previous IP, plan}``;
verdict is new | updated | closed | dup | refused | busy (reason set only for refused; the IP
the record had before, "" if none, and the record's plan, only for updated: the IP index follows
a changed IP, the quota check needs the plan, and neither needs the record decoded).

A Stop that closes the session also sets KEYS[5] (``<lease until>|<record json>``): the Stop's
accounting-log entry and real-name logout go to streams in other hash slots, so they are written
after this script, and the marker is deleted after them. Should Redis fail in between, the AC's
retransmitted Stop finds the tombstone AND the marker: it is answered 'closed' again (nothing
booked twice) and its caller writes the missing records. The lease (``STOP_LEASE`` seconds) keeps
a copy that arrives while the first is still writing from writing them too: it gets 'busy' and
is not answered (the AC retransmits it later).
"""

from __future__ import annotations

__all__ = ["STOP_LEASE", "acct_lua"]

STOP_LEASE = 3   # s a closing Stop's copy writes its log records alone (longer than one round trip)

_ACCT_BODY = """
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
local now, nt, ni, no = number(14), number(16), number(17), number(18)
local started, evt = number(21), number(22)
if not (now and nt and ni and no and started and evt) then
  return {'refused', false, usage_now(), 'bad_number'}
end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local function refuse(why) return {'refused', raw or false, usage_now(), why} end
local tomb = false
local rec
local bt, bi, bo = 0, 0, 0
if raw then
  if kind == 'start' then return {'dup', raw, {}} end
  if kind == 'interim' then
    -- An update with nothing new (a replay, or older than the record) is told from the
    -- record's counters alone, without decoding it (cjson.decode was ~10 % of Redis's work on
    -- a replayed Interim-Update); anything else, or a record these patterns do not read, is
    -- decoded below. (A JSON string cannot hold '"t":' unescaped: only the key matches. Plain
    -- find, then digits anchored there: an unanchored pattern scan cost more than the decode;
    -- a number cjson wrote with an exponent is not read here.)
    local function counter(key)
      local at = string.find(raw, key, 1, true)
      if at then return tonumber(string.match(raw, '^(%d+)[,}]', at + 4)) end   -- else: decode
    end
    local qt = counter('"t":')
    if qt and nt <= qt then    -- (a new update has more time: one look is enough)
      local qi, qo = counter('"i":'), counter('"o":')
      if qi and qo and ni <= qi and no <= qo then return {'dup', raw, {}} end
    end
  end
  rec = cjson.decode(raw)
  bt, bi, bo = rec['t'], rec['i'], rec['o']
else
  tomb = redis.call('GET', KEYS[3])
  if tomb then
    -- closed recently: a Start is a replay; Interim/Stop count only beyond the final counters
    if kind == 'start' then return {'dup', false, {}} end
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
  rec = {s = started, ii = tonumber(ARGV[5])}
  if ARGV[3] ~= '' then rec['m'] = ARGV[3] end
  if ARGV[6] ~= '' then rec['pl'] = ARGV[6] end
  if ARGV[7] ~= '' then rec['un'] = ARGV[7] end
  if ARGV[8] ~= '' then rec['ss'] = ARGV[8] end
  if ARGV[9] ~= '' then rec['v'] = ARGV[9] end
  if ARGV[13] ~= '' then rec['id'] = cjson.decode(ARGV[13]) end
end
local adv = nt > bt
ni = unwrap(ni, bi, tonumber(ARGV[19]), adv)
no = unwrap(no, bo, tonumber(ARGV[20]), adv)
local grew = nt > bt or ni > bi or no > bo
if not grew and (raw or tomb) and not (raw and kind == 'stop') then
  -- a replay or an older update arriving late: nothing to book, nothing to change
  return {'dup', raw or false, {}}
end
-- The session's owner: one login (signed Class) backs one session, on the AC it was issued to.
-- (A session that already holds this login's claim, 'lg', needs no lookup.)
if ARGV[10] ~= '' and rec['lg'] ~= ARGV[10] then
  local owner = redis.call('GET', KEYS[4])
  if owner and owner ~= ARGV[1] then return refuse('login_reused') end
end
-- Plausibility against the session: its time cannot run ahead of our clock since it started,
-- its counters cannot exceed its plan's rate (× margin) over its time.
if raw and rec['s'] and nt > evt - rec['s'] + SKEW then
  return refuse('time_ahead')
end
local rin, rout = LINE, LINE
if ARGV[6] ~= '' and rec['pl'] == ARGV[6] then
  local pin, pout = tonumber(ARGV[11]), tonumber(ARGV[12])
  if pin > 0 then rin = pin end
  if pout > 0 then rout = pout end
end
local span = math.max(nt, bt) + BURST
if ni > MAX or ni > rin * span then return refuse('rate_in') end
if no > MAX or no > rout * span then return refuse('rate_out') end
local dt = math.max(0, nt - bt)
local dv = math.max(0, ni - bi) + math.max(0, no - bo)
local u = redis.call('HMGET', KEYS[2], 'd', 'dt', 'dv', 'tt', 'tv', 'f')
local n = {}     -- the counters as numbers (nil: missing or not a number)
for i = 2, 5 do
  local add = dv
  if i % 2 == 0 then add = dt end
  n[i] = tonumber(u[i])
  if (n[i] or 0) + add > MAX then return refuse('usage_overflow') end
end
-- Every check passed: write. The usage returned is built from what was read and booked (the
-- same values usage_now() would read back, one HMGET fewer on the hot path).
if dt > 0 or dv > 0 then
  -- portal.aaa.usage's add_usage (HGET of the day, then HINCRBY ×4) as one HSET of the sums
  -- from the HMGET above: the same values, one command instead of five (each also copied to
  -- the AOF). The daily counters start again from 0 on a new local day; a counter that is not
  -- a whole number fails the record, as HINCRBY would have (before anything is written here).
  local day = ARGV[15]
  local c = {0, 0, 0, 0}
  for i = 2, 5 do
    if u[i] and (i > 3 or u[1] == day) then
      if not n[i] or n[i] ~= math.floor(n[i]) then
        return redis.error_reply('ERR hash value is not an integer')
      end
      c[i - 1] = n[i]
    end
  end
  c = {c[1] + dt, c[2] + dv, c[3] + dt, c[4] + dv}
  local first = u[6]
  if first then
    redis.call('HSET', KEYS[2], 'd', day, 'dt', string.format('%.0f', c[1]),
               'dv', string.format('%.0f', c[2]), 'tt', string.format('%.0f', c[3]),
               'tv', string.format('%.0f', c[4]))
  else
    first = ARGV[14]
    redis.call('HSET', KEYS[2], 'd', day, 'dt', string.format('%.0f', c[1]),
               'dv', string.format('%.0f', c[2]), 'tt', string.format('%.0f', c[3]),
               'tv', string.format('%.0f', c[4]), 'f', first)
  end
  u = {day, c[1], c[2], c[3], c[4], first}
end
if not u[6] then
  redis.call('HSET', KEYS[2], 'f', ARGV[14])
  u[6] = ARGV[14]
end
rec['t'] = math.max(nt, bt)
rec['i'] = math.max(ni, bi)
rec['o'] = math.max(no, bo)
rec['u'] = now
local prev_ip = rec['ip'] or ''
if ARGV[4] ~= '' then rec['ip'] = ARGV[4] end
if ARGV[10] ~= '' then
  -- The claim must outlive the session by the tombstone's lifetime (late records of it still
  -- match). Renewed when half its life is gone and at the Stop, not on every update.
  local life = TTL + 3 * tonumber(ARGV[5])
  if kind == 'stop' or rec['lg'] ~= ARGV[10] or not rec['ce'] or now + life / 2 > rec['ce'] then
    redis.call('SET', KEYS[4], ARGV[1], 'EX', life)
    rec['lg'] = ARGV[10]
    rec['ce'] = now + life
  end
end
local out = cjson.encode(rec)
if kind == 'stop' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[3], string.format('%.0f,%.0f,%.0f', rec['t'], rec['i'], rec['o']),
             'EX', TTL)
  redis.call('SET', KEYS[5], string.format('%.0f|', now + STOP_LEASE) .. out, 'EX', TTL)
  return {'closed', out, u}
end
redis.call('HSET', KEYS[1], ARGV[1], out)
if raw then return {'updated', out, u, false, prev_ip, rec['pl'] or ''} end
return {'new', out, u}
"""


def acct_lua(tombstone_ttl: int, clock_skew: int, line_rate: int, burst: int) -> str:
    """The accounting script with the processor's settings written into it (tombstone and claim
    lifetime, clock skew, octets per second allowed without a plan rate, burst seconds): four
    arguments fewer per call, and no ``tonumber`` of them (Lua's goes through strtod)."""
    return (f"local STOP_LEASE, TTL, SKEW, LINE, BURST = {STOP_LEASE}, {int(tombstone_ttl)}, "
            f"{int(clock_skew)}, {int(line_rate)}, {int(burst)}\n" + _ACCT_BODY)
