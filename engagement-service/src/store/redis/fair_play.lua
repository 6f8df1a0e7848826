-- Writes one transaction's changes to the fair-play tallies (see
-- fair_play.rs).
-- KEYS: the keys touched. ARGV[1]: the least packed number of a pair with
-- two events, from which a pair is kept in the bucket's sorted set.
-- ARGV[2]: how many keys expire, then a KEYS index and a Unix time for
-- each (set once, when the key is new). Then operations, each a code, KEYS
-- indexes and arguments:
--   p e w pair delta   a pair's packed change: in the sorted set e when the
--                      pair is there, else in the hash w, moving to e once
--                      it reaches ARGV[1]; the pair goes at zero or below
--   g v giver delta    a giver's events in the hash v; the field goes at
--                      zero or below
local strong = tonumber(ARGV[1])
local expiring = tonumber(ARGV[2])
local i = 3 + 2 * expiring
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  if op == 'p' then
    local e = KEYS[tonumber(ARGV[i + 1])]
    local w = KEYS[tonumber(ARGV[i + 2])]
    local pair, delta = ARGV[i + 3], ARGV[i + 4]
    if redis.call('ZSCORE', e, pair) then
      if tonumber(redis.call('ZINCRBY', e, delta, pair)) <= 0 then
        redis.call('ZREM', e, pair)
      end
    else
      local packed = redis.call('HINCRBY', w, pair, delta)
      if packed >= strong then
        redis.call('HDEL', w, pair)
        -- As text in full: Lua would write a large number in 14 digits.
        redis.call('ZADD', e, string.format('%d', packed), pair)
      elseif packed <= 0 then
        redis.call('HDEL', w, pair)
      end
    end
    i = i + 5
  elseif op == 'g' then
    local v = KEYS[tonumber(ARGV[i + 1])]
    if redis.call('HINCRBY', v, ARGV[i + 2], ARGV[i + 3]) <= 0 then
      redis.call('HDEL', v, ARGV[i + 2])
    end
    i = i + 4
  else
    return redis.error_reply('unknown fair-play operation ' .. op)
  end
end
for e = 0, expiring - 1 do
  -- Nothing when the operations left no such key.
  redis.call('EXPIREAT', KEYS[tonumber(ARGV[3 + 2 * e])], ARGV[4 + 2 * e], 'NX')
end
return 0
