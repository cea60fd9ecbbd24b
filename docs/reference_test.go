// Package docs holds the tests that keep docs/reference.md true to the code.
//
// The reference has two kinds of tables. Those between
// "<!-- generated: NAME -->" and "<!-- end -->" are written from the code by
// TestReferenceGenerated: it fails when the file differs, and
// WAITROOM_UPDATE_REFERENCE=1 makes it rewrite them. Those between
// "<!-- checked: NAME -->" and "<!-- end -->" are written by hand; the other
// tests compare the names in them with the code (struct tags, constants,
// literals in the source) and with what a real gateway, admin listener and
// ticketd answer, so that neither can change without the other.
package docs

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/internal/testenv"
)

// referenceFile is the file under test, relative to this package.
const referenceFile = "reference.md"

// updateVar names the variable that makes TestReferenceGenerated rewrite
// the generated tables instead of failing.
const updateVar = "WAITROOM_UPDATE_REFERENCE"

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}

// section is the body of one marked table of the reference: the text
// between its opening marker's line and "<!-- end -->".
type section struct {
	kind, name string // "generated" or "checked"; its name
	start, end int    // the body's bounds in the file
	body       string
}

var markerRE = regexp.MustCompile(`<!-- (generated|checked): ([^>]+?) -->\n`)

const endMarker = "<!-- end -->"

// readReference reads the reference and its marked sections, by name.
func readReference(t *testing.T) (string, map[string]section) {
	t.Helper()
	b, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	secs := map[string]section{}
	for _, m := range markerRE.FindAllStringSubmatchIndex(doc, -1) {
		s := section{kind: doc[m[2]:m[3]], name: doc[m[4]:m[5]], start: m[1]}
		end := strings.Index(doc[s.start:], endMarker)
		if end < 0 {
			t.Fatalf("%s: %s %q has no %s", referenceFile, s.kind, s.name, endMarker)
		}
		s.end = s.start + end
		s.body = doc[s.start:s.end]
		if markerRE.MatchString(s.body) {
			t.Fatalf("%s: %s %q is not closed before the next marker", referenceFile, s.kind, s.name)
		}
		if _, dup := secs[s.name]; dup {
			t.Fatalf("%s: two sections named %q", referenceFile, s.name)
		}
		secs[s.name] = s
	}
	return doc, secs
}

// checked returns the rows of the checked table name.
func checked(t *testing.T, name string) []row {
	t.Helper()
	_, secs := readReference(t)
	s, ok := secs[name]
	if !ok || s.kind != "checked" {
		t.Fatalf("%s has no <!-- checked: %s --> table", referenceFile, name)
	}
	rows := tableRows(s.body)
	if len(rows) == 0 {
		t.Fatalf("%s: the table %q has no rows", referenceFile, name)
	}
	return rows
}

// row is one table row's cells, trimmed.
type row []string

// tableRows parses a Markdown table: every line starting with "|" after
// the header and its separator.
func tableRows(body string) []row {
	var rows []row
	seen := 0
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		seen++
		if seen <= 2 {
			continue // header, separator
		}
		line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
		rows = append(rows, splitCells(line))
	}
	return rows
}

// splitCells splits a row (without its outer pipes) at every '|' that is
// not escaped.
func splitCells(line string) row {
	var cells row
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

var tickRE = regexp.MustCompile("`([^`]+)`")

// ticks lists the `code spans` of a cell.
func ticks(cell string) []string {
	var out []string
	for _, m := range tickRE.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// firstTicks lists the first code span of every row's first cell.
func firstTicks(t *testing.T, rows []row) []string {
	t.Helper()
	var out []string
	for _, r := range rows {
		if ts := ticks(r[0]); len(ts) > 0 {
			out = append(out, ts[0])
		}
	}
	return out
}

// sameSet fails the test unless the documented names are the code's, each
// once, naming what is missing on either side.
func sameSet(t *testing.T, what string, documented, code []string) {
	t.Helper()
	d, c := setOf(documented), setOf(code)
	for _, name := range sorted(d) {
		if !c[name] {
			t.Errorf("%s: %s documents %q, which the code does not have", what, referenceFile, name)
		}
	}
	for _, name := range sorted(c) {
		if !d[name] {
			t.Errorf("%s: the code has %q, which %s does not document", what, name, referenceFile)
		}
	}
	seen := map[string]bool{}
	for _, name := range documented {
		if seen[name] {
			t.Errorf("%s: %s documents %q twice", what, referenceFile, name)
		}
		seen[name] = true
	}
}

func setOf(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestReferenceGenerated regenerates every generated table and compares
// it with the file; with WAITROOM_UPDATE_REFERENCE=1 it writes them instead.
func TestReferenceGenerated(t *testing.T) {
	doc, secs := readReference(t)
	want := map[string]string{
		"waitroom variables": envTable(gatewayVariables()),
		"ticketd variables":  envTable(ticketdVariables()),
		"surge variables":    envTable(surgeVariables(t)),
		"surge flags":        flagTable(surgeFlags(t)),
		"surge report":       reportTable(t),
		"waitroom metrics":   metricTable(metricsOf(t, sourceFiles(t, "gateway"))),
		"ticketd metrics":    metricTable(metricsOf(t, sourceFiles(t, "internal/ticketd"))),
	}
	for _, s := range secs {
		if s.kind == "generated" && want[s.name] == "" {
			t.Errorf("%s: <!-- generated: %s --> is not a table this test knows how to write", referenceFile, s.name)
		}
	}
	// Replace from the last section backwards, so earlier offsets hold.
	names := sorted(want)
	slices.SortFunc(names, func(a, b string) int { return secs[b].start - secs[a].start })
	out := doc
	var stale []string
	for _, name := range names {
		s, ok := secs[name]
		if !ok || s.kind != "generated" {
			t.Errorf("%s has no <!-- generated: %s --> table; add the marker and run %s=1 go test ./docs", referenceFile, name, updateVar)
			continue
		}
		if s.body != want[name] {
			stale = append(stale, name)
			t.Logf("%s: %q differs from the code:\n%s", referenceFile, name, firstDifference(s.body, want[name]))
		}
		out = out[:s.start] + want[name] + out[s.end:]
	}
	if len(stale) == 0 {
		return
	}
	if os.Getenv(updateVar) == "1" {
		if err := os.WriteFile(referenceFile, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s: %s", referenceFile, strings.Join(stale, ", "))
		return
	}
	sort.Strings(stale)
	t.Errorf("docs/%s is out of date (%s): run %s=1 go test ./docs to rewrite its generated tables from the code, and commit the result",
		referenceFile, strings.Join(stale, ", "), updateVar)
}

// firstDifference shows the first line where got and want part.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("  line %d of the table\n  file: %s\n  code: %s", i+1, gl, wl)
		}
	}
	return ""
}

// envVar is one environment variable of a binary.
type envVar struct {
	name, def, desc string
	required        bool
}

// envVarsOf reads the variables of a configuration struct's tags, as
// httpx.Usage prints them.
func envVarsOf(tags []reflect.StructTag) []envVar {
	var out []envVar
	for _, tag := range tags {
		name, opts, _ := strings.Cut(tag.Get("env"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, envVar{
			name: name, def: tag.Get("envDefault"), desc: tag.Get("desc"),
			required: slices.Contains(strings.Split(opts, ","), "required"),
		})
	}
	return out
}

func fieldTags(v any) []reflect.StructTag {
	var out []reflect.StructTag
	for f := range reflect.TypeOf(v).Fields() {
		out = append(out, f.Tag)
	}
	return out
}

func envTable(vars []envVar) string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n| --- | --- | --- |\n")
	for _, v := range vars {
		def := "empty"
		switch {
		case v.required:
			def = "required"
		case v.def != "":
			def = "`" + v.def + "`"
		}
		desc := v.desc
		if desc == "" {
			desc = "(no desc tag)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.name, def, cell(desc))
	}
	return b.String()
}

// cell makes text safe inside a table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
