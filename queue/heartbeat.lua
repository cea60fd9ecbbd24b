-- heartbeat: KEYS[1] vis; ARGV[1] now in ms ("" = Redis TIME), ARGV[2..]
-- visitors. Marks waiting visitors as still there (the last-seen second of
-- their vis value; see common.lua); others are ignored.
local now
if ARGV[1] ~= "" then
  now = tonumber(ARGV[1])
else
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000
end
local sec = string.format("%.0f", math.floor(now / 1000))
for i = 2, #ARGV do
  local h = redis.call("HGET", KEYS[1], ARGV[i])
  if h then
    local t, client = string.match(h, "^(%d+):%d+(.*)$")
    redis.call("HSET", KEYS[1], ARGV[i], t .. ":" .. sec .. client)
  end
end
return #ARGV - 1
