package surge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// WriteHTML writes a self-contained HTML report of the runs: the table and
// one chart per measure over time (waiting, admitted/s, orders/s, origin
// latency, origin in-flight), each run a line. Charts are inline SVG; the
// page loads nothing from anywhere. The runs' JSON is embedded too.
func WriteHTML(w io.Writer, title string, reps ...*Report) error {
	var table bytes.Buffer
	if err := WriteTable(&table, reps...); err != nil {
		return err
	}
	js, err := json.Marshal(reps)
	if err != nil {
		return err
	}
	var svgs []template.HTML
	for _, c := range charts {
		svgs = append(svgs, template.HTML(chartSVG(c.title, c.unit, reps, c.val)))
	}
	return pageTmpl.Execute(w, map[string]any{
		"Title":  title,
		"Table":  table.String(),
		"Charts": svgs,
		"JSON":   template.JS(js), // marshalled by encoding/json, which escapes <, > and &
		"Runs":   reps,
	})
}

// WriteSVGs writes each chart of the HTML report as its own SVG file in
// dir (waiting.svg, admitted.svg, orders.svg, origin-latency.svg,
// origin-inflight.svg, errors.svg), for documents that embed images.
func WriteSVGs(dir string, reps ...*Report) error {
	for _, c := range charts {
		svg := strings.Replace(chartSVG(c.title, c.unit, reps, c.val), "<svg ", `<svg xmlns="http://www.w3.org/2000/svg" style="background:#fff;font-family:sans-serif" `, 1)
		if err := os.WriteFile(filepath.Join(dir, c.file+".svg"), []byte(svg), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// charts are the measures drawn over time.
var charts = []struct {
	file, title, unit string
	val               func(Second) float64
}{
	{"waiting", "Visitors waiting", "visitors", func(s Second) float64 { return float64(s.Waiting) }},
	{"admitted", "Admitted per second", "visitors/s", func(s Second) float64 { return float64(s.Admitted) }},
	{"orders", "Orders per second", "orders/s", func(s Second) float64 { return float64(s.Orders) }},
	{"origin-latency", "Origin latency (mean per second)", "ms", func(s Second) float64 { return s.OriginMean }},
	{"origin-inflight", "Origin in-flight requests", "requests", func(s Second) float64 { return float64(max(s.Inflight, 0)) }},
	{"errors", "Errors per second", "errors/s", func(s Second) float64 { return float64(s.Errors) }},
}

var lineColors = []string{"#c0392b", "#1f6fb2", "#2e8b57", "#8e44ad"}

// chartSVG draws one line per report of val over the run's seconds.
func chartSVG(title, unit string, reps []*Report, val func(Second) float64) string {
	const W, H, left, right, top, bottom = 640.0, 220.0, 56.0, 12.0, 28.0, 30.0
	maxT, maxV := 1.0, 0.0
	for _, r := range reps {
		maxT = math.Max(maxT, float64(len(r.Series)-1))
		for _, s := range r.Series {
			maxV = math.Max(maxV, val(s))
		}
	}
	maxV = niceCeil(maxV)
	x := func(t float64) float64 { return left + t/maxT*(W-left-right) }
	y := func(v float64) float64 { return H - bottom - v/maxV*(H-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s">`, W, H, W, H, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="16" font-weight="bold">%s</text>`, left, template.HTMLEscapeString(title))
	for k := 0; k <= 4; k++ {
		v := maxV * float64(k) / 4
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, left, W-right, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="11">%s</text>`, left-4, y(v)+4, short(v))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end">%s, over seconds (0-%.0f)</text>`, W-right, H-8, template.HTMLEscapeString(unit), maxT)
	for i, r := range reps {
		if len(r.Series) == 0 {
			continue
		}
		var pts []string
		for _, s := range r.Series {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(s.T)), y(val(s))))
		}
		c := lineColors[i%len(lineColors)]
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, c, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="%s">%s</text>`, W-right-120, top+14*float64(i), c, template.HTMLEscapeString(r.Mode))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func short(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

var pageTmpl = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1340px;margin:2em auto;padding:0 1em;color:#222}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
svg{background:#fff;border:1px solid #ddd;max-width:100%;height:auto;font-family:inherit}
</style></head><body>
<h1>{{.Title}}</h1>
<p>{{range $i, $r := .Runs}}{{if $i}}, {{end}}{{$r.Mode}} run at {{$r.Target}} started {{$r.Started.Format "2006-01-02 15:04:05 UTC"}}{{end}}.</p>
<pre>{{.Table}}</pre>
<h2>Over time</h2>
<div class="charts">{{range .Charts}}{{.}}{{end}}</div>
<h2>Data</h2>
<details><summary>JSON of the run{{if gt (len .Runs) 1}}s{{end}}</summary><pre id="json"></pre></details>
<script>document.getElementById("json").textContent = JSON.stringify({{.JSON}}, null, 2);</script>
</body></html>
`))
