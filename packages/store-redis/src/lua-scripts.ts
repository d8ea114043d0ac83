import { createHash } from 'node:crypto';

/** A Lua script run with EVALSHA, falling back to EVAL when the server's script cache lost it. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function script(name: string, body: string): LuaScript {
  const source = PRELUDE + body;
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

// ARGV[1] is the clock mode, ARGV[2] the caller's `now` and ARGV[3] a member id unique to this call
// (see addEntry); a script's own arguments start at ARGV[4]. 'server' mode reads Redis TIME so every
// replica shares one clock. Numbers handed to redis.call go through num(): integers as %d, others with
// 17 significant digits (Lua's own tostring keeps only 14), memoized because the same few values (now,
// cutoffs, lifetimes) recur in every step of a run and float formatting is the costliest part of it.
// Replies go through out(), which keeps integers as integer replies and sends other numbers as exact
// strings (Redis would truncate them).
const PRELUDE = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local floor, format = math.floor, string.format
local function integral(x) return x == floor(x) and x > -9007199254740992 and x < 9007199254740992 end
local function out(x)
  if integral(x) then return x end
  return format('%.17g', x)
end
local formatted = {}
local function num(x)
  local text = formatted[x]
  if text == nil then
    if integral(x) then text = format('%d', x) else text = format('%.17g', x) end
    formatted[x] = text
  end
  return text
end
local now
if ARGV[1] == 'server' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[2])
end
local uid = ARGV[3]
-- A batched run names its members run-id.step, made only when a step adds one (see GUARD_STEPS_SCRIPT).
local stepIndex
local MARGIN = 1000
-- Every key of one kind is always written with the same lifetime, so resetting it unconditionally
-- never shortens it, and costs one call instead of a PTTL read plus (almost always) a PEXPIRE.
local function extend(key, ms)
  redis.call('PEXPIRE', key, num(math.ceil(ms) + MARGIN))
end
local function trim(zkey, windowMs)
  redis.call('ZREMRANGEBYSCORE', zkey, '-inf', num(now - windowMs))
end
-- Members are uid:weight. The uid is unique per call (a random per-connection prefix and a counter, sent
-- by the client), so a new member never collides with one already in the window, whatever its score.
local function member(weight)
  if uid == nil then uid = ARGV[3] .. '.' .. stepIndex end
  return uid .. ':' .. weight
end
local function addEntry(zkey, windowMs, weight)
  redis.call('ZADD', zkey, num(now), member(weight))
  extend(zkey, windowMs)
end
-- The running sum of a weighted window is kept beside the set (same lifetime, written together) and
-- adjusted by the weights of trimmed entries, so a call costs O(log n + trimmed) instead of reading the
-- whole window; a missing sum is rebuilt from the set. weightArg is the weight as passed (it becomes the
-- member's suffix); ceilingArg is a number or 'none'.
-- The text after the last colon (anchored on the colon: an unanchored '([^:]*)$' rescans from every
-- position, which measured 1.75 µs a member against 0.25).
local function weightOf(m) return tonumber(string.match(m, ':([^:]*)$')) end
local function addBelow(zkey, skey, windowMs, weightArg, ceilingArg)
  local weight = tonumber(weightArg)
  local cutoff = num(now - windowMs)
  local stored = redis.call('GET', skey)
  local before = 0
  local changed = false
  if stored then
    before = tonumber(stored)
    local old = redis.call('ZRANGEBYSCORE', zkey, '-inf', cutoff)
    if #old > 0 then
      for _, m in ipairs(old) do before = before - weightOf(m) end
      redis.call('ZREMRANGEBYSCORE', zkey, '-inf', cutoff)
      -- An emptied window sums to exactly 0 (no rounding left over from fractional weights).
      if before < 0 or redis.call('ZCARD', zkey) == 0 then before = 0 end
      changed = true
    end
  else
    redis.call('ZREMRANGEBYSCORE', zkey, '-inf', cutoff)
    local all = redis.call('ZRANGE', zkey, 0, -1)
    for _, m in ipairs(all) do before = before + weightOf(m) end
    changed = #all > 0
  end
  local after = before
  local recorded = 0
  if weight > 0 and (ceilingArg == 'none' or before + weight < tonumber(ceilingArg)) then
    after = before + weight
    recorded = 1
    addEntry(zkey, windowMs, weightArg)
    redis.call('SET', skey, num(after), 'PX', num(math.ceil(windowMs) + MARGIN))
  elseif changed then
    -- A read only trims or rebuilds: the sum takes (or keeps) the lifetime of the set, so that it never
    -- outlives it.
    if stored then
      redis.call('SET', skey, num(after), 'KEEPTTL')
    else
      local ttl = redis.call('PTTL', zkey)
      if ttl > 0 then redis.call('SET', skey, num(after), 'PX', num(ttl)) end
    end
  end
  return {before, after, recorded}
end
local function takeCheck(zkey, windowMs, limit)
  trim(zkey, windowMs)
  local count = redis.call('ZCARD', zkey)
  if count < limit then return {1, count, 0} end
  local retry = 0
  local oldest = redis.call('ZRANGE', zkey, 0, 0, 'WITHSCORES')
  if oldest[2] then
    retry = tonumber(oldest[2]) + windowMs - now
    if retry < 0 then retry = 0 end
  end
  return {0, count, retry}
end
local function breakerLoad(hkey)
  local v = redis.call('HMGET', hkey, 'state', 'openUntil', 'probeUntil')
  return v[1] or 'closed', tonumber(v[2] or '0'), tonumber(v[3] or '0')
end
local function breakerAdmit(hkey, cooldownMs, idleMs, commit)
  local state, openUntil, probeUntil = breakerLoad(hkey)
  if state == 'open' then
    if now < openUntil then return {0, 'open', openUntil, 0} end
    state = 'half-open'
    probeUntil = 0
  end
  if state == 'half-open' then
    if probeUntil == 0 or now >= probeUntil then
      if commit then
        redis.call('HSET', hkey, 'state', 'half-open', 'openUntil', '0', 'probeUntil', num(now + cooldownMs))
        extend(hkey, idleMs)
      end
      return {1, 'half-open', 0, 1}
    end
    return {0, 'half-open', 0, 0}
  end
  return {1, 'closed', 0, 0}
end
-- A probe's report only counts while the breaker is half-open: a late report from a released probe is an
-- ordinary record. Opening and closing both forget the denials (as the in-memory store does).
local function breakerRecord(hkey, zkey, threshold, windowMs, cooldownMs, idleMs, denied, probe, knownState)
  -- knownState: the state an admission in this same script just read (and committed), when there was one;
  -- an admitted request's breaker is closed or half-open, so openUntil is 0.
  local state, openUntil
  if knownState then state, openUntil = knownState, 0 else state, openUntil = breakerLoad(hkey) end
  local function open()
    openUntil = now + cooldownMs
    state = 'open'
    redis.call('HSET', hkey, 'state', 'open', 'openUntil', num(openUntil), 'probeUntil', '0')
    extend(hkey, idleMs)
    redis.call('DEL', zkey)
  end
  if probe and state == 'half-open' then
    if denied then
      open()
      return {'open', openUntil, 0}
    end
    redis.call('DEL', hkey, zkey)
    return {'closed', 0, 0}
  end
  trim(zkey, windowMs)
  local denials
  -- Only a closed breaker counts denials: an open one already refuses, and closing starts afresh.
  if state == 'closed' then
    if denied then addEntry(zkey, windowMs, '1') end
    denials = redis.call('ZCARD', zkey)
    if denials >= threshold then
      open()
      denials = 0
    end
  else
    denials = redis.call('ZCARD', zkey)
  end
  if state == 'open' and now >= openUntil then return {'half-open', 0, denials} end
  if state == 'open' then return {'open', openUntil, denials} end
  return {state, 0, denials}
end
`;

/** KEYS: window zset. ARGV: mode, now, uid, windowMs, limit. */
export const TAKE_SCRIPT = script(
  'take',
  `
local windowMs = tonumber(ARGV[4])
local r = takeCheck(KEYS[1], windowMs, tonumber(ARGV[5]))
if r[1] == 1 then
  addEntry(KEYS[1], windowMs, '1')
  r[2] = r[2] + 1
end
return {r[1], out(r[2]), out(r[3])}
`,
);

/**
 * KEYS: window zset, its running-sum key. ARGV: mode, now, uid, windowMs, weight, ceiling ('none' = no
 * ceiling).
 */
export const ADD_BELOW_SCRIPT = script(
  'addBelow',
  `
local r = addBelow(KEYS[1], KEYS[2], tonumber(ARGV[4]), ARGV[5], ARGV[6])
return {out(r[1]), out(r[2]), r[3]}
`,
);

/** KEYS: breaker hash. ARGV: mode, now, uid, cooldownMs, idleMs. */
export const ADMIT_SCRIPT = script(
  'admit',
  `
local r = breakerAdmit(KEYS[1], tonumber(ARGV[4]), tonumber(ARGV[5]), true)
return {r[1], r[2], out(r[3]), r[4]}
`,
);

/**
 * KEYS: breaker hash, denials zset. ARGV: mode, now, uid, threshold, windowMs, cooldownMs, idleMs, denied,
 * probe. See breakerRecord in the prelude.
 */
export const RECORD_SCRIPT = script(
  'record',
  `
local r = breakerRecord(KEYS[1], KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
  tonumber(ARGV[7]), ARGV[8] == '1', ARGV[9] == '1')
return {r[1], out(r[2]), out(r[3])}
`,
);

/** KEYS: nonce key. ARGV: mode, now, uid, expiresAt, graceMs, maxTtlMs. */
export const CONSUME_SCRIPT = script(
  'consume',
  `
local ttl = tonumber(ARGV[4]) - now
if ttl < 0 then ttl = 0 end
ttl = floor(ttl + tonumber(ARGV[5]))
if ttl < 1 then ttl = 1 end
if ttl > tonumber(ARGV[6]) then ttl = tonumber(ARGV[6]) end
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', num(ttl)) then return 1 end
return 0
`,
);

/**
 * KEYS: breaker hash (any key when there is no breaker), then one zset per window.
 * ARGV: mode, now, uid, hasBreaker, cooldownMs, idleMs, then windowMs and limit per window.
 * Records everything or nothing: a refused window consumes no probe and no other window's slot.
 */
export const GUARD_CHECK_SCRIPT = script(
  'guardCheck',
  `
local hasBreaker = ARGV[4] == '1'
local cooldownMs, idleMs = tonumber(ARGV[5]), tonumber(ARGV[6])
local admission = {1, 'closed', 0, 0}
if hasBreaker then admission = breakerAdmit(KEYS[1], cooldownMs, idleMs, false) end
local allowed = admission[1] == 1
local windows = {}
local n = (#ARGV - 6) / 2
for i = 1, n do
  local r = takeCheck(KEYS[1 + i], tonumber(ARGV[5 + 2 * i]), tonumber(ARGV[6 + 2 * i]))
  windows[i] = r
  if r[1] == 0 then allowed = false end
end
if allowed then
  -- Committing only changes a half-open breaker (it hands out the probe): a closed one needs no second read.
  if hasBreaker and admission[2] ~= 'closed' then admission = breakerAdmit(KEYS[1], cooldownMs, idleMs, true) end
  for i = 1, n do
    addEntry(KEYS[1 + i], tonumber(ARGV[5 + 2 * i]), '1')
    windows[i][2] = windows[i][2] + 1
  end
end
local reply = {allowed and 1 or 0, admission[1], admission[2], out(admission[3]), admission[4]}
for i = 1, n do
  reply[#reply + 1] = windows[i][1]
  reply[#reply + 1] = out(windows[i][2])
  reply[#reply + 1] = out(windows[i][3])
end
return reply
`,
);

/** Shape of {@link GUARD_STEPS_SCRIPT}: keys per step, fields per profile, reply fields per step. */
export const GUARD_STEP_KEYS = 5;
export const GUARD_PROFILE_FIELDS = 13;
export const GUARD_STEP_REPLY = 14;

/**
 * Several guard steps (of different callers) in ONE script run, one after another, each with the
 * semantics of a single step; the run is atomic as a whole, so N processes still see exact limits.
 * Everything but the keys and the time is a profile, sent once per run for all steps sharing it.
 * KEYS: per step, breaker hash, window zset, weights zset, weights running sum, breaker denials zset
 * (unused ones: any key).
 * ARGV: mode, unused, the run's id (unique: members are id.step:weight), the number of profiles, the
 * profiles, then one value per step: its profile (0-based), and with mode 'client' ':' and its now.
 * A profile is one string of comma-separated fields: hasBreaker, cooldownMs, idleMs, hasWindow,
 * windowMs, limit, hasWeights, weightsWindowMs, weight, ceiling ('none' = no ceiling), record ('0'
 * none, '1' an allowed decision, '2' a denial), threshold, breakerWindowMs.
 * Reply: ONE string, the steps' fields joined by commas: per step, breaker admitted, state, openUntil,
 * probe; window allowed, count, retryAfterMs; weights before, after, recorded; record applied, state,
 * openUntil, denials. Each part runs only when the one before it passed; a refused window spends no
 * probe; the record runs once breaker and window passed. A step that fails (a key of the wrong type)
 * gives -1 and the error in place of admitted and state, and does not stop the others.
 */
export const GUARD_STEPS_SCRIPT = script(
  'guardStep',
  `
local server = ARGV[1] == 'server'
local run = ARGV[3]
local profiles = {}
local count = tonumber(ARGV[4])
for p = 0, count - 1 do
  local f = {}
  for v in string.gmatch(ARGV[5 + p], '[^,]+') do f[#f + 1] = v end
  if #f ~= ${GUARD_PROFILE_FIELDS} then return redis.error_reply('malformed guard step profile') end
  profiles[tostring(p)] = {
    hasBreaker = f[1] == '1', cooldownMs = tonumber(f[2]), idleMs = tonumber(f[3]),
    hasWindow = f[4] == '1', windowMs = tonumber(f[5]), limit = tonumber(f[6]),
    hasWeights = f[7] == '1', weightsWindowMs = tonumber(f[8]), weight = f[9], ceiling = f[10],
    record = f[11], threshold = tonumber(f[12]), breakerWindowMs = tonumber(f[13]),
  }
end
local CLOSED = 'closed'
local Z = '0'
local FLAG = {[0] = '0', [1] = '1'}
-- The reply, written by put() once per step after all its Redis calls, so a failing step leaves nothing.
local reply, n = {}, 0
local function put(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14)
  reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4], reply[n + 5] = a1, a2, a3, a4, a5
  reply[n + 6], reply[n + 7], reply[n + 8], reply[n + 9], reply[n + 10] = a6, a7, a8, a9, a10
  reply[n + 11], reply[n + 12], reply[n + 13], reply[n + 14] = a11, a12, a13, a14
  n = n + 14
end
local function step(K, A, i)
  local p
  if server then
    p = profiles[ARGV[A]]
  else
    local index, at = string.match(ARGV[A], '^(%d+):(.+)$')
    p = profiles[index]
    now = tonumber(at)
  end
  uid = nil
  stepIndex = i
  local admission = {1, CLOSED, 0, 0}
  if p.hasBreaker then
    admission = breakerAdmit(KEYS[K + 1], p.cooldownMs, p.idleMs, false)
    if admission[1] == 0 then
      put(Z, admission[2], num(admission[3]), Z, Z, Z, Z, Z, Z, Z, Z, CLOSED, Z, Z)
      return
    end
  end
  local take = {1, 0, 0}
  if p.hasWindow then
    take = takeCheck(KEYS[K + 2], p.windowMs, p.limit)
    if take[1] == 0 then
      put('1', admission[2], num(admission[3]), Z, Z, num(take[2]), num(take[3]), Z, Z, Z, Z, CLOSED, Z, Z)
      return
    end
    addEntry(KEYS[K + 2], p.windowMs, '1')
    take[2] = take[2] + 1
  end
  -- Committing only changes a half-open breaker (it hands out the probe): a closed one needs no second read.
  if p.hasBreaker and admission[2] ~= CLOSED then admission = breakerAdmit(KEYS[K + 1], p.cooldownMs, p.idleMs, true) end
  local added = {0, 0, 0}
  if p.hasWeights then added = addBelow(KEYS[K + 3], KEYS[K + 4], p.weightsWindowMs, p.weight, p.ceiling) end
  if p.hasBreaker and p.record ~= '0' then
    local r = breakerRecord(KEYS[K + 1], KEYS[K + 5], p.threshold, p.breakerWindowMs, p.cooldownMs, p.idleMs,
      p.record == '2', admission[4] == 1, admission[2])
    put('1', admission[2], num(admission[3]), FLAG[admission[4]], '1', num(take[2]), num(take[3]),
      num(added[1]), num(added[2]), FLAG[added[3]], '1', r[1], num(r[2]), num(r[3]))
    return
  end
  put('1', admission[2], num(admission[3]), FLAG[admission[4]], '1', num(take[2]), num(take[3]),
    num(added[1]), num(added[2]), FLAG[added[3]], Z, CLOSED, Z, Z)
end
local first = 5 + count
local steps = #ARGV - first + 1
for i = 0, steps - 1 do
  local ok, r = pcall(step, i * ${GUARD_STEP_KEYS}, first + i, i)
  if not ok then
    local message = type(r) == 'table' and (r.err or 'error') or tostring(r)
    put('-1', (string.gsub(message, '[^%w%s%.:_-]', ' ')), Z, Z, Z, Z, Z, Z, Z, Z, Z, CLOSED, Z, Z)
  end
end
return table.concat(reply, ',')
`,
);

/** Every script, for loading them once at connect. */
export const ALL_SCRIPTS: readonly LuaScript[] = [
  TAKE_SCRIPT,
  ADD_BELOW_SCRIPT,
  ADMIT_SCRIPT,
  RECORD_SCRIPT,
  CONSUME_SCRIPT,
  GUARD_CHECK_SCRIPT,
  GUARD_STEPS_SCRIPT,
];
