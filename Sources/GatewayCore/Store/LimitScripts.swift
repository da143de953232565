/// The two scripts that keep the client limits in Redis. Both read the time with Redis's `TIME`,
/// never a gateway's clock: every instance then measures a bucket against the same clock, so a
/// gateway whose clock runs ahead cannot refill a key's bucket early and let it past its rate.
/// (A failover to a replica with another clock can only move time; a bucket seen from the past
/// counts no refill, never a negative one.)
///
/// Token buckets use the arithmetic of `TokenBucket` in exact integers (every value stays below
/// 2^53, which Lua's numbers hold exactly): one token is `period` units, `count` units refill per
/// ms, and a bucket is stored as its debt (units missing from full) at a moment, with the rate it
/// was taken under, so a bucket whose rate a reload changed is rescaled as `TokenBucket.rescaled`
/// does. A bucket expires when it would be full again. Concurrency slots are leases: sorted-set
/// members scored by their expiry; expired ones are dropped before counting, so a gateway that
/// died holding slots loses them when their lease runs out. The quota is a hash (day, used).
public enum LimitScripts {
    /// KEYS: key bucket, route bucket, key slots, global slots, quota, owed route bucket.
    /// ARGV: lease member, lease ms, key rate (count, period ms, burst; count 0: none), route rate
    /// (the same), key concurrency, global concurrency, daily quota (0: none), quota reset offset ms,
    /// then what is owed (`store_sync local_burst`): units, the key rate and the route rate they
    /// were admitted under, and 1 when they count against the quota (else 0).
    /// Owed units already went through on an instance: they are charged first, whatever the answer
    /// (a bucket may go into debt past its burst, which later requests then wait out). An empty
    /// request with owed units is a pure settlement.
    /// Answers {code, retry ms, key remaining, key ms to next token, route remaining, route ms to
    /// next token, quota day, quota remaining}: code 0 admitted (everything taken), 1 a bucket is
    /// empty, 2 global concurrency, 3 key concurrency, 4 quota spent (retry ms: until the quota day
    /// ends); -1 for what does not apply. Nothing is taken for the request unless everything is.
    public static let admit = StoreScript("""
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local function ceildiv(a, b) return math.floor((a + b - 1) / b) end
    local function bucket(key, count, period, burst)
      local b = {key = key, unit = period, perMs = count, cap = burst * period, debt = 0}
      local v = redis.call('GET', key)
      if v then
        local d, at, p, c = string.match(v, '^(%d+) (%d+) (%d+) (%d+)$')
        d, at, p, c = tonumber(d), tonumber(at), tonumber(p), tonumber(c)
        if d and p > 0 and c > 0 then
          local elapsed = math.max(0, now - at)
          if elapsed >= ceildiv(d, p) then d = 0 else d = d - elapsed * p end
          if p == b.perMs and c == b.cap then b.debt = d else b.debt = math.ceil(math.min(1, d / c) * b.cap) end
        end
      end
      return b
    end
    local function save(b)
      redis.call('SET', b.key, string.format('%d %d %d %d', b.debt, now, b.perMs, b.cap), 'PX', math.max(1, ceildiv(b.debt, b.perMs)))
    end
    local function wait(b)
      local after = b.debt + b.unit
      if after <= b.cap then return 0 end
      return ceildiv(after - b.cap, b.perMs)
    end
    local function remaining(b) return math.floor((b.cap - math.min(b.cap, b.debt)) / b.unit) end
    local function nextToken(b)
      if b.debt == 0 then return 0 end
      local whole = remaining(b)
      return ceildiv(b.debt - (b.cap - (whole + 1) * b.unit), b.perMs)
    end
    local function answer(code, retry, kb, rb, day, left)
      local kr, kt, rr, rt = -1, -1, -1, -1
      if kb then kr, kt = remaining(kb), nextToken(kb) end
      if rb then rr, rt = remaining(rb), nextToken(rb) end
      return {code, retry, kr, kt, rr, rt, day, left}
    end
    local function live(key)
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
      return redis.call('ZCARD', key)
    end
    local function hold(key, ms)
      redis.call('ZADD', key, now + ms, ARGV[1])
      if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
    end
    local dayMs, offset = 86400000, tonumber(ARGV[12])
    local day = math.floor((now - offset) / dayMs)
    local untilReset = (day + 1) * dayMs + offset - now
    local function usedToday()
      local stored = redis.call('HMGET', KEYS[5], 'day', 'used')
      if tonumber(stored[1]) == day then return tonumber(stored[2]) or 0 end
      return 0
    end
    local function countToday(used)
      redis.call('HSET', KEYS[5], 'day', string.format('%d', day), 'used', used)
      redis.call('PEXPIRE', KEYS[5], untilReset + 60000)
    end
    local owed = tonumber(ARGV[13])
    if owed > 0 then
      for _, o in ipairs({{KEYS[1], 14}, {KEYS[6], 17}}) do
        if tonumber(ARGV[o[2]]) > 0 then
          local b = bucket(o[1], tonumber(ARGV[o[2]]), tonumber(ARGV[o[2] + 1]), tonumber(ARGV[o[2] + 2]))
          b.debt = b.debt + owed * b.unit
          save(b)
        end
      end
      if ARGV[20] == '1' then countToday(usedToday() + owed) end
    end
    local leaseMs = tonumber(ARGV[2])
    local kb, rb
    if tonumber(ARGV[3]) > 0 then kb = bucket(KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])) end
    if tonumber(ARGV[6]) > 0 then rb = bucket(KEYS[2], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])) end
    local w = 0
    if kb then w = math.max(w, wait(kb)) end
    if rb then w = math.max(w, wait(rb)) end
    if w > 0 then return answer(1, w, kb, rb, -1, -1) end
    local keyLimit, globalLimit = tonumber(ARGV[9]), tonumber(ARGV[10])
    if globalLimit > 0 and live(KEYS[4]) >= globalLimit then return answer(2, 0, kb, rb, -1, -1) end
    if keyLimit > 0 and live(KEYS[3]) >= keyLimit then return answer(3, 0, kb, rb, -1, -1) end
    local quota, used = tonumber(ARGV[11]), 0
    if quota > 0 then
      used = usedToday()
      if used >= quota then return answer(4, untilReset, kb, rb, -1, 0) end
    end
    for _, b in ipairs({kb or false, rb or false}) do
      if b then
        b.debt = b.debt + b.unit
        save(b)
      end
    end
    if globalLimit > 0 then hold(KEYS[4], leaseMs) end
    if keyLimit > 0 then hold(KEYS[3], leaseMs) end
    if quota > 0 then
      countToday(used + 1)
      return answer(0, 0, kb, rb, day, quota - used - 1)
    end
    return answer(0, 0, kb, rb, -1, -1)
    """)

    /// KEYS: key slots, global slots, quota. ARGV: `renew` or `release`, lease member, then for
    /// `renew` the lease ms, for `release` the quota day to give a unit back to (-1: none).
    /// Renewing a lease that expired meanwhile does not bring it back (`ZADD XX`).
    public static let lease = StoreScript("""
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    if ARGV[1] == 'renew' then
      local ms = tonumber(ARGV[3])
      for i = 1, 2 do
        if redis.call('ZADD', KEYS[i], 'XX', 'CH', now + ms, ARGV[2]) == 1 and redis.call('PTTL', KEYS[i]) < ms then
          redis.call('PEXPIRE', KEYS[i], ms)
        end
      end
      return 1
    end
    redis.call('ZREM', KEYS[1], ARGV[2])
    redis.call('ZREM', KEYS[2], ARGV[2])
    if ARGV[3] ~= '-1' and redis.call('HGET', KEYS[3], 'day') == ARGV[3] then
      if (tonumber(redis.call('HGET', KEYS[3], 'used')) or 0) > 0 then redis.call('HINCRBY', KEYS[3], 'used', -1) end
    end
    return 1
    """)
}
