// Package route decides which room, if any, a request belongs to.
//
// It works on one cleaned path per request (CleanRequests, before anything
// routes): dot-segments resolved, repeated slashes collapsed, ;params and
// trailing dots cut, and a 400 for what has no single safe meaning (an
// encoded slash, a backslash, a climb above the root). The request that
// goes on carries exactly that path, so what was matched is what the
// origin receives.
//
// A Router matches the pass-through patterns first (byte for byte: that
// list skips the queue, so a case trick must not widen it), then each
// room's patterns in order (regardless of case unless the room says
// match: exact, so a room catches every spelling an origin may serve).
package route
