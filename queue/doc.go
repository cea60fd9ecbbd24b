// Package queue is waitroom's queue engine: the per-room waiting line, the
// admission rate, the count of active visitors and the operator's live
// changes, all kept in Redis so that any number of gateway instances share
// one queue with no leader.
//
// Every operation is one Lua script call (one round trip) whose keys share
// the room's {hash tag}, so the engine runs unchanged on a single Redis, on
// Sentinel and on Redis Cluster. The clock is Redis's own (TIME inside the
// scripts), so instances with skewed clocks still agree; AdmitAt lets tests
// steer time.
//
// The package does not speak HTTP and does not sign passes: the gateway
// does. A gateway typically calls Join when a visitor first hits a protected
// path, Status (or Heartbeat for its WebSocket visitors) while they wait,
// Admit for every room on every tick (every 100–250 ms, at least once a
// second), Enter when it issues a pass, Renew as the visitor keeps browsing,
// Revoke when the origin says the visitor is done, Confirm before trusting a
// pass it has not seen (and now and then after), and Figures once per tick
// for all rooms.
//
// # Data model
//
// Per room, with keys "<prefix>{<room>}:<name>":
//
//	line  LIST  visitor ids in ticket order (RPUSH at the back, LPOP at the front)
//	vis   HASH  visitor -> "ticket:last-seen-second" (idempotency, heartbeat, position)
//	pre   ZSET  visitor -> order score: the pre-queue and shuffles not yet numbered
//	act   ZSET  visitor -> end of admission window or session (ms)
//	st    HASH  last ticket, front, GCRA state, totals, pending-shuffle flags,
//	            the line epoch and what was lost before it
//	cfg   HASH  the operator's live changes (win over the file's values)
//	rate  HASH  ring of 60 per-second admission counts (the achieved rate)
//	ses   HASH  visitor -> session id, for visitors who entered (beside act)
//	rec   ZSET  visitor -> ticket: places given back against receipts after a loss
//	rev:<sid>  STRING  a revoked session, kept until its last pass expires
//
// Places are dense ticket numbers handed out in arrival order, and visitors
// only ever leave the line at its front (admitted, or skipped as abandoned).
// So a queued visitor's position is Ticket - Front + 1 and never goes up,
// which lets a WebSocket hub compute thousands of positions from one read of
// Figures per room and tick. A waiting visitor costs one list entry and one
// hash field in Redis (see docs/benchmarks-queue.md for the measured bytes).
//
// # Admission
//
// Admit is a generic cell rate algorithm at Redis time: the burst is one
// second's worth plus one, so callers stepping at least once a second admit
// exactly admit_per_minute over any longer window, however many instances
// call at once; and no admission happens while max_active visitors hold a
// live admission or session. Active visitors are a sorted set by end time:
// counting them drops the ended ones and takes ZCARD (O(log n)). An admitted
// visitor has Config.AdmitWindow to arrive (Enter), then the room's
// session_ttl, extended by each Renew. A queued visitor whose last heartbeat
// (Join, Status, Heartbeat) is older than abandon_after is skipped when they
// reach the front, without using an admission, and counted as abandoned.
//
// # Sessions
//
// One admission is one session. The first Enter after an admission records
// a session id (128 random bits) in the ses hash beside the visitor's
// active entry; every later Enter of the same admission (another tab,
// another instance, a visitor who lost the pass cookie) returns that same
// id and extends the same slot, so passes can be handed out again but never
// make a second session. Renew names the session it extends and fails once
// that session is not the visitor's any more. Revoke ends a session only
// when its id matches (a late revoke of an old session never frees the
// visitor's newer one), frees the slot once, and records the id as revoked
// until the last of its passes has expired, which Revoked answers. A new
// admission drops any id left from an earlier session; ended sessions lose
// their id when the active set drops them.
//
// # When Redis forgets
//
// The room's state lives in Redis only. A Redis that restarts without
// persistence, or a replica promoted before it caught up, forgets it, and
// the keys left say nothing of it. So the first script that touches a
// room's state gives it a line epoch (64 random bits in st, which lives and
// dies with the room's keys), and Figures, Join and Status return it. Each
// Queue remembers the epoch it last read of every room (shared with the
// Queues made from it with On) and passes it to every script, with what it
// last read of the room: the first script to find another epoch records the
// loss in the new one (Figures.Lost: the previous epoch and its totals, so
// they are shown as lost rather than as zero) and holds the slots of the
// sessions that were live (Figures.Held) until their passes have expired.
// Confirm brings a session back when its live pass is shown, into one of
// those slots; Heartbeat's callers learn (HeartbeatUnknown) which visitors
// the line does not hold, to place them again. When the script that finds
// the loss also makes the new epoch, the old line's tickets (from the
// front it read to the last ticket it saw) are kept for a recovery window:
// a join with a receipt of one of them (Arrival.Receipt, which the gateway
// signs) gets that ticket back, once, in rec, ahead of every newcomer;
// positions count those given back behind the front (Figures.Ahead). See
// docs/operating.md.
//
// # Pre-queue and random mode
//
// Before opens_at, joining visitors go to the pre set with a score of 52
// random bits from crypto/rand and have no position. From the opening on,
// each admission step numbers up to Config.Batch of them in score order (a
// uniform random permutation) behind the line; visitors who join while any
// are left get score 2^52 + sequence, so they queue FIFO behind the shuffled
// ones. While numbering is pending a visitor's position is the line length
// plus their rank in the set, so positions never go up during it either.
//
// In random mode the same shuffle applies to everyone waiting when the room
// opens: at opens_at (the pre-queue, as above), when a closed room in random
// mode is reopened, and when the operator switches a room to random. In the
// last two cases the admission step moves the waiting line back into the pre
// set under scores from a Park–Miller generator seeded per batch from
// crypto/rand, Config.Batch visitors per step, admitting nobody until the
// move is complete; numbering then proceeds as at an opening. Joins meanwhile
// queue behind. A room in random mode that is simply open admits its later
// arrivals FIFO, as the SPEC asks.
//
// # Live changes
//
// Update stores the operator's changes in the room's cfg hash; every script
// reads it (HMGET, O(1)) and its values win over the Room given by the
// caller, so a change reaches every instance on its next call. Reset deletes
// the hash; places, active visitors and totals stay.
//
// # Embedded server
//
// StartEmbedded runs github.com/alicebob/miniredis/v2 on a loopback port:
// the same scripts run there (the conformance tests run against both). It
// runs each script in a fresh Lua state, so it is several times slower than
// Redis; it is meant for the demo and for a single small gateway.
package queue
