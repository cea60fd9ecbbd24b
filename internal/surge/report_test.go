package surge

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"
)

// keyPaths lists every key of a JSON document as a dotted path; arrays
// contribute their first element's keys under "[]".
func keyPaths(prefix string, v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[p] = true
			keyPaths(p, e, out)
		}
	case []any:
		if len(x) > 0 {
			keyPaths(prefix+"[]", x[0], out)
		}
	}
}

// The JSON report is an interface other tools read (the benchmark script,
// CI checks, dashboards): its field names are pinned here. Renaming or
// removing one must bump SchemaVersion and this list together.
func TestReportJSONSchema(t *testing.T) {
	rep := Report{
		Schema: SchemaVersion, Started: time.Unix(0, 0).UTC(),
		Latency: map[string]Percentiles{"order": {}}, Errors: map[string]int64{"x": 1},
		Origin: OriginReport{OrdersByResult: map[string]int64{"ok": 1}},
		Series: []Second{{}},
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	keyPaths("", doc, got)
	want := strings.Fields(`
schema mode target started elapsed_seconds interrupted
crowd crowd.visitors crowd.profile crowd.duration_cap_seconds crowd.websocket_share crowd.abandon_share
crowd.quantity crowd.event_id crowd.room crowd.seed crowd.source_addresses
visitors visitors.arrived visitors.queued visitors.admitted visitors.admitted_at_once visitors.bought
visitors.sold_out visitors.abandoned visitors.still_waiting visitors.failed
requests requests_per_second orders orders_per_second
latency latency.order latency.order.count latency.order.p50_ms latency.order.p95_ms latency.order.p99_ms latency.order.max_ms
wait wait.count wait.p50_ms wait.p95_ms wait.p99_ms wait.max_ms
admission admission.configured_per_minute admission.max_active admission.achieved_per_minute admission.active_peak
fifo fifo.checked fifo.inversions fifo.slack_ms fifo.observed_inversions fifo.position_increases
stock stock.total stock.remaining_before stock.remaining_after stock.tickets_confirmed stock.oversell stock.unconfirmed
origin origin.inflight_max origin.inflight_max_before origin.inflight_sampled_max origin.orders_by_result origin.orders_by_result.ok origin.status_5xx
errors errors.x client client.peak_goroutines client.peak_heap_bytes client.peak_rss_bytes client.peak_waiting
series series[].t series[].arrivals series[].waiting series[].admitted series[].orders series[].requests
series[].errors series[].origin_ms series[].origin_max_ms series[].origin_inflight`)
	var missing, extra []string
	for _, k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
		delete(got, k)
	}
	for k := range got {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("report JSON changed: missing %v, unexpected %v (update SchemaVersion and this test)", missing, extra)
	}
	if SchemaVersion != "surge.report/v1" {
		t.Fatalf("schema version %q: update the pinned field list", SchemaVersion)
	}

	var cmp map[string]any
	b, _ = json.Marshal(Comparison{Schema: SchemaVersion, Direct: &rep, Gateway: &rep})
	_ = json.Unmarshal(b, &cmp)
	for _, k := range []string{"schema", "direct", "gateway"} {
		if _, ok := cmp[k]; !ok {
			t.Errorf("comparison JSON lacks %q", k)
		}
	}
}

// The HTML report is self-contained (no external script, style or image)
// and escapes what came from outside, such as an error kind or target URL.
func TestWriteHTMLSelfContained(t *testing.T) {
	rep := &Report{
		Schema: SchemaVersion, Mode: "gateway", Target: `http://127.0.0.1:1/"><script>alert(1)</script>`,
		Errors: map[string]int64{"</script><script>alert(2)</script>": 1},
		Series: []Second{{T: 0, Waiting: 10}, {T: 1, Waiting: 5, Admitted: 5, Orders: 4, OriginMean: 3.5}},
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, "test", rep, rep); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, bad := range []string{"<script>alert", "src=", "href=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if n := strings.Count(page, "<svg"); n != 6 {
		t.Errorf("%d charts, want 6", n)
	}
	if !strings.Contains(page, "<polyline") {
		t.Error("charts have no lines")
	}
}

// The table shows both runs of a comparison side by side, with the figures
// a reader looks for first.
func TestWriteTable(t *testing.T) {
	d := &Report{Mode: "direct", Origin: OriginReport{InflightMax: 512}, Stock: StockReport{Oversell: 0, RemainingBefore: 100}, Errors: map[string]int64{"order_http_503": 7}}
	g := &Report{Mode: "gateway", Origin: OriginReport{InflightMax: 8}, FIFO: FIFOReport{Checked: 90}, Admission: AdmissionReport{ConfiguredPerMinute: 600, AchievedPerMinute: 598.2}}
	var buf bytes.Buffer
	if err := WriteTable(&buf, d, g); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"direct", "gateway", "orders/s", "oversell", "peak in-flight", "512", "598.2", "order_http_503", "0 of 90"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// The Markdown table has a header separator and one row per table line, so
// the benchmark document renders it as a table.
func TestWriteMarkdown(t *testing.T) {
	var md, tab bytes.Buffer
	r := &Report{Mode: "gateway", Errors: map[string]int64{"a|b": 1}}
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	_ = WriteTable(&tab, r)
	lines := strings.Split(strings.TrimSpace(md.String()), "\n")
	if len(lines) != strings.Count(tab.String(), "\n")+1 || lines[1] != "|---|--:|" {
		t.Fatalf("markdown:\n%s", md.String())
	}
	if !strings.Contains(md.String(), `a\|b`) {
		t.Error("a pipe in a cell is not escaped")
	}
}
