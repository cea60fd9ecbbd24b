// Package admin is the gateway's admin listener: the rooms API (list, read,
// PATCH live changes, admit the next N, reset to the file's values), the
// dashboard, /metrics, the liveness and readiness probes, and the guards in
// front of them.
//
// The guards, in the order the gateway chains them:
//
//   - Probes answers /healthz and /readyz before anything else;
//   - LocalHostOnly: without a token, only Host localhost or a loopback
//     address is served, so a DNS-rebinding page cannot reach the API;
//   - SameOriginWrites: a write must be JSON and must not come from
//     another site riding on the browser's credentials;
//   - RequireToken: /admin/* and /debug/pprof/* need the token (bearer, or
//     the Basic password the dashboard's browser re-sends).
//
// Every value a PATCH may set is checked against the queue's limits (the
// same as the rooms file's and the WAITROOM_* defaults'); a refused value is
// a 400 naming the field, never a 503, which is kept for Redis being
// unreachable. The package sees the queue through a four-method Queue and
// the rooms through Rooms.
package admin
