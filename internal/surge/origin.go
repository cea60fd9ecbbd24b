package surge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Event is ticketd's event JSON (GET /api/events/{id}).
type Event struct {
	ID        json.RawMessage `json:"id"`
	Name      string          `json:"name"`
	Room      string          `json:"room"`
	StartsAt  string          `json:"starts_at"`
	Price     json.Number     `json:"price"`
	Total     int64           `json:"total"`
	Remaining int64           `json:"remaining"`
}

// originClient reads ticketd and the gateway's admin API: the figures surge
// checks the crowd's experience against.
type originClient struct {
	hc *http.Client
}

// call sends one request (a JSON body when body is not nil, a bearer token
// when token is set) and returns the status and the size-capped body.
func (o originClient) call(ctx context.Context, method, url, token string, body any) (int, string, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := readBody(resp.Body)
	return resp.StatusCode, resp.Status, b, err
}

func (o originClient) getJSON(ctx context.Context, url, token string, v any) error {
	code, status, b, err := o.call(ctx, http.MethodGet, url, token, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, status)
	}
	return json.Unmarshal(b, v)
}

// event reads one event from ticketd.
func (o originClient) event(ctx context.Context, base, id string) (Event, error) {
	var e Event
	err := o.getJSON(ctx, strings.TrimRight(base, "/")+"/api/events/"+id, "", &e)
	return e, err
}

// createEvent creates an event on ticketd (POST /admin/events) and returns
// its id.
func (o originClient) createEvent(ctx context.Context, base, token, name, room string, total int64) (string, error) {
	code, status, b, err := o.call(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/admin/events", token, map[string]any{
		"name": name, "room": room, "total": total, "price": 1000,
		"starts_at": "2030-01-01T19:00:00Z",
	})
	if err != nil {
		return "", err
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return "", fmt.Errorf("POST /admin/events: %s %s", status, bytes.TrimSpace(b))
	}
	var out struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return "", fmt.Errorf("POST /admin/events: %v", err)
	}
	return rawID(out.ID), nil
}

// rawID turns a JSON id (number or string) into its path form.
func rawID(b json.RawMessage) string {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(b))
}

// metrics reads the named series from a Prometheus text endpoint. A series
// with labels is keyed as written, e.g. `ticketd_orders_total{result="ok"}`.
func (o originClient) metrics(ctx context.Context, base string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(bufio.NewScanner(resp.Body), names...)
}

// parseMetrics picks the samples of the named metrics out of Prometheus
// text format.
func parseMetrics(sc *bufio.Scanner, names ...string) (map[string]float64, error) {
	out := map[string]float64{}
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		for _, n := range names {
			if !strings.HasPrefix(line, n) || len(line) == len(n) || (line[len(n)] != ' ' && line[len(n)] != '{') {
				continue
			}
			key, val, ok := cutSample(line)
			if !ok {
				continue
			}
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				continue
			}
			out[key] = f
		}
	}
	return out, sc.Err()
}

// cutSample splits `name{labels} value [timestamp]`.
func cutSample(line string) (key, val string, ok bool) {
	end := strings.LastIndexByte(line, '}')
	if end < 0 {
		end = strings.IndexByte(line, ' ') - 1
		if end < 0 {
			return "", "", false
		}
	}
	key = line[:end+1]
	rest := strings.Fields(line[end+1:])
	if len(rest) == 0 {
		return "", "", false
	}
	return key, rest[0], true
}

// roomConfig is the part of GET /admin/rooms/{name} surge reads.
type roomConfig struct {
	AdmitPerMinute int   `json:"admit_per_minute"`
	MaxActive      int   `json:"max_active"`
	Active         int64 `json:"active"`
}

func (o originClient) room(ctx context.Context, admin, token, name string) (roomConfig, error) {
	var rc roomConfig
	err := o.getJSON(ctx, strings.TrimRight(admin, "/")+"/admin/rooms/"+name, token, &rc)
	return rc, err
}

// setOpensAt sets the room's opening time on the gateway.
func (o originClient) setOpensAt(ctx context.Context, admin, token, room string, at time.Time) error {
	code, status, b, err := o.call(ctx, http.MethodPatch, strings.TrimRight(admin, "/")+"/admin/rooms/"+room, token,
		map[string]any{"opens_at": at.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return fmt.Errorf("PATCH /admin/rooms/%s: %s %s", room, status, bytes.TrimSpace(b))
	}
	return nil
}
