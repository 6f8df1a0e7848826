-- Takes back what a revocation undoes in the knowledge-flow tallies (see
-- insights.rs); additions are plain commands.
-- KEYS: the keys touched. ARGV: operations, each a code, a KEYS index
-- and its arguments:
--   k i field delta    HINCRBY; the field goes at zero
--   z i member delta   ZINCRBY; the member goes at zero or below, as on a
--                      points leaderboard
local i = 1
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  if op == 'k' then
    if redis.call('HINCRBY', key, ARGV[i + 2], ARGV[i + 3]) == 0 then
      redis.call('HDEL', key, ARGV[i + 2])
    end
  elseif op == 'z' then
    local score = tonumber(redis.call('ZINCRBY', key, ARGV[i + 3], ARGV[i + 2]))
    if score <= 0 then
      redis.call('ZREM', key, ARGV[i + 2])
    end
  else
    return redis.error_reply('unknown insights operation ' .. op)
  end
  i = i + 4
end
return 0
