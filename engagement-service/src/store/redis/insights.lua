-- Writes one transaction's knowledge-flow changes (see insights.rs).
-- KEYS: the keys touched. ARGV: operations, each a code, a KEYS index
-- and its arguments:
--   b i expire n slot delta ...  BITFIELD INCRBY i64 on the counters (the
--                                first slot is the revision); a new key
--                                (its revision now 1) gets its expiry
--   k i field delta              HINCRBY; the field goes at zero
--   z i member delta             ZINCRBY; the member goes at zero or below,
--                                as on a points leaderboard
--   s i field value              HSET
--   r i field                    HDEL
--   x i unixtime                 EXPIREAT
--   a i member                   SADD
local i = 1
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  if op == 'b' then
    local expire = tonumber(ARGV[i + 2])
    local count = tonumber(ARGV[i + 3])
    local args = {key, 'OVERFLOW', 'WRAP'}
    for j = 0, count - 1 do
      args[#args + 1] = 'INCRBY'
      args[#args + 1] = 'i64'
      args[#args + 1] = ARGV[i + 4 + j * 2]
      args[#args + 1] = ARGV[i + 5 + j * 2]
    end
    local after = redis.call('BITFIELD', unpack(args))
    if expire > 0 and after[1] == 1 then
      redis.call('EXPIREAT', key, expire)
    end
    i = i + 4 + count * 2
  elseif op == 'k' then
    if redis.call('HINCRBY', key, ARGV[i + 2], ARGV[i + 3]) == 0 then
      redis.call('HDEL', key, ARGV[i + 2])
    end
    i = i + 4
  elseif op == 'z' then
    local score = tonumber(redis.call('ZINCRBY', key, ARGV[i + 3], ARGV[i + 2]))
    if score <= 0 then
      redis.call('ZREM', key, ARGV[i + 2])
    end
    i = i + 4
  elseif op == 's' then
    redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'r' then
    redis.call('HDEL', key, ARGV[i + 2])
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
