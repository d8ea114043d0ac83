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

// Every number handed to redis.call goes through fmt: Lua's default number-to-string conversion keeps
// only 14 significant digits, which would corrupt millisecond timestamps with fractions.
// ARGV[1] is the clock mode and ARGV[2] the caller's `now`; 'server' reads Redis TIME so every replica
// shares one clock.
const PRELUDE = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local function fmt(x) return string.format('%.17g', x) end
local now
if ARGV[1] == 'server' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[2])
end
local MARGIN = 1000
-- Every key of one kind is always written with the same lifetime, so resetting it unconditionally
-- never shortens it, and costs one call instead of a PTTL read plus (almost always) a PEXPIRE.
local function extend(key, ms)
  redis.call('PEXPIRE', key, fmt(math.ceil(ms) + MARGIN))
end
local function trim(zkey, windowMs)
  redis.call('ZREMRANGEBYSCORE', zkey, '-inf', fmt(now - windowMs))
end
-- Members are now:n:weight, n counting the entries already at this score. Trimming removes a score's
-- entries all together, so the suffixes at one score are always 0..n-1 and a new member never collides.
local function addEntry(zkey, windowMs, weight)
  local score = fmt(now)
  local n = redis.call('ZCOUNT', zkey, score, score)
  redis.call('ZADD', zkey, score, score .. ':' .. n .. ':' .. weight)
  extend(zkey, windowMs)
end
-- The running sum of a weighted window is kept beside the set and adjusted by the weights of trimmed
-- entries, so a call costs O(log n + trimmed) instead of reading the whole window; a missing sum is
-- rebuilt from the set. weightArg is the weight as passed (it becomes the member's suffix); ceilingArg
-- is a number or 'none'.
local function weightOf(member) return tonumber(string.match(member, '([^:]*)$')) end
local function addBelow(zkey, skey, windowMs, weightArg, ceilingArg)
  local weight = tonumber(weightArg)
  local cutoff = fmt(now - windowMs)
  local stored = redis.call('GET', skey)
  local before = 0
  if stored then
    before = tonumber(stored)
    local old = redis.call('ZRANGEBYSCORE', zkey, '-inf', cutoff)
    if #old > 0 then
      for _, member in ipairs(old) do before = before - weightOf(member) end
      redis.call('ZREMRANGEBYSCORE', zkey, '-inf', cutoff)
    end
    -- The set can also have expired on its own (a read-only call extends only the sum): then the sum is stale.
    if before < 0 or redis.call('ZCARD', zkey) == 0 then before = 0 end
  else
    redis.call('ZREMRANGEBYSCORE', zkey, '-inf', cutoff)
    for _, member in ipairs(redis.call('ZRANGE', zkey, 0, -1)) do before = before + weightOf(member) end
  end
  local after = before
  local recorded = 0
  if weight > 0 and (ceilingArg == 'none' or before + weight < tonumber(ceilingArg)) then
    addEntry(zkey, windowMs, weightArg)
    after = before + weight
    recorded = 1
  end
  redis.call('SET', skey, fmt(after))
  extend(skey, windowMs)
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
    if now < openUntil then return {0, 'open', fmt(openUntil), 0} end
    state = 'half-open'
    probeUntil = 0
  end
  if state == 'half-open' then
    if probeUntil == 0 or now >= probeUntil then
      if commit then
        redis.call('HSET', hkey, 'state', 'half-open', 'openUntil', '0', 'probeUntil', fmt(now + cooldownMs))
        extend(hkey, idleMs)
      end
      return {1, 'half-open', '0', 1}
    end
    return {0, 'half-open', '0', 0}
  end
  return {1, 'closed', '0', 0}
end
-- A probe's report only counts while the breaker is half-open: a late report from a released probe is an
-- ordinary record. Opening and closing both forget the denials (as the in-memory store does).
local function breakerRecord(hkey, zkey, threshold, windowMs, cooldownMs, idleMs, denied, probe)
  local state, openUntil = breakerLoad(hkey)
  local function open()
    openUntil = now + cooldownMs
    state = 'open'
    redis.call('HSET', hkey, 'state', 'open', 'openUntil', fmt(openUntil), 'probeUntil', '0')
    extend(hkey, idleMs)
    redis.call('DEL', zkey)
  end
  if probe and state == 'half-open' then
    if denied then
      open()
    else
      redis.call('DEL', hkey, zkey)
      return {'closed', '0', '0'}
    end
  else
    trim(zkey, windowMs)
    -- Only a closed breaker counts denials: an open one already refuses, and closing starts afresh.
    if denied and state == 'closed' then addEntry(zkey, windowMs, '1') end
    if state == 'closed' and redis.call('ZCARD', zkey) >= threshold then open() end
  end
  local denials = redis.call('ZCARD', zkey)
  if state == 'open' and now >= openUntil then return {'half-open', '0', fmt(denials)} end
  if state == 'open' then return {'open', fmt(openUntil), fmt(denials)} end
  return {state, '0', fmt(denials)}
end
`;

/** KEYS: window zset. ARGV: mode, now, windowMs, limit. */
export const TAKE_SCRIPT = script(
  'take',
  `
local windowMs = tonumber(ARGV[3])
local r = takeCheck(KEYS[1], windowMs, tonumber(ARGV[4]))
if r[1] == 1 then
  addEntry(KEYS[1], windowMs, '1')
  r[2] = r[2] + 1
end
return {r[1], fmt(r[2]), fmt(r[3])}
`,
);

/**
 * KEYS: window zset, its running-sum key. ARGV: mode, now, windowMs, weight, ceiling ('none' = no
 * ceiling).
 */
export const ADD_BELOW_SCRIPT = script(
  'addBelow',
  `
local r = addBelow(KEYS[1], KEYS[2], tonumber(ARGV[3]), ARGV[4], ARGV[5])
return {fmt(r[1]), fmt(r[2]), r[3]}
`,
);

/** KEYS: breaker hash. ARGV: mode, now, cooldownMs, idleMs. */
export const ADMIT_SCRIPT = script(
  'admit',
  `
return breakerAdmit(KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[4]), true)
`,
);

/**
 * KEYS: breaker hash, denials zset. ARGV: mode, now, threshold, windowMs, cooldownMs, idleMs, denied,
 * probe. See breakerRecord in the prelude.
 */
export const RECORD_SCRIPT = script(
  'record',
  `
return breakerRecord(KEYS[1], KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8] == '1')
`,
);

/** KEYS: nonce key. ARGV: mode, now, expiresAt, graceMs, maxTtlMs. */
export const CONSUME_SCRIPT = script(
  'consume',
  `
local ttl = tonumber(ARGV[3]) - now
if ttl < 0 then ttl = 0 end
ttl = math.floor(ttl + tonumber(ARGV[4]))
if ttl < 1 then ttl = 1 end
if ttl > tonumber(ARGV[5]) then ttl = tonumber(ARGV[5]) end
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', fmt(ttl)) then return 1 end
return 0
`,
);

/**
 * KEYS: breaker hash (any key when there is no breaker), then one zset per window.
 * ARGV: mode, now, hasBreaker, cooldownMs, idleMs, then windowMs and limit per window.
 * Records everything or nothing: a refused window consumes no probe and no other window's slot.
 */
export const GUARD_CHECK_SCRIPT = script(
  'guardCheck',
  `
local hasBreaker = ARGV[3] == '1'
local cooldownMs, idleMs = tonumber(ARGV[4]), tonumber(ARGV[5])
local admission = {1, 'closed', '0', 0}
if hasBreaker then admission = breakerAdmit(KEYS[1], cooldownMs, idleMs, false) end
local allowed = admission[1] == 1
local windows = {}
local n = (#ARGV - 5) / 2
for i = 1, n do
  local r = takeCheck(KEYS[1 + i], tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i]))
  windows[i] = r
  if r[1] == 0 then allowed = false end
end
if allowed then
  -- Committing only changes a half-open breaker (it hands out the probe): a closed one needs no second read.
if hasBreaker and admission[2] ~= 'closed' then admission = breakerAdmit(KEYS[1], cooldownMs, idleMs, true) end
  for i = 1, n do
    addEntry(KEYS[1 + i], tonumber(ARGV[4 + 2 * i]), '1')
    windows[i][2] = windows[i][2] + 1
  end
end
local out = {allowed and 1 or 0, admission[1], admission[2], admission[3], admission[4]}
for i = 1, n do
  out[#out + 1] = windows[i][1]
  out[#out + 1] = fmt(windows[i][2])
  out[#out + 1] = fmt(windows[i][3])
end
return out
`,
);

/**
 * KEYS: breaker hash, window zset, weights zset, weights running sum, breaker denials zset (unused ones:
 * any key).
 * ARGV: mode, now, hasBreaker, cooldownMs, idleMs, hasWindow, windowMs, limit, hasWeights,
 * weightsWindowMs, weight, ceiling ('none' = no ceiling), hasRecord, threshold, breakerWindowMs, denied.
 * Reply: breaker admitted, state, openUntil, probe; window allowed, count, retryAfterMs; weights before,
 * after, recorded; record applied, state, openUntil, denials. Each step runs only when the one before it
 * passed; a refused window spends no probe; the record runs once breaker and window passed.
 */
export const GUARD_STEP_SCRIPT = script(
  'guardStep',
  `
local hasBreaker, hasWindow, hasWeights = ARGV[3] == '1', ARGV[6] == '1', ARGV[9] == '1'
local cooldownMs, idleMs = tonumber(ARGV[4]), tonumber(ARGV[5])
local admission = {1, 'closed', '0', 0}
if hasBreaker then
  admission = breakerAdmit(KEYS[1], cooldownMs, idleMs, false)
  if admission[1] == 0 then
    return {0, admission[2], admission[3], 0, 0, '0', '0', '0', '0', 0, 0, 'closed', '0', '0'}
  end
end
local take = {1, 0, 0}
if hasWindow then
  local windowMs = tonumber(ARGV[7])
  take = takeCheck(KEYS[2], windowMs, tonumber(ARGV[8]))
  if take[1] == 0 then
    return {1, admission[2], admission[3], 0, 0, fmt(take[2]), fmt(take[3]), '0', '0', 0, 0, 'closed', '0', '0'}
  end
  addEntry(KEYS[2], windowMs, '1')
  take[2] = take[2] + 1
end
-- Committing only changes a half-open breaker (it hands out the probe): a closed one needs no second read.
if hasBreaker and admission[2] ~= 'closed' then admission = breakerAdmit(KEYS[1], cooldownMs, idleMs, true) end
local added = {0, 0, 0}
if hasWeights then added = addBelow(KEYS[3], KEYS[4], tonumber(ARGV[10]), ARGV[11], ARGV[12]) end
local recorded = {0, 'closed', '0', '0'}
if hasBreaker and ARGV[13] == '1' then
  local r = breakerRecord(KEYS[1], KEYS[5], tonumber(ARGV[14]), tonumber(ARGV[15]), cooldownMs, idleMs,
    ARGV[16] == '1', admission[4] == 1)
  recorded = {1, r[1], r[2], r[3]}
end
return {1, admission[2], admission[3], admission[4], 1, fmt(take[2]), fmt(take[3]),
  fmt(added[1]), fmt(added[2]), added[3], recorded[1], recorded[2], recorded[3], recorded[4]}
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
  GUARD_STEP_SCRIPT,
];
