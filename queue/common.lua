-- Shared prelude, prepended to every room script.
--
-- KEYS: 1 line (LIST of visitor ids in ticket order)
--       2 vis (HASH visitor -> "ticket:lastseen_s" or "ticket:lastseen_s:client";
--         ticket 0 = not numbered yet; client: the visitor's place counts
--         against that client's record in cli)
--       3 pre (ZSET visitor -> order score; pre-queue and pending shuffles)
--       4 active (ZSET visitor -> end of admission or session, ms)
--       5 st (HASH next (last ticket), front, tat, adm, abd, pseq, shuf, reop)
--       6 cfg (HASH of live overrides: apm max ttl abandon mode opens paused closed)
--       7 rate (HASH ring: sec%60 -> "sec:count", admissions per second)
--       8 ses (HASH visitor -> session id of a visitor who entered; beside act)
--       9 cli (HASH client -> "held:tat:kept", see client_get)
--       10 due (HASH visitor -> ms by which the toll of their place must be paid)
--       11 rec (ZSET visitor -> ticket: places given back against a receipt
--          of the epoch before, see recovered)
--       12 the operation's own key, when it has one (join: the spent toll
--          solution; revoke and confirm: the revoked session)
-- ARGV: 1 now in ms ("" = Redis TIME)
--       2..9 the file's values: apm, max, ttl ms, abandon ms, mode, opens ms (0 = none), paused, closed
--       10 admit window ms, 11 key TTL ms
--       12..16 the file's values: places per client per minute (0 = no limit),
--       places held per client (0 = no limit), toll (1 on), toll difficulty,
--       bind passes to the client's network (1 on)
--       17 the line epoch the caller knows ("" = none yet), 18 a fresh random
--       epoch, used when the room has none, 19 what the caller last read of
--       the room in the epoch it knows ("active:hold ms:adm:abd:refused:tolls",
--       "" = nothing), recorded when Redis turns out to hold another epoch
--       OP.. the operation's own arguments
local K_LINE, K_VIS, K_PRE, K_ACTIVE, K_ST, K_CFG, K_RATE, K_SES =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_CLI, K_DUE, K_REC = KEYS[9], KEYS[10], KEYS[11]
local OP = 20

-- Numbers are handed to Redis as strings formatted here, so large
-- millisecond values never turn into exponent notation.
local function I(x) return string.format("%.0f", x) end

local function clock()
  if ARGV[1] ~= "" then return tonumber(ARGV[1]) end
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function config()
  local o = redis.call("HMGET", K_CFG, "apm", "max", "ttl", "abandon", "mode", "opens", "paused", "closed",
    "cpm", "chd", "toll", "tolld", "bind")
  return {
    apm = tonumber(o[1] or ARGV[2]),
    max = tonumber(o[2] or ARGV[3]),
    ttl = tonumber(o[3] or ARGV[4]),
    abandon = tonumber(o[4] or ARGV[5]),
    mode = o[5] or ARGV[6],
    opens = tonumber(o[6] or ARGV[7]),
    paused = (o[7] or ARGV[8]) == "1",
    closed = (o[8] or ARGV[9]) == "1",
    cpm = tonumber(o[9] or ARGV[12]),
    chd = tonumber(o[10] or ARGV[13]),
    toll = (o[11] or ARGV[14]) == "1",
    tolld = tonumber(o[12] or ARGV[15]),
    bind = (o[13] or ARGV[16]) == "1",
  }
end

-- The line epoch. A room's state lives in Redis only: a Redis that
-- restarts empty, or a replica promoted before it caught up, forgets the
-- line, the active sessions and the totals, and nothing in the keys left
-- says so. So the first script that touches a room's state gives it an
-- epoch, a random id kept in st (field ep, with its start in ept) that
-- lives and dies with the room's keys; every reply carries it, and a caller
-- that sees another epoch than the one it knew knows the store forgot.
--
-- A caller that knew an earlier epoch (ARGV[17]) tells the new one what it
-- last read of the room before (ARGV[19]), once per caller, kept as the
-- larger of what every caller says: the epoch it follows (prev), when that
-- was noticed (lat), the lost totals (ladm, labd, lref, ltol, lact), and
-- the slots of the sessions that were live then (hold, until holdu): their
-- passes still work by their signature alone, so admission counts those
-- slots as taken until the sessions come back (back counts them: see
-- confirm.lua) or their passes have expired.
--
-- When that caller also made the new epoch (nothing was placed in it yet),
-- the tickets of the line it last read are kept for their holders: the new
-- epoch numbers from the old last ticket on, its front starts at the old
-- front, and for a recovery window (abandon_after + 5 s) a visitor who
-- shows the gateway's receipt of their old ticket (join: recovered) gets
-- that ticket back, ahead of everyone who first arrived after the loss
-- (rlo..rhi: the tickets kept, until recu). For the first RECOVERY_GRACE
-- ms (until rgr) admission takes only places given back, so the holders a
-- socket or a poll brings back within seconds are not overtaken by
-- newcomers; a holder who comes back later goes next (see ahead).
local EPOCH = ""
local RECOVERY_GRACE = 5000

local function max_field(f, v)
  if tonumber(redis.call("HGET", K_ST, f) or "0") < v then redis.call("HSET", K_ST, f, I(v)) end
end

-- epoch_init makes or checks the room's epoch (pre: its st field "ep" as
-- the caller already read it, nil to read it here) and returns it, and
-- whether it changed anything in st.
local function epoch_init(now, pre)
  local ep = pre
  if ep == nil then ep = redis.call("HGET", K_ST, "ep") end
  local fresh = not ep
  local changed = fresh
  if not ep then
    ep = ARGV[18]
    redis.call("HSET", K_ST, "ep", ep, "ept", I(now))
    local ttl = tonumber(ARGV[11])
    local o = tonumber(ARGV[7])
    if o > now then ttl = ttl + (o - now) end
    redis.call("PEXPIRE", K_ST, I(ttl))
  end
  local known = ARGV[17]
  if known ~= "" and known ~= ep then
    changed = true
    redis.call("HSETNX", K_ST, "prev", known)
    redis.call("HSETNX", K_ST, "lat", I(now))
    local act, hold, adm, abd, ref, tol, fr, nx =
      string.match(ARGV[19], "^(%d+):(%d+):(%d+):(%d+):(%d+):(%d+):(%d+):(%d+)$")
    if act then
      fr, nx = tonumber(fr), tonumber(nx)
      if fresh and nx >= fr and fr >= 1 then
        redis.call("HSET", K_ST, "next", I(nx), "front", I(fr), "rlo", I(fr), "rhi", I(nx),
          "recu", I(now + tonumber(ARGV[5]) + 5000), "rgr", I(now + RECOVERY_GRACE))
      end
      max_field("lact", tonumber(act))
      max_field("ladm", tonumber(adm))
      max_field("labd", tonumber(abd))
      max_field("lref", tonumber(ref))
      max_field("ltol", tonumber(tol))
      if tonumber(act) > 0 then
        max_field("hold", tonumber(act))
        max_field("holdu", now + tonumber(hold))
      end
    end
  end
  EPOCH = ep
  return ep, changed
end

-- held is how many slots are still held for sessions of an earlier epoch
-- that have not come back (0 once their passes have all expired).
local function held(now)
  local v = redis.call("HMGET", K_ST, "hold", "holdu", "back")
  local h = tonumber(v[1] or "0")
  if h <= 0 or tonumber(v[2] or "0") <= now then return 0 end
  h = h - tonumber(v[3] or "0")
  if h < 0 then h = 0 end
  return h
end

local function is_open(c, now) return c.opens == 0 or now >= c.opens end

local function room_state(c, now)
  if c.closed then return "closed" end
  if c.paused then return "paused" end
  if not is_open(c, now) then return "prequeue" end
  return "queued"
end

-- parse splits a vis value into ticket, last-seen second and client ("":
-- none counted).
local function parse(h)
  local t, s, client = string.match(h, "^(%d+):(%d+):?(.*)$")
  return tonumber(t), tonumber(s), client or ""
end

-- vis is the vis value of ticket t, last seen at second s, of client.
local function vis(t, s, client)
  if client == "" then return I(t) .. ":" .. I(s) end
  return I(t) .. ":" .. I(s) .. ":" .. client
end

local function stnum(field)
  return tonumber(redis.call("HGET", K_ST, field) or "0")
end

-- front is the ticket of the visitor at the head of the line (tickets
-- start at 1); "next" in st is the last ticket handed out.
local function front()
  return tonumber(redis.call("HGET", K_ST, "front") or "1")
end

-- active_count drops ended admissions and sessions (with their session
-- ids), then counts the rest: O(log n + ended), never a scan.
local function active_count(now)
  while true do
    local gone = redis.call("ZRANGEBYSCORE", K_ACTIVE, "-inf", I(now), "LIMIT", 0, 500)
    if #gone == 0 then break end
    redis.call("HDEL", K_SES, unpack(gone))
    redis.call("ZREM", K_ACTIVE, unpack(gone))
    if #gone < 500 then break end
  end
  return redis.call("ZCARD", K_ACTIVE)
end

-- admit_visitor gives v an admission window that ends at until_ (ms, as a
-- formatted string). A new admission is a new session: any session id
-- left from an earlier one is dropped, so Enter makes a fresh one.
local function admit_visitor(v, until_)
  redis.call("ZADD", K_ACTIVE, until_, v)
  redis.call("HDEL", K_SES, v)
end

-- Per-client limits. A client is the network a visitor comes from (an
-- IPv4 address, an IPv6 /64), as the gateway names it. Its record in cli
-- is "held:tat:kept": the places its visitors hold in the line (given back
-- when they leave it at the front: admitted or skipped), the theoretical
-- arrival time (ms) of its next new place — a generic cell rate algorithm,
-- like the room's own admission rate, with a burst of half a minute's
-- worth, so a venue's Wi-Fi or a carrier's NAT whose users all press "Buy"
-- at 10:00 are let in together — and how many of its places are kept for
-- their toll. One field, so a join reads and writes it once.

local function client_get(client)
  local r = redis.call("HGET", K_CLI, client)
  if r then
    local h, tat, k = string.match(r, "^(%d+):([%d%.]+):(%d+)$")
    if h then return {held = tonumber(h), tat = tonumber(tat), kept = tonumber(k)} end
  end
  return {held = 0, tat = 0, kept = 0}
end

local function client_put(client, r, now)
  if r.held <= 0 and r.kept <= 0 and r.tat <= now then
    redis.call("HDEL", K_CLI, client)
    return
  end
  redis.call("HSET", K_CLI, client,
    I(math.max(r.held, 0)) .. ":" .. I(r.tat) .. ":" .. I(math.max(r.kept, 0)))
end

-- client_refusal says why client may not take a new place now ("rate" or
-- "held") and when to try again (ms from now), or nil; it changes nothing.
-- It returns the client's record for client_took.
local function client_refusal(c, client, now)
  if client == "" then return nil, 0, nil end
  local r = client_get(client)
  if c.chd > 0 and r.held >= c.chd then return "held", 5000, r end
  if c.cpm > 0 then
    local T = 60000 / c.cpm
    local burst = math.max(math.ceil(c.cpm / 2), 1)
    local wait = math.max(r.tat, now) - (now + (burst - 1) * T)
    if wait > 0 then return "rate", math.ceil(wait), r end
  end
  return nil, 0, r
end

-- client_took counts a new place taken by one of client's visitors: in the
-- line (held: the visitor's vis value names the client), and kept for its
-- toll (kept). r is client_refusal's record.
local function client_took(c, client, r, now, held, kept)
  if client == "" then return end
  if c.cpm > 0 then r.tat = math.max(r.tat, now) + 60000 / c.cpm end
  if held then r.held = r.held + 1 end
  if kept then r.kept = r.kept + 1 end
  client_put(client, r, now)
end

-- client_left gives back the place v held (admitted, skipped, or lost) to
-- its client (from v's vis value), and stops waiting for its toll.
local function client_left(v, client, now)
  local kept = redis.call("HDEL", K_DUE, v) == 1
  if client == "" then return end
  local r = client_get(client)
  r.held = r.held - 1
  if kept then r.kept = r.kept - 1 end
  client_put(client, r, now)
end

-- toll_paid stops waiting for v's toll (paid, or the toll was lifted): the
-- place counts from now.
local function toll_paid(v, client, now)
  if redis.call("HDEL", K_DUE, v) == 0 or client == "" then return end
  local r = client_get(client)
  r.kept = r.kept - 1
  client_put(client, r, now)
end

-- prune_clients drops up to n records that hold nothing and whose pacing
-- is in the past (their client may take a full burst again anyway),
-- walking the hash a little per call so a long sale's many clients do not
-- pile up.
local function prune_clients(now, n)
  local cur = redis.call("HGET", K_ST, "ccur") or "0"
  local res = redis.call("HSCAN", K_CLI, cur, "COUNT", n)
  for i = 1, #res[2], 2 do
    local h, tat, k = string.match(res[2][i + 1], "^(%d+):([%d%.]+):(%d+)$")
    if not h or (tonumber(h) <= 0 and tonumber(k) <= 0 and tonumber(tat) < now) then
      redis.call("HDEL", K_CLI, res[2][i])
    end
  end
  redis.call("HSET", K_ST, "ccur", res[1])
end

-- tokens is the generic cell rate algorithm: tat is the theoretical arrival
-- time of the next admission; the burst is one second's worth plus one,
-- so callers stepping at least once a second lose nothing to rounding
-- (whole visitors are admitted while the credit accrues in fractions).
-- It returns how many may be admitted now, the tat to build on and the
-- emission interval.
local function tokens(c, now)
  if c.apm <= 0 then return 0, now, 0 end
  local T = 60000 / c.apm
  local burst = math.ceil(c.apm / 60) + 1
  local tat = tonumber(redis.call("HGET", K_ST, "tat") or "0")
  if tat < now then tat = now end
  -- a debt run up at a lower rate is forgiven down to one burst, so a
  -- raised rate applies within a second
  if tat > now + burst * T then
    tat = now + burst * T
    redis.call("HSET", K_ST, "tat", string.format("%.3f", tat))
  end
  -- now - tat is exact (close values); adding them up first is not
  local n = math.floor(burst + (now - tat) / T + 1e-6)
  if n < 0 then n = 0 end
  return n, tat, T
end

-- count_admissions adds n to the current second's bucket of the ring.
local function count_admissions(now, n)
  if n <= 0 then return end
  local s = math.floor(now / 1000)
  local f = tostring(s % 60)
  local cur = redis.call("HGET", K_RATE, f)
  local count = n
  if cur then
    local cs, cn = string.match(cur, "^(%d+):(%d+)$")
    if tonumber(cs) == s then count = count + tonumber(cn) end
  end
  redis.call("HSET", K_RATE, f, I(s) .. ":" .. I(count))
end

-- achieved is the admissions per minute over the last minute, scaled to
-- the part of the minute since the first admission in it (at least 10 s),
-- so a line that started admitting seconds ago shows its real pace.
-- Returned in thousandths, with the span in seconds it was measured over.
local function achieved(now)
  local s = math.floor(now / 1000)
  local all = redis.call("HGETALL", K_RATE)
  local sum, oldest = 0, s
  for i = 2, #all, 2 do
    local cs, cn = string.match(all[i], "^(%d+):(%d+)$")
    cs = tonumber(cs)
    if cs and cs > s - 60 and cs <= s then
      sum = sum + tonumber(cn)
      if cs < oldest then oldest = cs end
    end
  end
  if sum == 0 then return 0, 0 end
  local span = s - oldest + 1
  if span < 10 then span = 10 end
  return math.floor(sum * 60000 / span), span
end

-- eta_rate is the basis of a waiting visitor's ETA, per minute in
-- thousandths: the configured rate (live changes included), or the rate
-- actually achieved when that was measured over 30 s or more and is lower
-- (max_active full, an origin slow to take its visitors). Never the
-- achieved rate above the configured one: after the operator lowers the
-- rate, the last minute's pace is no promise. The admission step caches
-- the achieved rate in st (it runs a few times a second), so a status read
-- stays O(1); a cache older than 5 s (nobody admitting) is ignored.
local function eta_rate_of(c, now, ar, as, at)
  local conf = c.apm * 1000
  if tonumber(at or "0") > now - 5000 and tonumber(as or "0") >= 30 and tonumber(ar) < conf then
    return tonumber(ar)
  end
  return conf
end

local function eta_rate(c, now)
  local v = redis.call("HMGET", K_ST, "ar", "as", "at")
  return eta_rate_of(c, now, v[1], v[2], v[3])
end

-- waiting counts the places that count: a place whose toll is still being
-- paid (or was not, and waits to be dropped at the front) does not.
local function waiting()
  local n = redis.call("LLEN", K_LINE) + redis.call("ZCARD", K_PRE) + redis.call("ZCARD", K_REC)
    - redis.call("HLEN", K_DUE)
  if n < 0 then n = 0 end
  return n
end

-- The toll keeps a new visitor's place while they pay it: the place is
-- taken at arrival, in arrival order, and counts once paid. toll_grace is
-- how long that may take (ms): three times the expected time on a
-- mid-range phone (the number is uniform, so twice covers the worst case
-- there, and the rest a slower phone) plus two seconds of round trips.
-- A place not paid by then is dropped at the front.
local function toll_grace(c)
  return 3 * c.tolld + 2000
end

-- A client may have TOLL_KEPT places kept for their toll at once (its
-- record's kept): beyond that its new visitors pay first and take their
-- place when they have paid. A crowd behind one address (a venue's Wi-Fi)
-- still gets in, a little later than in arrival order; a script reserving
-- early places by the hundred from a few addresses does not.
local TOLL_KEPT = 2

-- keep_for_toll keeps v's new place until its toll is due, and returns when.
local function keep_for_toll(c, v, now)
  local from = now
  if c.opens > now then from = c.opens end -- in the pre-queue: due by the opening
  local due = from + toll_grace(c)
  redis.call("HSET", K_DUE, v, I(due))
  return due
end

-- toll_due is when v's toll must be paid by, or nil when v's place counts
-- (paid, or the room no longer asks a toll).
local function toll_due(c, v)
  if not c.toll then return nil end
  local d = redis.call("HGET", K_DUE, v)
  return d and tonumber(d)
end

-- touch gives the room's keys (all of them, or those listed) a TTL, so a
-- room nobody uses any more leaves nothing behind; a pre-queue lives until
-- its opening plus the TTL.
local function touch(c, now, keys)
  local ttl = tonumber(ARGV[11])
  if c.opens > now then ttl = ttl + (c.opens - now) end
  ttl = I(ttl)
  for _, k in ipairs(keys or KEYS) do redis.call("PEXPIRE", k, ttl) end
end

-- ahead counts the places given back against receipts whose ticket the
-- front has passed (their holders came back late): they are next, ahead of
-- every numbered place, so a ticket t at or behind the front is at
-- position t - front + 1 + ahead.
local function ahead(fr)
  return redis.call("ZCOUNT", K_REC, "-inf", "(" .. I(fr))
end

-- place_of is the position of ticket t of visitor v.
local function place_of(v, t)
  local fr = front()
  if t < fr then
    -- a place given back behind the front: by its rank among those
    local s = redis.call("ZSCORE", K_REC, v)
    if s then return redis.call("ZCOUNT", K_REC, "-inf", "(" .. I(t)) + 1 end
  end
  return t - fr + 1 + ahead(fr)
end

-- status_of is a visitor's status: {state, ticket, position, waiting, apm,
-- opens, until, eta rate, gen}; gen counts the line's reshuffles, so a
-- caller knows which numbering the ticket belongs to.
local function status_of(c, now, v)
  local w = waiting()
  local gen = stnum("gen")
  local h = redis.call("HGET", K_VIS, v)
  if h then
    local t = parse(h)
    local due = toll_due(c, v)
    local pos
    if t > 0 and redis.call("HGET", K_ST, "shuf") == "1" then
      -- The line is being reshuffled (random mode switched on, or a
      -- random room reopened): this place is void and the new one not
      -- drawn yet. Unknown until the next admission steps number it.
      t, pos = 0, 0
    elseif t > 0 then
      pos = place_of(v, t)
    elseif is_open(c, now) then
      -- numbered soon: behind the numbered line, in order of score
      local r = redis.call("ZRANK", K_PRE, v)
      pos = redis.call("LLEN", K_LINE) + redis.call("ZCARD", K_REC) + (r or 0) + 1
    else
      pos = 0
    end
    -- A place kept at the front while its toll was paid keeps its number
    -- after the front moved past it: it is at the head of the line.
    if t > 0 and pos < 1 then pos = 1 end
    if due then
      -- A place kept for its toll: the visitor sees it, and pays to keep
      -- it (a place past its time is gone: "none" makes the caller join).
      if due < now then return {"none", 0, 0, w, c.apm, c.opens, 0, 0, gen} end
      return {"toll", t, pos, w, c.apm, c.opens, due, eta_rate(c, now), gen, "", c.tolld}
    end
    return {room_state(c, now), t, pos, w, c.apm, c.opens, 0, eta_rate(c, now), gen}
  end
  local e = redis.call("ZSCORE", K_ACTIVE, v)
  if e and tonumber(e) > now then
    return {"admitted", 0, 0, w, c.apm, c.opens, tonumber(e), 0, gen}
  end
  return {"none", 0, 0, w, c.apm, c.opens, 0, 0, gen}
end

-- reply completes a reply of join or status to its full length:
-- {state, ticket, position, waiting, apm, opens, until, eta rate, gen,
-- reason, toll difficulty, epoch}.
local function reply(r)
  if #r < 10 then r[10] = "" end
  if #r < 11 then r[11] = 0 end
  r[12] = EPOCH
  return r
end

-- visitor_status is the reply of join and status (see reply).
local function visitor_status(c, now, v)
  return reply(status_of(c, now, v))
end
