-- admit: ARGV[OP] manual count (0 = admit by rate), ARGV[OP + 1] shuffle seed in
-- [1, 2^31-2], ARGV[OP + 2] batch size (visitors moved or numbered per call).
-- Reply: {skipped, moved, epoch, id, id, ...}: abandoned visitors skipped,
-- visitors moved or numbered, the line epoch, the visitors admitted.
local now = clock()
local c = config()
epoch_init(now)
local manual = tonumber(ARGV[OP])
local batch = tonumber(ARGV[OP + 2])
local sec = math.floor(now / 1000)

-- 1. A room reopened in random mode, or switched to random, shuffles the
-- visitors waiting at that moment: they move from the line back into the
-- pre-queue set under random scores, one batch per call. Until that is done
-- nobody is admitted, so no one overtakes the shuffle.
if redis.call("HGET", K_ST, "reop") == "1" then
  redis.call("HDEL", K_ST, "reop")
  if c.mode == "random" then
    redis.call("HSET", K_ST, "shuf", "1")
    redis.call("HINCRBY", K_ST, "gen", 1)
  end
end
if redis.call("HGET", K_ST, "shuf") == "1" then
  -- Park-Miller minimal standard generator seeded from crypto/rand: two
  -- draws make a 52-bit score (products stay below 2^53, so exact).
  local x = tonumber(ARGV[OP + 1])
  local function draw()
    x = (x * 48271) % 2147483647
    return x
  end
  local moved = 0
  while moved < batch do
    local ids = redis.call("LPOP", K_LINE, math.min(500, batch - moved))
    if not ids or #ids == 0 then break end
    moved = moved + #ids
    local hs = redis.call("HMGET", K_VIS, unpack(ids))
    local zadd, hset, last = {}, {}, nil
    for k, v in ipairs(ids) do
      if hs[k] then
        local t, s, client = parse(hs[k])
        last = t
        zadd[#zadd + 1] = I(draw() * 2097152 + math.floor(draw() / 1024))
        zadd[#zadd + 1] = v
        hset[#hset + 1] = v
        hset[#hset + 1] = vis(0, s, client)
      end
    end
    if #zadd > 0 then
      redis.call("ZADD", K_PRE, unpack(zadd))
      redis.call("HSET", K_VIS, unpack(hset))
    end
    if last then redis.call("HSET", K_ST, "front", I(last + 1)) end
  end
  if redis.call("LLEN", K_LINE) == 0 then redis.call("HDEL", K_ST, "shuf") end
  touch(c, now)
  return {0, moved, EPOCH}
end

if not is_open(c, now) then return {0, 0, EPOCH} end

-- 2. After opening, the pre-queue set is numbered in score order, one batch
-- per call, behind whoever is already numbered.
local numbered = 0
if redis.call("ZCARD", K_PRE) > 0 then
  local popped = redis.call("ZPOPMIN", K_PRE, batch)
  local i = 1
  while i <= #popped do
    -- 500 at a time: a few calls per chunk instead of four per visitor
    local ids = {}
    while i <= #popped and #ids < 500 do
      ids[#ids + 1] = popped[i]
      i = i + 2
    end
    local hs = redis.call("HMGET", K_VIS, unpack(ids))
    local valid = 0
    for k = 1, #ids do if hs[k] then valid = valid + 1 end end
    if valid > 0 then
      local t = redis.call("HINCRBY", K_ST, "next", valid) - valid
      local line, hset = {}, {}
      for k, v in ipairs(ids) do
        if hs[k] then
          local _, s, client = parse(hs[k])
          t = t + 1
          line[#line + 1] = v
          hset[#hset + 1] = v
          hset[#hset + 1] = vis(t, s, client)
        end
      end
      redis.call("RPUSH", K_LINE, unpack(line))
      redis.call("HSET", K_VIS, unpack(hset))
      numbered = numbered + valid
    end
  end
end

-- 3. Admission from the front, in ticket order.
if c.closed or (c.paused and manual == 0) then
  if numbered > 0 then touch(c, now) end
  return {0, numbered, EPOCH}
end
-- (slots held for the sessions of an earlier epoch count as taken)
local free = c.max - active_count(now) - held(now)
local limit, tat, T
if manual > 0 then
  limit = manual
else
  limit, tat, T = tokens(c, now)
end
if free < limit then limit = free end
if limit > 10000 then limit = 10000 end

local out = {0, numbered, EPOCH}
local admitted, skipped, last = 0, 0, nil
local until_ = I(now + tonumber(ARGV[10]))
local abandon_s = c.abandon / 1000
-- Places still within their toll's time stay at the head, in order, and
-- the next paid places go first; a place whose time ran out is dropped.
local tolls = redis.call("HLEN", K_DUE) > 0
local kept = {}
-- Places given back against receipts come first, in ticket order: their
-- tickets are all below those of anyone who first arrived after the loss,
-- who wait for the recovery's grace to end (see epoch_init).
local recs = redis.call("ZCARD", K_REC) > 0
local grace = tonumber(redis.call("HGET", K_ST, "rgr") or "0") > now
while admitted < limit and skipped + #kept < batch do
  local v
  if recs then
    local p = redis.call("ZPOPMIN", K_REC)
    if #p > 0 then v = p[1] else recs = false end
  end
  if not v and grace then break end
  if not v then v = redis.call("LPOP", K_LINE) end
  if not v then break end
  local h = redis.call("HGET", K_VIS, v)
  local due = tolls and redis.call("HGET", K_DUE, v)
  local t, s, client = 0, 0, ""
  if h then t, s, client = parse(h) end
  if t > 0 then last = t end
  if h and due and c.toll and tonumber(due) >= now then
    kept[#kept + 1] = v
  else
    redis.call("HDEL", K_VIS, v)
    client_left(v, client, now)
    if not h or sec - s > abandon_s or (due and c.toll) then
      skipped = skipped + 1
    else
      admit_visitor(v, until_)
      admitted = admitted + 1
      out[#out + 1] = v
    end
  end
end
for i = #kept, 1, -1 do redis.call("LPUSH", K_LINE, kept[i]) end
out[1] = skipped
-- (kept places, popped and pushed back, can be behind the front: it
-- never moves back for them)
if last and last + 1 > front() then redis.call("HSET", K_ST, "front", I(last + 1)) end
if admitted > 0 then
  redis.call("HINCRBY", K_ST, "adm", admitted)
  count_admissions(now, admitted)
  if manual == 0 then
    redis.call("HSET", K_ST, "tat", string.format("%.3f", tat + admitted * T))
  end
end
if skipped > 0 then redis.call("HINCRBY", K_ST, "abd", skipped) end
-- refresh the cached achieved rate after admitting, and at least once a
-- second while nobody is admitted (the minute slides on)
local cached = tonumber(redis.call("HGET", K_ST, "at") or "0")
if admitted > 0 or now - cached >= 1000 or now < cached then
  local ar, span = achieved(now)
  redis.call("HSET", K_ST, "ar", I(ar), "as", I(span), "at", I(now))
end
prune_clients(now, 50)
touch(c, now)
return out
