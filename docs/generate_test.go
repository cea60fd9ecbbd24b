package docs

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/surge"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/internal/ticketd"
)

// The writers of the generated tables: each reads one definition in the
// code (a configuration struct, surge's flag set, the report type, the
// metric definitions) and renders it as the table the reference holds.

func gatewayVariables() []envVar { return envVarsOf(fieldTags(gateway.Config{})) }

func ticketdVariables() []envVar { return envVarsOf(fieldTags(ticketd.Config{})) }

// surgeVariables reads surge's environment struct from its source: it
// lives in package main, which a test cannot import.
func surgeVariables(t *testing.T) []envVar {
	return envVarsOf(structTags(t, "cmd/surge", "environment"))
}

// binary builds the three commands once per test run and returns the path
// of one of them.
func binary(t *testing.T, name string) string {
	t.Helper()
	dir := testenv.BuildBinaries(t, testenv.Build{Packages: []string{"./cmd/waitroom", "./cmd/ticketd", "./cmd/surge"}})
	return filepath.Join(dir, name)
}

// help runs a command with -h in an empty environment and returns what it
// printed.
func help(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command(binary(t, name), "-h")
	cmd.Env = []string{}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s -h: %v\n%s", name, err, out.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("%s -h did not return", name)
	}
	return out.String()
}

// flagDoc is one flag as flag.PrintDefaults shows it.
type flagDoc struct {
	name, typ, def, usage string
}

var (
	flagLineRE = regexp.MustCompile(`^  -(\S+)(?: (\S+))?$`)
	defaultRE  = regexp.MustCompile(` \(default (.+)\)$`)
)

// surgeFlags reads surge's flags, defaults and meanings from `surge -h`.
func surgeFlags(t *testing.T) []flagDoc {
	t.Helper()
	out := help(t, "surge")
	_, flags, ok := strings.Cut(out, "\nFlags:\n")
	if !ok {
		t.Fatalf("surge -h has no Flags: section:\n%s", out)
	}
	var docs []flagDoc
	for _, line := range strings.Split(flags, "\n") {
		if m := flagLineRE.FindStringSubmatch(line); m != nil {
			docs = append(docs, flagDoc{name: m[1], typ: m[2]})
			continue
		}
		usage, ok := strings.CutPrefix(line, "    \t")
		if !ok || len(docs) == 0 {
			continue
		}
		d := &docs[len(docs)-1]
		d.usage = strings.TrimSpace(d.usage + " " + usage)
	}
	for i := range docs {
		if m := defaultRE.FindStringSubmatch(docs[i].usage); m != nil {
			docs[i].usage = strings.TrimSuffix(docs[i].usage, m[0])
			docs[i].def = m[1]
			if s, err := strconv.Unquote(m[1]); err == nil {
				docs[i].def = s
			}
		}
	}
	if len(docs) == 0 {
		t.Fatalf("no flags read from surge -h:\n%s", out)
	}
	return docs
}

func flagTable(flags []flagDoc) string {
	var b strings.Builder
	b.WriteString("| flag | value | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, f := range flags {
		// flag.PrintDefaults leaves out a zero default: say what it is.
		typ, def := f.typ, f.def
		switch {
		case typ == "":
			typ = "(switch)"
			def = cmp(def, "false")
		case typ == "string" && def == "":
			def = "empty"
		case typ == "duration":
			def = cmp(def, "0s")
		default:
			def = cmp(def, "0")
		}
		if def != "empty" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", f.name, typ, def, cell(f.usage))
	}
	return b.String()
}

// reportTable lists every field of surge's JSON report, depth first, with
// its JSON type and the comment on its Go field.
func reportTable(t *testing.T) string {
	t.Helper()
	notes := comments(sourceFiles(t, "internal/surge"))
	var b strings.Builder
	b.WriteString("| field | type | meaning |\n| --- | --- | --- |\n")
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			path := prefix + name
			kind, inner, innerPath := jsonKind(f.Type, path)
			note := withoutName(notes[typ.Name()+"."+f.Name], f.Name)
			if note == "" && inner != nil {
				note = withoutName(notes[inner.Name()], inner.Name())
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", path, kind, cell(note))
			if inner != nil {
				walk(inner, innerPath)
			}
		}
	}
	walk(reflect.TypeFor[surge.Report](), "")
	return b.String()
}

// withoutName drops the Go name a doc comment starts with ("Mode is
// \"gateway\" or …" becomes "\"gateway\" or …"): the table names the JSON
// field instead.
func withoutName(note, goName string) string {
	rest, ok := strings.CutPrefix(note, goName+" ")
	if !ok || strings.HasPrefix(rest, "and ") {
		return note
	}
	for _, verb := range []string{"is ", "are "} {
		if r, ok := strings.CutPrefix(rest, verb); ok {
			return r
		}
	}
	return rest
}

// jsonKind names the JSON type of a Go type; for one holding structs it
// also returns the struct type and the path prefix of its fields.
func jsonKind(typ reflect.Type, path string) (kind string, inner reflect.Type, innerPath string) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == reflect.TypeFor[time.Time]() {
		return "time (RFC 3339)", nil, ""
	}
	switch typ.Kind() {
	case reflect.Struct:
		return "object", typ, path + "."
	case reflect.Map:
		k, in, _ := jsonKind(typ.Elem(), "")
		if in != nil {
			return "object of objects", in, path + ".*."
		}
		return "object of " + plural(k), nil, ""
	case reflect.Slice, reflect.Array:
		k, in, _ := jsonKind(typ.Elem(), "")
		if in != nil {
			return "list of objects", in, path + "[]."
		}
		return "list of " + plural(k), nil, ""
	case reflect.String:
		return "string", nil, ""
	case reflect.Bool:
		return "boolean", nil, ""
	}
	return "number", nil, ""
}

func plural(kind string) string {
	if strings.HasSuffix(kind, "s") {
		return kind
	}
	return kind + "s"
}

func metricTable(ms []metric) string {
	var b strings.Builder
	b.WriteString("| metric | labels | meaning |\n| --- | --- | --- |\n")
	for _, m := range ms {
		labels := "none"
		if len(m.labels) > 0 {
			labels = "`" + strings.Join(m.labels, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", m.name, labels, cell(m.help))
	}
	return b.String()
}
