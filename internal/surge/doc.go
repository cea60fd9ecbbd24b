// Package surge simulates a flash crowd of ticket buyers and measures what
// they live through, either behind a waitroom gateway or straight at the
// origin.
//
// Each virtual visitor is one goroutine with its own cookies. It does what a
// browser on the queue page does: it requests the protected event page, is
// parked in the queue, holds the WebSocket (or polls the status API, for a
// chosen share of visitors), reloads the page once admitted and buys with
// POST /api/events/{id}/orders. A chosen share closes the tab while waiting.
// Arrivals follow a profile: all at once, a linear ramp, a Poisson process,
// or a sale that opens at a set time with a pre-queue before it.
//
// Run drives one crowd and returns a Report: requests/s, orders/s, latency
// percentiles per request kind, wait-time percentiles, the admission rate
// achieved against the configured one, FIFO inversions, orders against the
// origin's stock (oversell), the origin's peak in-flight requests and errors
// by kind, plus one sample per second for charts. Compare runs the same crowd
// through the gateway and then straight at the origin. The report renders as
// a terminal table (WriteTable), JSON (the Report struct is the schema) and a
// self-contained HTML page with SVG charts (WriteHTML).
//
// Every run is bounded in visitors and in time, and sends traffic only to the
// base URLs in its Config: redirects are never followed. surge is a load
// generator; it does not start the systems it measures.
package surge
