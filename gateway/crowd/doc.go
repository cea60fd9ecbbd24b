// Package crowd holds what keeps a flash crowd from drowning the gateway's
// own work, and what lets the gateway answer a visitor without asking Redis:
//
//   - Gate bounds the visitor operations that use Redis at once (joins,
//     status lookups, socket handshakes) to the visitor pool's size; past it
//     a request waits briefly, then gets a fast "busy" answer;
//   - Hints remembers the visitors this instance told "admitted" a moment
//     ago, so their next request goes straight to Enter instead of queueing
//     behind the gate;
//   - Tickets remembers the place numbers this instance handed out or read,
//     so a status poll is answered from the room's figures
//     (position = ticket - front + 1), never telling a visitor a higher
//     position than before;
//   - Health is the Redis probe whose verdict puts the instance in fail
//     mode: the error of one request never does, because a crowd makes
//     single calls slow while Redis is up.
//
// Everything here is per instance and a shortcut: losing it costs a Redis
// lookup, never a place in line.
package crowd
