package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/waitroom/waitroom/gateway/board"
	"github.com/waitroom/waitroom/gateway/toll"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

// Fairness against scripts that grab places: who a new place is counted
// against (the client's network), the toll it costs, and how a refusal is
// told. The queue does the counting, in the same round trip as the join
// (queue.Arrive); this file is what the gateway brings to it.

// HeaderToll carries a solved toll challenge (toll.Solution.Encode) on the
// request that asks for a place.
const HeaderToll = "Waitroom-Toll"

// client is the network a request comes from: its IPv4 address, or its
// IPv6 address's /64 (one home or phone gets a whole /64). Behind trusted
// proxies it is the first address in X-Forwarded-For, walking from the
// right, that is not one of them; otherwise the direct peer (a client's
// own X-Forwarded-For is never believed).
func (vc visitorCookies) client(r *http.Request) string {
	a, ok := peerAddr(r)
	if !ok {
		return ""
	}
	if vc.trusted.Contains(a) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			a = h.Unmap()
			if !vc.trusted.Contains(a) {
				break
			}
		}
	}
	return network(a)
}

func peerAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// network names a client address: IPv4 as it is, IPv6 by its /64.
func network(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// passNetwork is the wider network a pass can be bound to (a room's
// bind_pass_to_network): the IPv4 /24, the IPv6 /48, so a phone moving
// between cells of one carrier keeps its pass while a pass copied to
// another network does not work.
func passNetwork(r *http.Request, vc visitorCookies) string {
	c := vc.client(r)
	if c == "" {
		return ""
	}
	if p, err := netip.ParsePrefix(c); err == nil {
		q, _ := p.Addr().Prefix(48)
		return q.String()
	}
	a, err := netip.ParseAddr(c)
	if err != nil {
		return ""
	}
	q, _ := a.Prefix(24)
	return q.String()
}

// arrival is what the gateway brings to a join: the client, and a toll
// solution when the request carries a good one for this visitor and room
// (a bad one is ignored: the visitor is asked to pay again).
func (g *Gateway) arrival(r *http.Request, room queue.Room, visitor string, now time.Time) queue.Arrival {
	a := queue.Arrival{Client: g.cookies.client(r), Receipt: g.readReceipt(r, room.Name, visitor)}
	s := r.Header.Get(HeaderToll)
	if s == "" && r.URL.Path == statusPath {
		s = r.URL.Query().Get("toll")
	}
	if s != "" {
		id, until, err := g.fair.booth.Verify(s, room.Name, visitor, now)
		if err == nil {
			a.Toll, a.TollUntil = id, until
		}
	}
	return a
}

// fairness is the gateway's part in keeping scripts from grabbing places.
type fairness struct {
	booth      *toll.Booth
	receiptKey []byte    // signs place receipts (receipt.go)
	proxyHint  sync.Once // the log line about a proxy counted as one client
}

// refused is the status document of a join the room did not grant: the
// toll to pay (with a fresh challenge for this visitor) or the per-client
// limit and when to try again.
func (g *Gateway) refused(r *http.Request, room queue.Room, visitor string, st queue.Status, now time.Time) web.Status {
	sj := board.Of(st)
	switch st.State {
	case queue.StateToll:
		if c, err := g.fair.booth.Issue(room.Name, visitor, st.TollSeconds, now); err == nil {
			sj.Challenge = &c
		}
		g.metrics.tollsAsked.WithLabelValues(room.Name).Inc()
	case queue.StateLimited:
		sj.Reason = st.Reason
		sj.RetryAfter = max(int64(st.RetryAt.Sub(now)/time.Second)+1, 1)
		g.hintProxy(r, room)
	}
	return sj
}

// hintProxy says once, in the log, when the per-client limits refuse a
// private or loopback address and no proxy is trusted: most likely a
// proxy in front that every visitor seems to come from, so the limits
// count the whole crowd as one client.
func (g *Gateway) hintProxy(r *http.Request, room queue.Room) {
	if len(g.cfg.TrustedProxies) > 0 {
		return
	}
	a, ok := peerAddr(r)
	if !ok || !(a.IsLoopback() || a.IsPrivate()) {
		return
	}
	g.fair.proxyHint.Do(func() {
		g.log.Warn().Str("room", room.Name).Str("client", a.String()).
			Msg("per-client limits refused a private address; if a proxy sits in front, set WAITROOM_TRUSTED_PROXIES to it, or every visitor counts as this one client")
	})
}

// refusedJoin reports whether st is a join the room did not grant.
func refusedJoin(st queue.Status) bool {
	return st.State == queue.StateToll || st.State == queue.StateLimited
}

// tollKey is the toll booth's HMAC key: derived from the cookie secret,
// which every instance shares, so a challenge from one instance is good on
// another (and the cookie key itself signs nothing but cookies).
func tollKey(cookieKey []byte) []byte {
	m := hmac.New(sha256.New, cookieKey)
	m.Write([]byte("waitroom toll key"))
	return m.Sum(nil)
}

// TollBooth is the toll booth of the gateways whose WAITROOM_COOKIE_SECRET
// is cookieSecret: what a simulator standing in for visitors' own devices
// pays tolls with (toll.Booth.Paid; surge's swarm scenario). Whoever holds
// the cookie secret can mint visitors anyway.
func TollBooth(cookieSecret string) *toll.Booth { return newBooth([]byte(cookieSecret)) }

// newBooth is the toll booth of the cookie key (the random one of a
// gateway without a cookie secret included).
func newBooth(cookieKey []byte) *toll.Booth {
	b, err := toll.NewBooth(tollKey(cookieKey))
	if err != nil {
		panic(err) // a SHA-256 output is 32 bytes
	}
	return b
}
