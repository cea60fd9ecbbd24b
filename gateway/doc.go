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
// Hot-path costs: a pass is verified by signature once per instance and then
// found in a bounded cache keyed by the token until it expires; renewals
// touch Redis at most once per pass per RenewEvery; the hub reads each
// room's shared figures once per tick and computes every connected visitor's
// position locally (Ticket - Front + 1).
//
// A pass the origin revokes (Waitroom-Command: revoke) is recorded in Redis
// and published on the channel <prefix>revoked; every instance subscribes
// and evicts it from its cache at once, with a periodic recheck as the
// fallback for a message lost while Redis was away (see revocation.go).
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
