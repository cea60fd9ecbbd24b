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
	var rows [][]string
	row := func(name string, f func(r *Report) string) {
		cells := []string{name}
		for _, r := range reps {
			cells = append(cells, f(r))
		}
		rows = append(rows, cells)
	}
	section := func(name string) {
		cells := []string{name}
		for range reps {
			cells = append(cells, "")
		}
		rows = append(rows, cells)
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	known := func(v int64) string {
		if v < 0 {
			return "n/a"
		}
		return i(v)
	}
	f1 := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

	row("", func(r *Report) string { return r.Mode })
	row("target", func(r *Report) string { return r.Target })
	row("visitors / profile", func(r *Report) string { return fmt.Sprintf("%d %s", r.Crowd.Visitors, r.Crowd.Profile) })
	row("elapsed", func(r *Report) string {
		s := (time.Duration(r.Elapsed * float64(time.Second))).Round(10 * time.Millisecond).String()
		if r.Interrupted {
			s += " (stopped)"
		}
		return s
	})
	section("throughput")
	row("  requests/s", func(r *Report) string { return f1(r.RequestsPerSecond) })
	row("  orders/s", func(r *Report) string { return f1(r.OrdersPerSecond) })
	section("visitors")
	row("  arrived", func(r *Report) string { return i(r.Visitors.Arrived) })
	row("  queued", func(r *Report) string { return i(r.Visitors.Queued) })
	row("  admitted (at once)", func(r *Report) string {
		return fmt.Sprintf("%d (%d)", r.Visitors.Admitted, r.Visitors.AdmittedAtOnce)
	})
	row("  bought", func(r *Report) string { return i(r.Visitors.Bought) })
	row("  sold out", func(r *Report) string { return i(r.Visitors.SoldOut) })
	row("  abandoned", func(r *Report) string { return i(r.Visitors.Abandoned) })
	row("  still waiting", func(r *Report) string { return i(r.Visitors.StillWaiting) })
	row("  failed", func(r *Report) string { return i(r.Visitors.Failed) })
	section("latency p50 / p95 / p99 ms")
	for _, k := range requestKinds {
		if !anyLatency(reps, k) {
			continue
		}
		row("  "+k, func(r *Report) string { return pct(r.Latency[k]) })
	}
	row("  wait (queue)", func(r *Report) string { return pct(r.Wait) })
	section("admission")
	row("  configured /min", func(r *Report) string { return known(int64(r.Admission.ConfiguredPerMinute)) })
	row("  achieved /min", func(r *Report) string { return f1(r.Admission.AchievedPerMinute) })
	row("  max active", func(r *Report) string { return known(int64(r.Admission.MaxActive)) })
	row("  peak active", func(r *Report) string { return known(r.Admission.ActivePeak) })
	row("  FIFO inversions", func(r *Report) string {
		return fmt.Sprintf("%d of %d (observed %d)", r.FIFO.Inversions, r.FIFO.Checked, r.FIFO.ObservedInversions)
	})
	row("  position increases", func(r *Report) string { return i(r.FIFO.PositionIncreases) })
	section("origin")
	row("  stock before -> after", func(r *Report) string {
		return known(r.Stock.RemainingBefore) + " -> " + known(r.Stock.RemainingAfter)
	})
	row("  tickets confirmed", func(r *Report) string { return i(r.Stock.TicketsConfirmed) })
	row("  oversell", func(r *Report) string { return known(r.Stock.Oversell) })
	row("  peak in-flight", func(r *Report) string {
		s := known(r.Origin.InflightMax)
		if r.Origin.InflightMaxBefore > 0 {
			s += " (before run " + i(r.Origin.InflightMaxBefore) + ")"
		}
		return s
	})
	row("  in-flight sampled max", func(r *Report) string { return known(r.Origin.InflightSampledMax) })
	row("  5xx responses", func(r *Report) string { return i(r.Origin.Status5xx) })
	section("surge itself")
	row("  peak waiting / goroutines", func(r *Report) string {
		return fmt.Sprintf("%d / %d", r.Client.PeakWaiting, r.Client.PeakGoroutines)
	})
	row("  peak heap / RSS MiB", func(r *Report) string {
		return fmt.Sprintf("%.0f / %.0f", float64(r.Client.PeakHeapBytes)/(1<<20), float64(r.Client.PeakRSSBytes)/(1<<20))
	})
	kinds := errorKinds(reps)
	if len(kinds) > 0 {
		section("errors")
		for _, k := range kinds {
			row("  "+k, func(r *Report) string { return i(r.Errors[k]) })
		}
	}
	return rows
}

func pct(p Percentiles) string {
	if p.Count == 0 {
		return "-"
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	return f(p.P50) + " / " + f(p.P95) + " / " + f(p.P99)
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
