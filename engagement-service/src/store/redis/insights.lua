-- Writes one transaction's knowledge-flow changes (see insights.rs).
-- KEYS: the keys touched. ARGV: operations, each a code, a KEYS index
-- and its arguments:
--   h i field delta    HINCRBY
--   z i member delta   ZINCRBY; the member goes when it reaches zero
--   s i member score   ZADD
--   r i member         ZREM
--   x i unixtime       EXPIREAT
--   a i member         SADD
local i = 1
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  if op == 'h' then
    redis.call('HINCRBY', key, ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'z' then
    local score = redis.call('ZINCRBY', key, ARGV[i + 3], ARGV[i + 2])
    if tonumber(score) == 0 then
      redis.call('ZREM', key, ARGV[i + 2])
    end
    i = i + 4
  elseif op == 's' then
    redis.call('ZADD', key, ARGV[i + 3], ARGV[i + 2])
    i = i + 4
  elseif op == 'r' then
    redis.call('ZREM', key, ARGV[i + 2])
    i = i + 3
  elseif op == 'x' then
    redis.call('EXPIREAT', key, ARGV[i + 2])
    i = i + 3
  elseif op == 'a' then
    redis.call('SADD', key, ARGV[i + 2])
    i = i + 3
  else
    return redis.error_reply('unknown insights operation ' .. op)
  end
end
return 0
