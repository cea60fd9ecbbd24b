// Package hub holds one gateway instance's visitor WebSockets and keeps
// every waiting visitor told where they stand: at least once a second, at
// once when their state changes, and the moment they are admitted.
//
// The hub does almost no Redis work per socket. Positions come from the
// room's figures (board: read once per tick for all rooms): a waiting
// visitor's position is Ticket - Front + 1. Only a socket whose place the
// figures cannot tell (not looked up yet, being numbered after an opening
// or a reshuffle, passed by the front) is looked up, by a fixed pool of
// askers with a per-tick budget, on the control plane (Line). Connected
// visitors are kept from being skipped as abandoned by one batched
// heartbeat per room every few seconds.
//
// When Redis forgets the line (the room's line epoch changes, or a
// heartbeat falls on a visitor the line no longer holds), a socket's
// ticket means nothing: the hub tells the visitor at once that they have
// no position, and its askers look them up, which places them again.
//
// Its doors: Reserve/Accept/Unreserve for a handshake the gateway has
// vetted (room, Origin, visitor cookie, first lookup), Admitted for news of
// admissions, StillThere for visitors answered without Redis, Run and
// CloseAll (1001 "going away") for its life. It does not read cookies or
// route requests.
package hub
