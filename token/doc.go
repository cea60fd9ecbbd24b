// Package token signs and verifies waitroom admission passes.
//
// A pass is a compact JWS (a JWT) that the gateway hands to a visitor when the
// visitor leaves the queue. It names the visitor (sub), the room it admits to
// (aud), the admission session it belongs to (sid, 128 random bits, the
// same on every pass of one admission: first issue, renewals, re-entry on
// any gateway instance), when it was made and when it ends (iat, nbf, exp),
// and a unique id of its own (jti, 128 random bits). An origin that sells
// once per admission keys its orders on sid (Claims.Session) and keeps jti to
// spot a replayed pass. The issuer claim is always "waitroom".
//
// Two algorithms are supported: EdDSA with Ed25519 keys (every pass carries
// the key's RFC 7638 thumbprint as kid, and the public keys are published as a
// JWK Set) and HS256 with a shared secret of at least 32 bytes. A Verifier is
// built for exactly one of them and refuses every other "alg" — "none", an
// HS256 pass signed with an Ed25519 public key, or anything else — before it
// looks at the claims.
//
// Signing and parsing are done by github.com/golang-jwt/jwt/v5 (one allowed
// method, issuer, leeway, required exp, audience, strict base64); this
// package adds the key lookup by kid, the claims a pass must carry, and the
// mapping of every refusal onto its own errors.
//
// Which type to reach for:
//
//   - the gateway builds a Signer (NewEd25519Signer or NewHS256Signer), calls
//     Sign for every admitted visitor and serves Signer.JWKS;
//   - an origin builds a Verifier: NewEd25519Verifier from a PEM public key,
//     NewHS256Verifier from the shared secret, or NewJWKSVerifier from the
//     gateway's /_waitroom/jwks.json through a JWKSClient, which caches keys,
//     refreshes on an unknown kid at a limited rate and keeps the last good
//     keys while the key server is down;
//   - a Go origin that only needs "is this request admitted?" wraps its
//     handler in Middleware and reads the claims with FromContext.
//
// Every refusal is an error that wraps one of ErrMalformed, ErrAlgorithm,
// ErrSignature, ErrUnknownKey, ErrExpired, ErrNotYetValid, ErrIssuer or
// ErrWrongRoom, so callers can use errors.Is, and Reason turns it into a short
// label for metrics and logs.
//
// Key rotation: give NewEd25519Signer every key that may still have live
// passes, oldest first. It signs with the last one and lists all of them in
// its JWK Set, so passes signed before a rotation stay valid until they
// expire; drop the old key once the longest pass lifetime has passed.
//
// The package does not revoke passes: the gateway ends sessions (and refuses
// their passes) when the origin says "Waitroom-Command: revoke", and
// one-admission-buys-once is the origin's job (ticketd keeps every sid and
// every jti under a unique constraint).
package token
