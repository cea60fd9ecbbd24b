-- status: ARGV[OP] visitor. Records a heartbeat for a waiting visitor.
local now = clock()
local c = config()
epoch_init(now)
local v = ARGV[OP]
local h = redis.call("HGET", K_VIS, v)
if h then
  local t, _, client = parse(h)
  redis.call("HSET", K_VIS, v, vis(t, math.floor(now / 1000), client))
end
return visitor_status(c, now, v)
