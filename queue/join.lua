-- join: ARGV[12] visitor, ARGV[13] random pre-queue score in [0, 2^52).
-- Idempotent: a visitor already waiting keeps their place (the call is a
-- heartbeat); one already admitted stays admitted.
local now = clock()
local c = config()
local v = ARGV[12]
local sec = math.floor(now / 1000)

local h = redis.call("HGET", K_VIS, v)
if h then
  local t = parse(h)
  redis.call("HSET", K_VIS, v, I(t) .. ":" .. I(sec))
  return visitor_status(c, now, v)
end
local e = redis.call("ZSCORE", K_ACTIVE, v)
if e and tonumber(e) > now then
  return visitor_status(c, now, v)
end

local open = is_open(c, now)
local pending = redis.call("ZCARD", K_PRE) > 0 or redis.call("HGET", K_ST, "shuf") == "1"

-- Nobody waiting, room open and below max_active, rate allows one: in now.
if open and not pending and not c.paused and not c.closed and redis.call("LLEN", K_LINE) == 0 then
  local n, tat, T = tokens(c, now)
  if n >= 1 and active_count(now) < c.max then
    local until_ = now + tonumber(ARGV[10])
    admit_visitor(v, I(until_))
    redis.call("HSET", K_ST, "tat", string.format("%.3f", tat + T))
    redis.call("HINCRBY", K_ST, "adm", 1)
    count_admissions(now, 1)
    touch(c, now, {K_ACTIVE, K_ST, K_RATE, K_SES})
    return {"admitted", 0, 0, 0, c.apm, c.opens, until_, 0, stnum("gen")}
  end
end

if not open then
  -- pre-queue: order by a random score, shuffled once at opening
  redis.call("ZADD", K_PRE, ARGV[13], v)
  redis.call("HSET", K_VIS, v, "0:" .. I(sec))
elseif pending then
  -- the opening shuffle is still being numbered: FIFO behind it
  local seq = redis.call("HINCRBY", K_ST, "pseq", 1)
  redis.call("ZADD", K_PRE, I(4503599627370496 + seq), v)
  redis.call("HSET", K_VIS, v, "0:" .. I(sec))
else
  local t = redis.call("HINCRBY", K_ST, "next", 1)
  redis.call("RPUSH", K_LINE, v)
  redis.call("HSET", K_VIS, v, I(t) .. ":" .. I(sec))
end
touch(c, now, {K_LINE, K_VIS, K_PRE, K_ST})
return visitor_status(c, now, v)
