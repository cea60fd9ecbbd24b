-- figures: the room's shared numbers:
-- {state, waiting, active, admitted_total, abandoned_total, front, achieved,
--  apm, max, ttl, abandon, mode, opens, paused, closed, unnumbered, reshuffles, eta rate,
--  cpm, chd, toll, toll difficulty, bind, refused_total, tolls_total,
--  epoch, epoch start ms, previous epoch ("" = none known), when its loss was
--  noticed ms, its last totals known: admitted, abandoned, refused, tolls,
--  active, and the slots still held for its sessions, entered sessions,
--  last ticket, places given back behind the front (ahead), places given
--  back against receipts}.
local now = clock()
local c = config()
epoch_init(now)
local function flag(b) if b then return 1 end return 0 end
return {room_state(c, now), waiting(), active_count(now), stnum("adm"), stnum("abd"), front(),
  (achieved(now)), c.apm, c.max, c.ttl, c.abandon, c.mode, c.opens, flag(c.paused), flag(c.closed),
  redis.call("ZCARD", K_PRE), stnum("gen"), eta_rate(c, now),
  c.cpm, c.chd, flag(c.toll), c.tolld, flag(c.bind), stnum("refused"), stnum("tolls"),
  EPOCH, stnum("ept"), redis.call("HGET", K_ST, "prev") or "", stnum("lat"),
  stnum("ladm"), stnum("labd"), stnum("lref"), stnum("ltol"), stnum("lact"), held(now),
  redis.call("HLEN", K_SES), stnum("next"), ahead(front()), stnum("recovered")}
