-- heartbeat: KEYS[1] vis; ARGV[1] now in ms ("" = Redis TIME), ARGV[2..]
-- visitors. Marks waiting visitors as still there (the last-seen second of
-- their vis value; see common.lua). Reply: the visitors the line does not
-- hold (admitted, skipped, or forgotten by Redis).
local now
if ARGV[1] ~= "" then
  now = tonumber(ARGV[1])
else
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000
end
local sec = string.format("%.0f", math.floor(now / 1000))
local unknown = {}
for i = 2, #ARGV do
  local h = redis.call("HGET", KEYS[1], ARGV[i])
  if h then
    local t, client = string.match(h, "^(%d+):%d+(.*)$")
    redis.call("HSET", KEYS[1], ARGV[i], t .. ":" .. sec .. client)
  else
    unknown[#unknown + 1] = ARGV[i]
  end
end
return unknown
