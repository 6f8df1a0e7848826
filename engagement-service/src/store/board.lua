-- Applies leaderboard increments atomically.
-- KEYS[1]: the processing counter; KEYS[2..]: one board key per increment.
-- ARGV: per increment, member, delta and expire-at (unix seconds, 0 = never).
-- A score is stored as points * 2^30 + (2^30 - 1 - seq), so that among equal
-- points whoever reached them first (lower seq) sorts higher.
local SHIFT = 1073741824
for i = 2, #KEYS do
  local base = (i - 2) * 3
  local member = ARGV[base + 1]
  local points = tonumber(ARGV[base + 2])
  local expire_at = tonumber(ARGV[base + 3])
  local old = redis.call('ZSCORE', KEYS[i], member)
  if old then
    points = points + math.floor(tonumber(old) / SHIFT)
  end
  if points > 0 then
    local seq = redis.call('INCR', KEYS[1]) % SHIFT
    redis.call('ZADD', KEYS[i], points * SHIFT + (SHIFT - 1 - seq), member)
    if expire_at > 0 then
      redis.call('EXPIREAT', KEYS[i], expire_at)
    end
  else
    redis.call('ZREM', KEYS[i], member)
  end
end
return #KEYS - 1
