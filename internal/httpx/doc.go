// Package httpx holds the small HTTP pieces the gateway and ticketd share:
// writing a JSON answer, reading a JSON request body strictly, the
// bearer-token check of an admin API, and the usage text of a binary's
// environment variables.
//
// Strict means a body is read the way its schema is written, never more
// generously: exactly one JSON object, field names matched exactly (not
// case-insensitively, as encoding/json does), no unknown or repeated field,
// nothing after the object, and a size limit. A refusal is a *BodyError
// naming the field and what is wrong with it in words a client can act on,
// never a Go type name.
//
// It is not a framework: handlers stay plain net/http.
package httpx
