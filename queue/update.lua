-- update: KEYS[1] cfg, KEYS[2] st; ARGV[1] key TTL ms, ARGV[2..] field,
-- value pairs. Switching the room to random mode, or reopening a closed
-- room, asks the next admission step to shuffle the waiting visitors once
-- (the admission step checks that a reopened room is in random mode).
for i = 2, #ARGV, 2 do
  local f, val = ARGV[i], ARGV[i + 1]
  local old = redis.call("HGET", KEYS[1], f)
  redis.call("HSET", KEYS[1], f, val)
  if f == "mode" and val == "random" and old ~= "random" then
    redis.call("HSET", KEYS[2], "shuf", "1")
    redis.call("HINCRBY", KEYS[2], "gen", 1)
  end
  if f == "closed" and val == "0" and old == "1" then redis.call("HSET", KEYS[2], "reop", "1") end
end
redis.call("PEXPIRE", KEYS[1], ARGV[1])
redis.call("PEXPIRE", KEYS[2], ARGV[1])
return 1
