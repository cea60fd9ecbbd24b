-- confirm: ARGV[OP] visitor, ARGV[OP + 1] the session id of a pass the
-- gateway verified, ARGV[OP + 2] that pass's exp (ms); KEYS[12] the
-- session's revocation record.
-- A pass never outlives its session: the session ends in act no earlier
-- than the pass expires, unless it was revoked (then the record says so)
-- or Redis forgot it (restarted empty, or a replica promoted before it
-- caught up). So a live pass whose session Redis holds neither as live nor
-- as revoked is a session the store forgot: it comes back, until the
-- pass's exp, and counts against max_active again (it takes one of the
-- slots held for its epoch's sessions, see epoch_init).
-- Reply: {outcome, epoch}, outcome one of
--   "revoked"  the session was revoked;
--   "live"     Redis holds the session (or an admission of the visitor not
--              entered yet, which becomes this session);
--   "resumed"  the session was forgotten and is registered again;
--   "other"    the visitor holds another live session now;
--   "ended"    the pass has expired.
local now = clock()
local c = config()
epoch_init(now)
local v, sid, exp = ARGV[OP], ARGV[OP + 1], tonumber(ARGV[OP + 2])
if redis.call("EXISTS", KEYS[12]) == 1 then return {"revoked", EPOCH} end
local e = redis.call("ZSCORE", K_ACTIVE, v)
if e and tonumber(e) > now then
  local cur = redis.call("HGET", K_SES, v)
  if cur == sid then return {"live", EPOCH} end
  if cur then return {"other", EPOCH} end
  redis.call("HSET", K_SES, v, sid)
  if exp > tonumber(e) then redis.call("ZADD", K_ACTIVE, I(exp), v) end
  touch(c, now, {K_ACTIVE, K_SES})
  return {"live", EPOCH}
end
if exp <= now then return {"ended", EPOCH} end
redis.call("ZADD", K_ACTIVE, I(exp), v)
redis.call("HSET", K_SES, v, sid)
redis.call("HINCRBY", K_ST, "back", 1)
touch(c, now, {K_ACTIVE, K_SES, K_ST})
return {"resumed", EPOCH}
