-- Reads a window of a leaderboard with display names, in one round trip.
-- KEYS[1]: the board; KEYS[2]: the names hash. ARGV: start and stop ranks.
-- Returns the board's size, then member, score and name (or nil) per row.
local rows = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local out = { redis.call('ZCARD', KEYS[1]) }
for i = 1, #rows, 2 do
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], rows[i])
end
return out
