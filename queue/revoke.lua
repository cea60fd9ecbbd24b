-- revoke: ARGV[OP] visitor, ARGV[OP + 1] session id, ARGV[OP + 2] exp (ms) of the
-- pass that asked, ARGV[OP + 3] the verifiers' leeway (ms); KEYS[12] the
-- session's revocation record.
-- Ends the session: when it is still the visitor's, its slot is freed
-- (once: a second revoke of the same session frees nothing) and its id
-- dropped. Either way the session is recorded as revoked for as long as any
-- pass of it can verify (the later of the pass's exp and the session's end,
-- plus the leeway), so every instance refuses all of its passes.
-- Reply: 1 when a live slot was freed, else 0.
local now = clock()
local v, sid = ARGV[OP], ARGV[OP + 1]
local last = tonumber(ARGV[OP + 2])
local freed = 0
if redis.call("HGET", K_SES, v) == sid then
  local e = redis.call("ZSCORE", K_ACTIVE, v)
  if e then
    e = tonumber(e)
    if e > last then last = e end
    if e > now then freed = 1 end
    redis.call("ZREM", K_ACTIVE, v)
  end
  redis.call("HDEL", K_SES, v)
end
local ttl = last + tonumber(ARGV[OP + 3]) - now
if ttl < 1000 then ttl = 1000 end
redis.call("SET", KEYS[12], "1", "PX", I(ttl))
return freed
