//go:build !unix || waitroom_stdtransport

package gateway

import "syscall"

// fastPathBuilt is false: this build has no way to look at an idle
// connection without reading it, so every request goes to http.Transport
// (see transport_idle_unix.go).
const fastPathBuilt = false

func socketQuiet(syscall.RawConn, []byte) bool { return false }
