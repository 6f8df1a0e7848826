-- Members entering the top of a watched board (see rank.rs), run in the
-- ingest transaction around board.lua: 'before' notes each candidate's
-- listed rank, 'after' compares and queues the notifications of those
-- who entered a channel's top.
-- KEYS[1]: a scratch hash; KEYS[2..K+1]: the watched board keys; for
-- 'after' also KEYS[K+2..K+4]: the outbox records, pending ids and due queues.
-- ARGV: move, K, queue-list prefix; per board key its unlisted members
-- (count, then ids); then candidates (count), each: board index, member,
-- records (count), each: top, id, queue, record JSON (rank written as
-- "rank":0), created (ms).
local move = ARGV[1]
local k = tonumber(ARGV[2])
local prefix = ARGV[3]
local at = 4
local unlisted = {}
for j = 1, k do
  local n = tonumber(ARGV[at])
  local members = {}
  for i = 1, n do
    members[ARGV[at + i]] = true
  end
  unlisted[j] = members
  at = at + n + 1
end

-- Scores are points * 2^30 plus an order among equal points (board.lua).
local SHIFT = 1073741824

-- The member's rank among the members the board lists, as its pages show
-- it: one more than the listed members with more points (ties share it).
local function listed_rank(j, member)
  if unlisted[j][member] then
    return nil
  end
  local key = KEYS[1 + j]
  local score = redis.call('ZSCORE', key, member)
  if not score then
    return nil
  end
  local points = math.floor(tonumber(score) / SHIFT)
  local above = redis.call('ZCOUNT', key, (points + 1) * SHIFT, '+inf')
  for u in pairs(unlisted[j]) do
    local s = redis.call('ZSCORE', key, u)
    if s and math.floor(tonumber(s) / SHIFT) > points then
      above = above - 1
    end
  end
  return above + 1
end

local count = tonumber(ARGV[at])
at = at + 1
local queued = 0
for c = 1, count do
  local j = tonumber(ARGV[at])
  local member = ARGV[at + 1]
  local records = tonumber(ARGV[at + 2])
  at = at + 3
  if move == 'before' then
    local r = listed_rank(j, member)
    redis.call('HSET', KEYS[1], c, r or 0)
  else
    local before = tonumber(redis.call('HGET', KEYS[1], c) or '0')
    local after = listed_rank(j, member)
    for i = 0, records - 1 do
      local base = at + i * 5
      local top = tonumber(ARGV[base])
      if after and after <= top and (before == 0 or before > top) then
        local id, queue, record, created = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4]
        record = string.gsub(record, '"rank":0', '"rank":' .. after, 1)
        if redis.call('HSETNX', KEYS[k + 2], id, record) == 1 then
          redis.call('RPUSH', prefix .. queue, id)
          redis.call('ZADD', KEYS[k + 3], created, id)
          redis.call('ZADD', KEYS[k + 4], 'NX', created, queue)
          queued = queued + 1
        end
      end
    end
  end
  at = at + records * 5
end
if move == 'after' then
  redis.call('DEL', KEYS[1])
end
return queued
