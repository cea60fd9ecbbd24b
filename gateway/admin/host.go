package admin

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// LocalHostOnly closes the admin listener to DNS rebinding when it runs
// without WAITROOM_ADMIN_TOKEN (allowed on loopback only). A page on
// rebind.attacker.example whose name an attacker re-points at 127.0.0.1
// makes the operator's browser send same-origin requests to the listener;
// the only thing that gives it away is the Host header, which still names
// the attacker's domain (so sameOriginWrites, which compares Origin with
// Host, cannot tell). Without a token, then, only a Host that is "localhost"
// or a loopback address (any port; 127.0.0.0/8 and ::1) is served; anything
// else, an empty Host included, gets 403.
//
// With a token set the rule does not apply: the token decides, and a
// rebinding page does not have it. /healthz and /readyz are answered before
// this middleware (see the gateway's admin chain): they carry no secrets and change
// nothing, and probes such as Kubernetes' send the pod's address as Host.
func (a *API) LocalHostOnly(next http.Handler) http.Handler {
	if a.cfg.Token != "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			writeJSON(w, http.StatusForbidden, map[string]string{
				"error": "without WAITROOM_ADMIN_TOKEN the admin listener answers only Host localhost or a loopback address",
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine by a name
// that no DNS answer can supply: "localhost" (any case) or a loopback IP
// literal, with or without a port. "localhost.attacker.example",
// "127.0.0.1.nip.io" and "" are not.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
