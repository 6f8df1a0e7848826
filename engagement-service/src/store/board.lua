-- Applies leaderboard increments atomically.
-- KEYS[1]: the processing counter; KEYS[2..]: one board key per increment.
-- ARGV: per increment, member, delta and expire-at (unix seconds, 0 = never).
-- A score is stored as points * 2^30 + (2^30 - 1 - seq), so that among equal
-- points whoever reached them first (lower seq) sorts higher. The counter
-- moves once per call, by the number of increments: increment j gets the
-- j-th number of that run.
local SHIFT = 1073741824
local n = #KEYS - 1
local first = redis.call('INCRBY', KEYS[1], n) - n
local expiring = {}
for i = 2, #KEYS do
  local key = KEYS[i]
  local base = (i - 2) * 3
  local member = ARGV[base + 1]
  local points = tonumber(ARGV[base + 2])
  local old = redis.call('ZSCORE', key, member)
  if old then
    points = points + math.floor(tonumber(old) / SHIFT)
  end
  if points > 0 then
    local seq = (first + i - 1) % SHIFT
    redis.call('ZADD', key, points * SHIFT + (SHIFT - 1 - seq), member)
    -- A key's expiry depends only on its bucket: set once per call.
    local expire_at = tonumber(ARGV[base + 3])
    if expire_at > 0 and not expiring[key] then
      expiring[key] = true
      redis.call('EXPIREAT', key, expire_at)
    end
  else
    redis.call('ZREM', key, member)
  end
end
return n
