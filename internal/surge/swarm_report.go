package surge

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// swarmRows are the report's rows: a label and the round's figure.
var swarmRows = []struct {
	label string
	val   func(r SwarmResult, k int) string
}{
	{"protections", func(r SwarmResult, _ int) string { return protections(r) }},
	{"places in line (humans / bots)", func(r SwarmResult, _ int) string {
		return fmt.Sprintf("%d (%d / %d)", r.Line, r.HumanPlaces, r.BotPlaces)
	}},
	{"humans without a place", func(r SwarmResult, _ int) string { return fmt.Sprint(r.HumanFailed) }},
	{"bots' share of the first K admissions", func(r SwarmResult, k int) string {
		return fmt.Sprintf("%.1f %% (%d of %d)", 100*r.BotShareFirst, r.BotsInFirst, min(k, r.Line))
	}},
	{"humans' displacement p50 / p95 (places)", func(r SwarmResult, _ int) string {
		return fmt.Sprintf("%.0f / %.0f", r.DisplacementP50, r.DisplacementP95)
	}},
	{"  as a share of the line", func(r SwarmResult, _ int) string {
		return fmt.Sprintf("%.2f %% / %.2f %%", 100*r.DisplacementP50Of, 100*r.DisplacementP95Of)
	}},
	{"bot places ahead of a human p50 / p95", func(r SwarmResult, _ int) string {
		return fmt.Sprintf("%.0f / %.0f", r.BotsAheadP50, r.BotsAheadP95)
	}},
	{"humans' wait for a counted place p50 / p95", func(r SwarmResult, _ int) string {
		return fmt.Sprintf("%.2f s / %.2f s", r.PlaceWaitP50, r.PlaceWaitP95)
	}},
	{"gateway's first answer to a human p50 / p95", func(r SwarmResult, _ int) string {
		return fmt.Sprintf("%.2f s / %.2f s", r.FirstAnswerP50, r.FirstAnswerP95)
	}},
	{"humans' requests asked again", func(r SwarmResult, _ int) string { return retries(r.HumanRetries) }},
	{"bot joins tried / limited / busy / errors", func(r SwarmResult, _ int) string {
		return fmt.Sprintf("%d / %d / %d / %d", r.BotAttempts, r.BotLimited, r.BotBusy, r.BotErrors)
	}},
	{"bot tolls solved", func(r SwarmResult, _ int) string { return fmt.Sprint(r.BotTolls) }},
	{"bot CPU", func(r SwarmResult, _ int) string { return fmt.Sprintf("%.1f s", r.BotCPUSeconds) }},
	{"bot places per CPU-second", func(r SwarmResult, _ int) string {
		return fmt.Sprintf("%.1f", r.BotPlacesPerCPUSecond)
	}},
}

// retries is "0", or the count by reason: "12 (busy 10, limited 2)".
func retries(m map[string]int64) string {
	var n int64
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		n += m[k]
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

func protections(r SwarmResult) string {
	var p []string
	if r.ClientPlacesPerMinute > 0 || r.ClientPlacesHeld > 0 {
		p = append(p, fmt.Sprintf("limits %d/min, %d held", r.ClientPlacesPerMinute, r.ClientPlacesHeld))
	}
	if r.Toll {
		p = append(p, fmt.Sprintf("toll %gs", r.TollSeconds))
	}
	if len(p) == 0 {
		return "none"
	}
	return strings.Join(p, ", ")
}

// WriteSwarmTable writes the swarm report as a terminal table, a column
// per round.
func WriteSwarmTable(w io.Writer, rep *SwarmReport) error {
	fmt.Fprintf(w, "swarm: %d humans arriving over %gs, %d bots x %d joins (%d at once each, tolls on %d core(s)) from %s, rounds of %gs; K = %d\n\n",
		rep.Humans, rep.Spread, rep.Bots, rep.BotJoins, rep.BotConns, rep.BotCores, strings.Join(rep.BotAddrs, " "), rep.Window, rep.First)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "\t")
	for _, r := range rep.Rounds {
		fmt.Fprintf(tw, "%s (%s)\t", r.Name, r.Room)
	}
	fmt.Fprintln(tw)
	for _, row := range swarmRows {
		fmt.Fprint(tw, row.label+"\t")
		for _, r := range rep.Rounds {
			fmt.Fprint(tw, row.val(r, rep.First)+"\t")
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// WriteSwarmMarkdown writes the report as a Markdown table.
func WriteSwarmMarkdown(w io.Writer, rep *SwarmReport) error {
	var b strings.Builder
	b.WriteString("| |")
	for _, r := range rep.Rounds {
		fmt.Fprintf(&b, " %s |", r.Name)
	}
	b.WriteString("\n|---|")
	for range rep.Rounds {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, row := range swarmRows {
		fmt.Fprintf(&b, "| %s |", strings.TrimSpace(row.label))
		for _, r := range rep.Rounds {
			fmt.Fprintf(&b, " %s |", row.val(r, rep.First))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SwarmFrontSVG draws, per round, how many of the first places in line
// bots hold: a line that stays flat near 0 is a front of the line that
// belongs to people.
func SwarmFrontSVG(rep *SwarmReport) string {
	const W, H, L, B = 640, 280, 56, 36
	maxX, maxY := 1, 1
	for _, r := range rep.Rounds {
		maxX = max(maxX, len(r.FrontBots)*r.FrontStep)
		for _, v := range r.FrontBots {
			maxY = max(maxY, v)
		}
	}
	ny := niceCeil(float64(maxY))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" style="background:#fff;font-family:sans-serif" role="img">`, W, H, W, H)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">Bot places among the first places in line</text>`, L)
	x0, y0, x1, y1 := L, H-B, W-16, 30
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, x0, y0, x1, y0, x0, y0, x0, y1)
	for i := 0; i <= 4; i++ {
		v := ny * float64(i) / 4
		y := float64(y0) - float64(y0-y1)*float64(i)/4
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-size="11" text-anchor="end">%s</text>`, x0-6, y+4, short(v))
		xv := float64(maxX) * float64(i) / 4
		x := float64(x0) + float64(x1-x0)*float64(i)/4
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" font-size="11" text-anchor="middle">%s</text>`, x, y0+16, short(xv))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="middle">place in line</text>`, (x0+x1)/2, H-4)
	for i, r := range rep.Rounds {
		color := lineColors[i%len(lineColors)]
		var pts []string
		pts = append(pts, fmt.Sprintf("%d,%d", x0, y0))
		for j, v := range r.FrontBots {
			x := float64(x0) + float64(x1-x0)*float64((j+1)*r.FrontStep)/float64(maxX)
			y := float64(y0) - float64(y0-y1)*float64(v)/ny
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="%s">%s: %s</text>`, x0+10, y1+14+16*i, color, template.HTMLEscapeString(r.Name), template.HTMLEscapeString(protections(r)))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// WriteSwarmHTML writes a self-contained page: the table, the chart and
// the report's JSON.
func WriteSwarmHTML(w io.Writer, title string, rep *SwarmReport) error {
	var table strings.Builder
	if err := WriteSwarmTable(&table, rep); err != nil {
		return err
	}
	js, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return swarmTmpl.Execute(w, map[string]any{
		"Title": title,
		"Table": table.String(),
		"Chart": template.HTML(SwarmFrontSVG(rep)),
		"JSON":  template.JS(js),
	})
}

var swarmTmpl = template.Must(template.New("swarm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:60em}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head>
<body><h1>{{.Title}}</h1>
<p>People and bots ask for places in the same second; the room is paused, so the line at the end is the order admission follows.</p>
<pre>{{.Table}}</pre>
{{.Chart}}
<script type="application/json" id="report">{{.JSON}}</script>
</body></html>
`))
