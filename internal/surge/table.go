package surge

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes the reports side by side as a terminal table, one
// column per report (surge run gives one, surge compare two).
func WriteTable(w io.Writer, reps ...*Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, row := range tableRows(reps) {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	return tw.Flush()
}

// WriteMarkdown writes the same table as WriteTable in Markdown.
func WriteMarkdown(w io.Writer, reps ...*Report) error {
	rows := tableRows(reps)
	var b strings.Builder
	for i, row := range rows {
		cells := make([]string, len(row))
		for j, c := range row {
			c = strings.ReplaceAll(c, "|", "\\|")
			switch {
			case j == 0 && strings.HasPrefix(c, "  "):
				c = "&nbsp;&nbsp;" + strings.TrimSpace(c)
			case j == 0 && c != "":
				c = "**" + c + "**"
			}
			cells[j] = c
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
		if i == 0 {
			b.WriteString("|---" + strings.Repeat("|--:", len(row)-1) + "|\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tableRows lays out the report: a header row of modes, then one row per
// figure; section rows have only a name.
func tableRows(reps []*Report) [][]string {
	t := &table{reps: reps}
	t.summary()
	t.visitors()
	t.latency()
	t.admission()
	t.origin()
	t.surge()
	t.errors()
	return t.rows
}

// table is a report table being laid out: a name, then one cell per report.
type table struct {
	reps []*Report
	rows [][]string
}

// row adds a figure, f giving its cell for each report.
func (t *table) row(name string, f func(r *Report) string) {
	cells := []string{name}
	for _, r := range t.reps {
		cells = append(cells, f(r))
	}
	t.rows = append(t.rows, cells)
}

// section adds a heading row, its cells empty.
func (t *table) section(name string) {
	cells := []string{name}
	for range t.reps {
		cells = append(cells, "")
	}
	t.rows = append(t.rows, cells)
}

// summary is the header row of modes and what was run, for how long.
func (t *table) summary() {
	t.row("", func(r *Report) string { return r.Mode })
	t.row("target", func(r *Report) string { return r.Target })
	t.row("visitors / profile", func(r *Report) string { return fmt.Sprintf("%d %s", r.Crowd.Visitors, r.Crowd.Profile) })
	t.row("elapsed", func(r *Report) string {
		s := (time.Duration(r.Elapsed * float64(time.Second))).Round(10 * time.Millisecond).String()
		if r.Interrupted {
			s += " (stopped)"
		}
		return s
	})
}

func (t *table) visitors() {
	t.section("throughput")
	t.row("  requests/s", func(r *Report) string { return f1(r.RequestsPerSecond) })
	t.row("  orders/s", func(r *Report) string { return f1(r.OrdersPerSecond) })
	t.section("visitors")
	t.row("  arrived", func(r *Report) string { return itoa(r.Visitors.Arrived) })
	t.row("  queued", func(r *Report) string { return itoa(r.Visitors.Queued) })
	t.row("  admitted (at once)", func(r *Report) string {
		return fmt.Sprintf("%d (%d)", r.Visitors.Admitted, r.Visitors.AdmittedAtOnce)
	})
	t.row("  bought", func(r *Report) string { return itoa(r.Visitors.Bought) })
	t.row("  sold out", func(r *Report) string { return itoa(r.Visitors.SoldOut) })
	t.row("  abandoned", func(r *Report) string { return itoa(r.Visitors.Abandoned) })
	t.row("  still waiting", func(r *Report) string { return itoa(r.Visitors.StillWaiting) })
	t.row("  failed", func(r *Report) string { return itoa(r.Visitors.Failed) })
}

// latency has a row for each request kind some report measured, so a
// direct run shows no WebSocket rows.
func (t *table) latency() {
	t.section("latency p50 / p95 / p99 ms")
	for _, k := range requestKinds {
		if !anyLatency(t.reps, k) {
			continue
		}
		t.row("  "+k, func(r *Report) string { return pct(r.Latency[k]) })
	}
	t.row("  wait (queue)", func(r *Report) string { return pct(r.Wait) })
}

func (t *table) admission() {
	t.section("admission")
	t.row("  configured /min", func(r *Report) string { return known(int64(r.Admission.ConfiguredPerMinute)) })
	t.row("  achieved /min", func(r *Report) string { return f1(r.Admission.AchievedPerMinute) })
	t.row("  max active", func(r *Report) string { return known(int64(r.Admission.MaxActive)) })
	t.row("  peak active", func(r *Report) string { return known(r.Admission.ActivePeak) })
	t.row("  FIFO inversions", func(r *Report) string {
		return fmt.Sprintf("%d of %d (observed %d)", r.FIFO.Inversions, r.FIFO.Checked, r.FIFO.ObservedInversions)
	})
	t.row("  position increases", func(r *Report) string { return itoa(r.FIFO.PositionIncreases) })
}

func (t *table) origin() {
	t.section("origin")
	t.row("  stock before -> after", func(r *Report) string {
		return known(r.Stock.RemainingBefore) + " -> " + known(r.Stock.RemainingAfter)
	})
	t.row("  tickets confirmed", func(r *Report) string { return itoa(r.Stock.TicketsConfirmed) })
	t.row("  oversell", func(r *Report) string { return known(r.Stock.Oversell) })
	t.row("  peak in-flight", func(r *Report) string {
		s := known(r.Origin.InflightMax)
		if r.Origin.InflightMaxBefore > 0 {
			s += " (before run " + itoa(r.Origin.InflightMaxBefore) + ")"
		}
		return s
	})
	t.row("  in-flight sampled max", func(r *Report) string { return known(r.Origin.InflightSampledMax) })
	t.row("  5xx responses", func(r *Report) string { return itoa(r.Origin.Status5xx) })
}

// surge is surge's own footprint: a crowd that starved its own machine
// measured the machine, not the target.
func (t *table) surge() {
	t.section("surge itself")
	t.row("  peak waiting / goroutines", func(r *Report) string {
		return fmt.Sprintf("%d / %d", r.Client.PeakWaiting, r.Client.PeakGoroutines)
	})
	t.row("  peak heap / RSS MiB", func(r *Report) string {
		return fmt.Sprintf("%.0f / %.0f", float64(r.Client.PeakHeapBytes)/(1<<20), float64(r.Client.PeakRSSBytes)/(1<<20))
	})
}

// errors has a row per error kind any report saw, and no section without.
func (t *table) errors() {
	kinds := errorKinds(t.reps)
	if len(kinds) == 0 {
		return
	}
	t.section("errors")
	for _, k := range kinds {
		t.row("  "+k, func(r *Report) string { return itoa(r.Errors[k]) })
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// known is v, or "n/a" for the -1 of a figure that was not read.
func known(v int64) string {
	if v < 0 {
		return "n/a"
	}
	return itoa(v)
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func pct(p Percentiles) string {
	if p.Count == 0 {
		return "-"
	}
	return f1(p.P50) + " / " + f1(p.P95) + " / " + f1(p.P99)
}

func anyLatency(reps []*Report, k string) bool {
	for _, r := range reps {
		if r.Latency[k].Count > 0 {
			return true
		}
	}
	return false
}

func errorKinds(reps []*Report) []string {
	seen := map[string]bool{}
	for _, r := range reps {
		for k := range r.Errors {
			seen[k] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ProgressLine renders a Progress as one line for a terminal.
func ProgressLine(p Progress) string {
	const width = 20
	done := 0
	if p.Visitors > 0 {
		done = int(p.Arrived * width / int64(p.Visitors))
	}
	return fmt.Sprintf("[%s%s] %5.0fs  arrived %d/%d  waiting %d  admitted %d  orders %d  requests %d  errors %d",
		strings.Repeat("#", done), strings.Repeat(".", width-done), p.Elapsed.Seconds(),
		p.Arrived, p.Visitors, p.Waiting, p.Admitted, p.Orders, p.Requests, p.Errors)
}
