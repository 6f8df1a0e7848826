-- Applies leaderboard increments atomically, one board key at a time.
-- KEYS[1]: the processing counter; KEYS[2..]: the board keys changed.
-- ARGV[1]: the number of increments. Then per board key, in KEYS order:
-- its number of members n and expire-at (unix seconds, 0 = never), then
-- n triples of member, delta and order (1-based, over all increments).
-- A score is stored as points * 2^30 + (2^30 - 1 - seq), so that among equal
-- points whoever reached them first (lower seq) sorts higher. The counter
-- moves once per call, by the number of increments: the increment of order
-- j gets the j-th number of that run. A member appears once per key.
local SHIFT = 1073741824
local CHUNK = 1000
local total = tonumber(ARGV[1])
local first = redis.call('INCRBY', KEYS[1], total) - total
local at = 2
for i = 2, #KEYS do
  local key = KEYS[i]
  local n = tonumber(ARGV[at])
  local expire_at = tonumber(ARGV[at + 1])
  at = at + 2
  local added = false
  for from = 0, n - 1, CHUNK do
    local count = math.min(CHUNK, n - from)
    local members = {}
    for j = 1, count do
      members[j] = ARGV[at + (from + j - 1) * 3]
    end
    local old = redis.call('ZMSCORE', key, unpack(members))
    local add, remove = {}, {}
    for j = 1, count do
      local base = at + (from + j - 1) * 3
      local points = tonumber(ARGV[base + 1])
      if old[j] then
        points = points + math.floor(tonumber(old[j]) / SHIFT)
      end
      if points > 0 then
        local seq = (first + tonumber(ARGV[base + 2])) % SHIFT
        add[#add + 1] = points * SHIFT + (SHIFT - 1 - seq)
        add[#add + 1] = members[j]
      else
        remove[#remove + 1] = members[j]
      end
    end
    if #add > 0 then
      redis.call('ZADD', key, unpack(add))
      added = true
    end
    if #remove > 0 then
      redis.call('ZREM', key, unpack(remove))
    end
  end
  if added and expire_at > 0 then
    redis.call('EXPIREAT', key, expire_at)
  end
  at = at + n * 3
end
return total
