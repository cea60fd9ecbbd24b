//go:build unix && !waitroom_stdtransport

package gateway

import (
	"errors"
	"syscall"
)

// fastPathBuilt is true where socketQuiet can look at an idle connection;
// elsewhere (and in builds tagged waitroom_stdtransport, which
// .ci/bench-gateway uses to weigh the synchronous path against the
// standard transport) every request goes to http.Transport.
const fastPathBuilt = true

// socketQuiet reports, without blocking and without consuming anything,
// whether the socket has no byte to read and no end of stream: a recv with
// MSG_PEEK|MSG_DONTWAIT answers EAGAIN then. A read deadline in the past
// cannot stand in for it: Go answers such a read without a syscall.
func socketQuiet(raw syscall.RawConn, buf []byte) bool {
	var n int
	var rerr error
	err := raw.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait for the socket to become readable
	})
	return err == nil && n <= 0 && errors.Is(rerr, syscall.EAGAIN)
}
