-- join: ARGV[OP] visitor, ARGV[OP + 1] random pre-queue score in [0, 2^52),
-- ARGV[OP + 2] the visitor's client (network; "" = not counted),
-- ARGV[OP + 3] the challenge of the verified toll solution the visitor
-- brings ("" = none), spent in the hash KEYS[12], which is kept ARGV[OP + 4]
-- ms (past the challenge's expiry), ARGV[OP + 5] the ticket of a receipt
-- the gateway verified ("0" = none), ARGV[OP + 6] that receipt's epoch.
-- Idempotent: a visitor already waiting keeps their place (the call is a
-- heartbeat); one already admitted stays admitted. Only a new place is
-- counted against the client's limits and, in a room with a toll, costs
-- one: the place is taken now, in arrival order, and counts once the toll
-- is paid, by toll_grace from now (when the client has TOLL_KEPT places
-- kept already, the visitor pays first and is placed then); a visitor
-- whose place counts is never asked again.
local now = clock()
local c = config()
-- The room's state fields a join reads, in one call (again only when the
-- epoch check wrote to st).
local ST = {"ep", "shuf", "front", "gen", "ar", "as", "at", "rgr"}
local st = redis.call("HMGET", K_ST, unpack(ST))
local _, changed = epoch_init(now, st[1])
if changed then st = redis.call("HMGET", K_ST, unpack(ST)) end
local v = ARGV[OP]
local client = ARGV[OP + 2] or ""
local sec = math.floor(now / 1000)

-- spend records the verified solution as spent; false when there is none,
-- or it was spent before.
local function spend()
  if ARGV[OP + 3] == "" or redis.call("HSETNX", KEYS[12], ARGV[OP + 3], "1") == 0 then
    return false
  end
  redis.call("PEXPIRE", KEYS[12], ARGV[OP + 4])
  redis.call("HINCRBY", K_ST, "tolls", 1)
  return true
end

local h = redis.call("HGET", K_VIS, v)
if h then
  local t, _, cl = parse(h)
  local due = toll_due(c, v)
  if due and due < now then
    -- The toll was not paid in time: that place is gone, and the visitor
    -- asks for a new one, at the back (below).
    if t > 0 then redis.call("LREM", K_LINE, 1, v) else redis.call("ZREM", K_PRE, v) end
    redis.call("HDEL", K_VIS, v)
    client_left(v, cl, now)
  else
    if (due and spend()) or not c.toll then toll_paid(v, cl, now) end -- paid, or the toll was lifted
    redis.call("HSET", K_VIS, v, vis(t, sec, cl))
    return visitor_status(c, now, v)
  end
end
local e = redis.call("ZSCORE", K_ACTIVE, v)
if e and tonumber(e) > now then
  return visitor_status(c, now, v)
end

-- A receipt of the epoch before, within the recovery window, of a ticket
-- kept for its holder and not given back before: that ticket again, ahead
-- of everyone who first arrived after the loss. The holder had a place:
-- no limit and no toll apply. Any other receipt gives nothing.
local rt = tonumber(ARGV[OP + 5] or "0") or 0
if rt > 0 then
  local r = redis.call("HMGET", K_ST, "prev", "recu", "rlo", "rhi")
  if r[1] == ARGV[OP + 6] and tonumber(r[2] or "0") > now and rt >= tonumber(r[3] or "0")
    and rt <= tonumber(r[4] or "-1") and redis.call("HSETNX", K_ST, "r" .. I(rt), v) == 1 then
    redis.call("HSET", K_VIS, v, vis(rt, sec, ""))
    redis.call("ZADD", K_REC, I(rt), v)
    redis.call("HINCRBY", K_ST, "recovered", 1)
    touch(c, now, {K_VIS, K_ST, K_REC})
    return visitor_status(c, now, v)
  end
end

-- A new place (or an admission at once). The client's limits first: a
-- refusal takes nothing and spends no toll.
local reason, wait, rec = client_refusal(c, client, now)
if reason then
  redis.call("HINCRBY", K_ST, "refused", 1)
  touch(c, now, {K_ST})
  return reply({"limited", 0, 0, waiting(), c.apm, c.opens, now + wait, 0, stnum("gen"), reason, 0})
end
local paid = not c.toll or spend()
if not paid and rec and rec.kept >= TOLL_KEPT then
  -- Places are kept for this client's tolls already: this visitor pays
  -- first and takes their place then. Nothing is taken.
  return reply({"toll", 0, 0, waiting(), c.apm, c.opens, 0, 0, stnum("gen"), "", c.tolld})
end

local open = is_open(c, now)
local pending = st[2] == "1" or redis.call("ZCARD", K_PRE) > 0
-- places given back after a loss wait ahead, and for the recovery's grace
-- their holders may still come back: nobody is let in past them
local given_back = redis.call("ZCARD", K_REC)
local recovering = given_back > 0 or tonumber(st[8] or "0") > now

-- Paid up, nobody waiting, room open and below max_active, rate allows
-- one: in now.
if paid and open and not pending and not recovering and not c.paused and not c.closed and redis.call("LLEN", K_LINE) == 0 then
  local n, tat, T = tokens(c, now)
  -- (slots held for the sessions of an earlier epoch count as taken)
  if n >= 1 and active_count(now) + held(now) < c.max then
    local until_ = now + tonumber(ARGV[10])
    admit_visitor(v, I(until_))
    client_took(c, client, rec, now, false, false)
    redis.call("HSET", K_ST, "tat", string.format("%.3f", tat + T))
    redis.call("HINCRBY", K_ST, "adm", 1)
    count_admissions(now, 1)
    touch(c, now, {K_ACTIVE, K_ST, K_RATE, K_SES, K_CLI})
    return reply({"admitted", 0, 0, 0, c.apm, c.opens, until_, 0, tonumber(st[4] or "0")})
  end
end

client_took(c, client, rec, now, true, not paid)
local written, due = {K_VIS, K_ST}, 0
if client ~= "" then written[#written + 1] = K_CLI end
if not paid then
  due = keep_for_toll(c, v, now)
  written[#written + 1] = K_DUE
end
if not open or pending then
  if not open then
    -- pre-queue: order by a random score, shuffled once at opening
    redis.call("ZADD", K_PRE, ARGV[OP + 1], v)
  else
    -- the opening shuffle is still being numbered: FIFO behind it
    local seq = redis.call("HINCRBY", K_ST, "pseq", 1)
    redis.call("ZADD", K_PRE, I(4503599627370496 + seq), v)
  end
  redis.call("HSET", K_VIS, v, vis(0, sec, client))
  written[#written + 1] = K_PRE
  touch(c, now, written)
  return visitor_status(c, now, v)
end
-- Numbered at the back of the line: the status is known without asking
-- again (nobody in the pre-queue, nothing being shuffled).
local t = redis.call("HINCRBY", K_ST, "next", 1)
local w = redis.call("RPUSH", K_LINE, v) - redis.call("HLEN", K_DUE)
redis.call("HSET", K_VIS, v, vis(t, sec, client))
written[#written + 1] = K_LINE
touch(c, now, written)
local fr = tonumber(st[3] or "1")
local pos = t - fr + 1
if given_back > 0 then pos = pos + ahead(fr) end
local rate = eta_rate_of(c, now, st[5], st[6], st[7])
if w < 0 then w = 0 end
if not paid then
  return reply({"toll", t, pos, w, c.apm, c.opens, due, rate, tonumber(st[4] or "0"), "", c.tolld})
end
return reply({room_state(c, now), t, pos, w, c.apm, c.opens, 0, rate, tonumber(st[4] or "0")})
