package gateway

import (
	"strings"

	"github.com/waitroom/waitroom/queue"
)

// pathPattern is one path pattern of a room or of the pass-through list:
// "/events/42" matches that path exactly, "/events/42/*" (any pattern ending
// in "*") matches every path that starts with what comes before the "*".
type pathPattern struct {
	exact  string
	prefix string
	isPre  bool
}

func compilePattern(p string) pathPattern {
	p = strings.TrimSpace(p)
	if strings.HasSuffix(p, "*") {
		return pathPattern{prefix: strings.TrimSuffix(p, "*"), isPre: true}
	}
	return pathPattern{exact: p}
}

func (p pathPattern) match(path string) bool {
	if p.isPre {
		return strings.HasPrefix(path, p.prefix)
	}
	return path == p.exact
}

// router maps a request path to its room, in the order the rooms were given.
type router struct {
	passThrough []pathPattern
	rooms       []routedRoom
}

type routedRoom struct {
	room     queue.Room
	patterns []pathPattern
}

// reservedPrefix is the gateway's own path space; it is never proxied.
const reservedPrefix = "/_waitroom/"

func newRouter(rooms []queue.Room, passThrough []string) *router {
	rt := &router{}
	for _, p := range passThrough {
		if strings.TrimSpace(p) != "" {
			rt.passThrough = append(rt.passThrough, compilePattern(p))
		}
	}
	for _, r := range rooms {
		rr := routedRoom{room: r}
		for _, p := range r.Paths {
			rr.patterns = append(rr.patterns, compilePattern(p))
		}
		rt.rooms = append(rt.rooms, rr)
	}
	return rt
}

// match returns the room that protects path; ok is false for pass-through
// paths and paths no room matches (both are proxied without queueing).
func (rt *router) match(path string) (queue.Room, bool) {
	for _, p := range rt.passThrough {
		if p.match(path) {
			return queue.Room{}, false
		}
	}
	for i := range rt.rooms {
		for _, p := range rt.rooms[i].patterns {
			if p.match(path) {
				return rt.rooms[i].room, true
			}
		}
	}
	return queue.Room{}, false
}

// room finds a room by name.
func (rt *router) room(name string) (queue.Room, bool) {
	for i := range rt.rooms {
		if rt.rooms[i].room.Name == name {
			return rt.rooms[i].room, true
		}
	}
	return queue.Room{}, false
}

func (rt *router) all() []queue.Room {
	out := make([]queue.Room, len(rt.rooms))
	for i := range rt.rooms {
		out[i] = rt.rooms[i].room
	}
	return out
}
