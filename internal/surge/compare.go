package surge

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// CompareConfig is surge compare: one crowd sent through the gateway and
// then straight at the origin.
type CompareConfig struct {
	Config // Target and Direct both set; Origin defaults to Direct
	// Stock, with Config.OriginAdminToken, gives each run a fresh event
	// with this many tickets (POST /admin/events), so both runs start from
	// the same stock. Without a token both runs use Config.EventID and the
	// second starts with what the first left.
	Stock int64
	// Settle is the pause between the runs, so the second does not meet
	// the first one's leftovers (default 3s).
	Settle time.Duration
}

// Compare runs the crowd through the gateway, then the same crowd (same
// arrivals, same choices) straight at the origin. The gateway goes first so
// that the origin's peak in-flight figure of the gateway run is its own
// (ticketd reports the peak since it started).
func Compare(ctx context.Context, c CompareConfig, progress func(mode string, p Progress)) (*Comparison, error) {
	if c.Target == "" || c.Direct == "" {
		return nil, fmt.Errorf("--target/--direct: compare needs both the gateway (--target) and the origin (--direct)")
	}
	if c.Origin == "" {
		c.Origin = c.Direct
	}
	if c.Settle <= 0 {
		c.Settle = 3 * time.Second
	}
	cmp := &Comparison{Schema: SchemaVersion}
	for _, mode := range []string{"gateway", "direct"} {
		rc := c.Config
		if mode == "gateway" {
			rc.Direct = ""
		} else {
			rc.Target = ""
		}
		if c.OriginAdminToken != "" && c.Stock > 0 {
			room := c.Room
			if room == "" {
				room = "default"
				rc.Room = room
			}
			oc := originClient{hc: &http.Client{Timeout: 10 * time.Second}}
			id, err := oc.createEvent(ctx, c.Origin, c.OriginAdminToken, "surge "+mode+" "+time.Now().UTC().Format(time.RFC3339), room, c.Stock)
			if err != nil {
				return nil, fmt.Errorf("creating the %s run's event: %w", mode, err)
			}
			rc.EventID = id
		}
		var pf func(Progress)
		if progress != nil {
			pf = func(p Progress) { progress(mode, p) }
		}
		rep, err := Run(ctx, rc, pf)
		if err != nil {
			return nil, fmt.Errorf("%s run: %w", mode, err)
		}
		if mode == "gateway" {
			cmp.Gateway = rep
			select {
			case <-ctx.Done():
				return cmp, nil
			case <-time.After(c.Settle):
			}
		} else {
			cmp.Direct = rep
		}
	}
	return cmp, nil
}
