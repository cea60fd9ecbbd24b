// Package pass is the gateway's pass desk: it issues admission passes,
// checks the ones visitors present, renews them while the visitor is
// active, and ends admission sessions when the origin says the visitor is
// done.
//
// One admission is one session (queue.Enter): every pass the desk signs for
// it carries the session's id (sid), whichever instance signs it and however
// often the visitor asks. A pass admits only the visitor it names: it must
// come with the wr_id cookie it was issued to (Config.VisitorCookie makes
// that value from the id), so a pass copied to another client admits
// nobody.
//
// What the desk keeps in memory, both bounded (internal/cache), both mere
// shortcuts in front of Redis:
//
//   - verified passes, by token: a visitor's stream of requests costs one
//     signature check and then a map lookup;
//   - what it knows of sessions, by sid: mainly that one was revoked, so a
//     revocation applies to every cached pass of the session at once.
//
// A revoked session reaches every instance three ways, fastest first: the
// instance that handles the origin's revoke ends the session in Redis
// (queue.Revoke: the slot is freed once and the sid recorded until its last
// pass expires) and announces it (queue.PublishRevoked); every instance
// applies the announcement (Heard); and because an announcement can be lost
// while Redis restarts, a cached pass is checked against the Redis record
// every RecheckEvery, and all of them at once after a resubscription
// (RecheckAll). A pass not seen before is always checked against the record.
//
// The desk does not set cookies or speak HTTP beyond the JWK Set: the
// gateway does, with what the desk returns.
package pass
