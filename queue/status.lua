-- status: ARGV[OP] visitor. Records a heartbeat for a waiting visitor.
local now = clock()
local c = config()
local v = ARGV[OP]
local h = redis.call("HGET", K_VIS, v)
if h then
  local t = parse(h)
  redis.call("HSET", K_VIS, v, I(t) .. ":" .. I(math.floor(now / 1000)))
end
return visitor_status(c, now, v)
