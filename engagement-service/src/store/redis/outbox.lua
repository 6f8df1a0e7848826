-- The outbox's moves (see outbox.rs). Every key shares the deployment's
-- hash tag; queue lists are named from ARGV under that tag.
-- Time is Redis's own (TIME): workers' clocks may differ, leases may not.
-- ARGV[1]: the move. Then, by move:
--   claim   KEYS due, outbox, leases, pending. ARGV lease (ms), limit,
--           queue prefix, token. Returns queue, record pairs, each queue's
--           oldest delivery, and leases each queue to `token`.
--   settle  KEYS due, outbox, pending, settled-set, queue list, leases.
--           ARGV id, queue, record, status, next (ms), keep, token.
--           -1 when the lease is no longer the caller's: nothing written.
--   retry   KEYS outbox, failed, pending, due, queue list, disabled.
--           ARGV id, record, queue, channel. 0 when not failed.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local move = ARGV[1]
if move == 'claim' then
  local now = now_ms()
  local lease, limit, prefix, token = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
  local out = {}
  for _, q in ipairs(due) do
    local head = redis.call('LINDEX', prefix .. q, 0)
    local record = head and redis.call('HGET', KEYS[2], head)
    if record then
      redis.call('ZADD', KEYS[1], now + lease, q)
      redis.call('HSET', KEYS[3], q, token)
      out[#out + 1] = q
      out[#out + 1] = record
    elseif head then
      -- A record no longer kept: the queue moves on.
      redis.call('LPOP', prefix .. q)
      redis.call('ZREM', KEYS[4], head)
      redis.call('ZADD', KEYS[1], now, q)
    else
      redis.call('ZREM', KEYS[1], q)
      redis.call('HDEL', KEYS[3], q)
    end
  end
  return out
elseif move == 'settle' then
  local id, q, record, status = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
  local next_, keep, token = ARGV[6], tonumber(ARGV[7]), ARGV[8]
  if redis.call('HGET', KEYS[6], q) ~= token then
    return -1
  end
  redis.call('HDEL', KEYS[6], q)
  redis.call('HSET', KEYS[2], id, record)
  if status == 'pending' then
    redis.call('ZADD', KEYS[1], next_, q)
    return 0
  end
  local now = now_ms()
  if redis.call('LINDEX', KEYS[5], 0) == id then
    redis.call('LPOP', KEYS[5])
  else
    redis.call('LREM', KEYS[5], 1, id)
  end
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[4], now, id)
  local over = redis.call('ZCARD', KEYS[4]) - keep
  if over > 0 then
    local old = redis.call('ZRANGE', KEYS[4], 0, over - 1)
    redis.call('ZREMRANGEBYRANK', KEYS[4], 0, over - 1)
    redis.call('HDEL', KEYS[2], unpack(old))
  end
  if redis.call('LLEN', KEYS[5]) > 0 then
    redis.call('ZADD', KEYS[1], now, q)
  else
    redis.call('ZREM', KEYS[1], q)
  end
  return 1
elseif move == 'retry' then
  local id, record, q, channel = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
  if not redis.call('ZSCORE', KEYS[2], id) then
    return 0
  end
  local now = now_ms()
  redis.call('ZREM', KEYS[2], id)
  redis.call('HSET', KEYS[1], id, record)
  redis.call('ZADD', KEYS[3], now, id)
  redis.call('RPUSH', KEYS[5], id)
  redis.call('ZADD', KEYS[4], 'NX', now, q)
  redis.call('HDEL', KEYS[6], channel)
  return 1
end
return redis.error_reply('unknown outbox move ' .. tostring(move))
