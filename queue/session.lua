-- session: ARGV[OP] visitor, ARGV[OP + 1] session id to create when the visitor
-- has none yet, ARGV[OP + 2] the session id the caller holds ("" = any: Enter).
-- Enter and renew: a visitor holding a live admission or session gets
-- SessionTTL from now. One admission is one session: the first Enter after
-- an admission records ARGV[OP + 1] as its id beside the active entry, and every
-- later Enter (another tab, another gateway instance, a visitor who lost the
-- pass cookie) gets that same id back, never a second one. A renewal names
-- the session it holds and fails when that session is no longer the
-- visitor's (ended, revoked, or replaced by a later admission).
-- Reply: {end ms, session id}; {0, ""} when the visitor holds nothing live.
local now = clock()
local c = config()
epoch_init(now)
local v, fresh, held = ARGV[OP], ARGV[OP + 1], ARGV[OP + 2]
local e = redis.call("ZSCORE", K_ACTIVE, v)
if not e or tonumber(e) <= now then
  if e then
    redis.call("ZREM", K_ACTIVE, v)
    redis.call("HDEL", K_SES, v)
  end
  return {0, ""}
end
local sid = redis.call("HGET", K_SES, v)
if held ~= "" then
  if sid ~= held then return {0, ""} end
elseif not sid then
  sid = fresh
  redis.call("HSET", K_SES, v, sid)
end
local until_ = now + c.ttl
redis.call("ZADD", K_ACTIVE, I(until_), v)
touch(c, now, {K_ACTIVE, K_SES})
return {until_, sid}
