-- session: ARGV[12] visitor. Enter and renew: a visitor holding a live
-- admission or session gets SessionTTL from now. Reply: the new end in ms,
-- or 0 when the visitor holds nothing live.
local now = clock()
local c = config()
local v = ARGV[12]
local e = redis.call("ZSCORE", K_ACTIVE, v)
if not e or tonumber(e) <= now then
  if e then redis.call("ZREM", K_ACTIVE, v) end
  return 0
end
local until_ = now + c.ttl
redis.call("ZADD", K_ACTIVE, I(until_), v)
return until_
