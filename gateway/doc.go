// Package gateway is waitroom's HTTP side: the reverse proxy that stands in
// front of a booking site, the routing of requests to rooms, the visitor and
// pass cookies, the queue page and status API, the WebSocket hub that pushes
// live positions, and the admin listener (rooms API, dashboard, metrics,
// health).
//
// A request to a protected path either carries a valid pass for its room
// (it is proxied, with the verified pass in the Waitroom-Pass header) or
// joins the room's queue and gets the queue page (HTML) or a 429 with the
// status JSON. The queue itself lives in Redis (package queue), so any number
// of gateway instances share one line; each instance runs the admission step
// every AdmitInterval, which is safe because admission is one atomic script.
//
// Every request's path is cleaned once, before anything routes
// (paths.go): dot-segments resolved, repeated slashes collapsed, ;params
// and trailing dots cut; a path with no safe meaning (an encoded slash, a
// backslash, dot-segments above the root …) gets 400. The /_waitroom/
// dispatch, pass-through and room matching and the origin all see that one
// path. Room patterns match case-insensitively unless a room says
// match: exact; pass-through patterns match byte for byte (routing.go).
//
// Without WAITROOM_ADMIN_TOKEN the admin listener answers only requests
// whose Host is localhost or a loopback address, so a DNS-rebinding page
// cannot reach it (adminhost.go).
//
// Hot-path costs: a pass is verified by signature once per instance and then
// found in a bounded cache keyed by the token until it expires; renewals
// touch Redis at most once per pass per RenewEvery; the hub reads each
// room's shared figures once per tick and computes every connected visitor's
// position locally (Ticket - Front + 1).
//
// Two Redis clients, each with a pool of its own, talk to the same Redis
// (one server, a cluster, or a master found through Sentinel, per
// WAITROOM_REDIS_URL):
//
//   - the visitor pool carries visitors' joins and status lookups, the
//     work a flash crowd multiplies;
//   - the control plane carries the gateway's own work: the admission step,
//     the hub's tick, heartbeats, Enter/Renew/Release of admitted visitors,
//     revocations, the health probe and the admin API.
//
// So a crowd can fill its pool and wait, but it can never starve admission
// (the line keeps moving) or the probe (the gateway does not mistake a crowd
// for an outage). An injected client of another kind is shared by both.
//
// The crowd gate bounds the visitor operations that use the visitor pool at
// once to that pool's size. A request that finds it full waits briefly
// (250 ms, behind at most four times the pool size of others); past that it
// gets a fast "busy" answer without touching Redis: a protected request gets
// the queue page (or 429 with Retry-After and the room's figures, no
// position), a status poll gets 429 {"error":"busy"} with a Retry-After
// spread over 1-3 s so the retries do not arrive together. Nobody loses a
// place: a known visitor's heartbeat is still recorded by the hub. A
// WebSocket is accepted even when the gate is full; the hub looks its
// visitor up on its own tick. Busy answers are counted in
// waitroom_busy_total{kind="join"|"status"}. Visitors told "admitted" a
// moment ago skip the gate and go straight to Enter on the control plane.
//
// The fail mode (WAITROOM_FAIL_MODE) follows a health probe, never the error
// of one request: a crowd makes single calls slow (deadlines, pool timeouts)
// while Redis is up. The probe PINGs on the control-plane client every
// 250 ms; three failures in a row put the instance in fail mode, one answer
// takes it out. A request that saw Redis refuse or drop its connection makes
// the probe look at once, so an outage is noticed in well under a second,
// while a timeout or a full pool is taken as load. In fail mode a visitor
// without a valid pass is answered 503 with Retry-After (closed, the
// default) or proxied to the origin unqueued (open); pass holders keep going
// in both, since a pass is verified by signature. Admission pauses until the
// probe sees Redis again; the queue in Redis is untouched, so recovery needs
// no restart.
//
// Passes are signed with the last key of WAITROOM_PASS_KEY_FILE (several
// files, oldest first, during a key rotation); every listed key verifies and
// is published at /_waitroom/jwks.json.
//
// A pass the origin revokes (Waitroom-Command: revoke) is recorded in Redis
// and published on the channel <prefix>revoked; every instance subscribes
// and evicts it from its cache at once, with a periodic recheck as the
// fallback for a message lost while Redis was away (see revocation.go).
// Admissions travel the same way on <prefix>admitted: the sockets of a
// visitor admitted by another instance's admission step hear it at once,
// and the visitor's next request skips the crowd gate on every instance
// (see broadcast.go).
//
// The proxy is an httputil.ReverseProxy on a tuned http.Transport
// (proxy.go, transport.go): keep-alive connections to the origin sized to
// a busy instance, a pool of copy buffers, no compression negotiated on
// the visitor's behalf. The origin's 1xx answers and trailers lose the
// gateway's own headers (any Waitroom-* name) on the way (respheaders.go).
// A hand-written origin client once stood beside it; made as safe as
// http.Transport, it was no longer fast enough to be worth owning
// (docs/benchmarks-gateway.md), and transport_diff_test.go now holds the
// proxy's transport to a plain http.Transport against a hostile origin.
//
// Use it in-process as:
//
//	cfg, err := gateway.LoadConfig(env.Options{})
//	g, err := gateway.New(ctx, cfg, log)
//	g.Start(ctx)
//	pub := g.PublicServer()  // or g.Public() on a server of your own
//	adm := g.AdminServer()   // or g.Admin()
//	...
//	g.Shutdown(ctx)
//
// The package does not implement the queue (package queue), passes (package
// token) or the page templates (package web).
package gateway
