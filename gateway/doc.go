// Package gateway is waitroom's gateway: the reverse proxy that stands in
// front of a booking site and keeps its protected paths behind a queue. It
// holds New, Start and Shutdown, the two middleware chains (chain.go) and
// the one decision every request of the site gets (protect.go): proxy it,
// or let the visitor join the line and answer with the queue page. The
// rest lives in rooms of its own, each behind a narrow door:
//
//   - route: the one cleaned path per request, and which room it belongs to;
//   - pass: the pass desk — issue, check (bound to the wr_id cookie), renew
//     and revoke admission passes, one session per admission;
//   - crowd: the crowd gate, admission hints, the ticket book and the Redis
//     probe that decides the fail mode;
//   - board: every room's figures read once per tick, the status documents
//     made from them, and the last 15 minutes for the dashboard;
//   - hub: the visitors' WebSockets, told their place from the board;
//   - origin: the reverse proxy to the site and its header rules;
//   - admin: the admin listener's API, dashboard and guards.
//
// What stays here is the wiring: the two Redis clients (redis.go: visitors'
// joins and polls on one pool, the gateway's own work on another, so a
// crowd cannot starve admission), the configuration (config.go, parsed once
// into typed values), the visitor cookie (cookies.go), the status API and
// the socket handshake (status.go, ws.go), the admission loop and the news
// between instances (gateway.go, news.go), and the metrics. The queue
// itself is package queue, in Redis, so any number of instances share one
// line; docs/architecture.md draws the packages and the path of a request,
// an admission and a live change.
//
// Use it in-process as:
//
//	cfg, err := gateway.LoadConfig(env.Options{})
//	g, err := gateway.New(ctx, cfg, log)
//	g.Start(ctx)
//	pub, adm := g.PublicServer(), g.AdminServer() // or g.Public(), g.Admin() on servers of your own
//	...
//	pub.Shutdown(ctx); adm.Shutdown(ctx) // drain the requests in flight
//	g.Shutdown(ctx)                      // then close the sockets (1001) and stop
package gateway
