package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// What the reference says about names that live in unexported types or in
// literals (a rooms file entry, an error code, a status a handler writes)
// is checked against the source itself, read with go/parser. These helpers
// read it; they know the shapes the code uses (a struct's tags, a map
// literal's "error" key, a call's argument) and nothing of its logic.

// root is the module root, seen from this package's directory.
const root = ".."

var parsed struct {
	sync.Mutex
	dirs map[string][]*ast.File
}

// sourceFiles parses the non-test Go files of a package directory (relative
// to the module root), with comments.
func sourceFiles(t *testing.T, dir string) []*ast.File {
	t.Helper()
	parsed.Lock()
	defer parsed.Unlock()
	if files, ok := parsed.dirs[dir]; ok {
		return files
	}
	entries, err := os.ReadDir(filepath.Join(root, dir))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(root, dir, name), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if parsed.dirs == nil {
		parsed.dirs = map[string][]*ast.File{}
	}
	parsed.dirs[dir] = files
	return files
}

// sourceOf is the files of several package directories.
func sourceOf(t *testing.T, dirs ...string) []*ast.File {
	t.Helper()
	var out []*ast.File
	for _, d := range dirs {
		out = append(out, sourceFiles(t, d)...)
	}
	return out
}

// structType finds the struct type typeName declared in files.
func structType(t *testing.T, files []*ast.File, typeName string) *ast.StructType {
	t.Helper()
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range gd.Specs {
				ts, ok := s.(*ast.TypeSpec)
				if !ok || ts.Name.Name != typeName {
					continue
				}
				if st, ok := ts.Type.(*ast.StructType); ok {
					return st
				}
			}
		}
	}
	t.Fatalf("no struct type %s in the source", typeName)
	return nil
}

// tagNames lists the names the key tag (json, yaml) gives the fields of
// struct typeName in dir; an embedded struct of the same package adds its
// own.
func tagNames(t *testing.T, dir, typeName, key string) []string {
	t.Helper()
	files := sourceFiles(t, dir)
	var out []string
	for _, field := range structType(t, files, typeName).Fields.List {
		if field.Tag == nil {
			if id, ok := field.Type.(*ast.Ident); ok && len(field.Names) == 0 {
				out = append(out, tagNames(t, dir, id.Name, key)...)
			}
			continue
		}
		tag, err := strconv.Unquote(field.Tag.Value)
		if err != nil {
			t.Fatal(err)
		}
		name, _, _ := strings.Cut(reflect.StructTag(tag).Get(key), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// structTags returns the tags of every field of struct typeName in dir, in
// order.
func structTags(t *testing.T, dir, typeName string) []reflect.StructTag {
	t.Helper()
	var out []reflect.StructTag
	for _, field := range structType(t, sourceFiles(t, dir), typeName).Fields.List {
		if field.Tag == nil {
			continue
		}
		tag, err := strconv.Unquote(field.Tag.Value)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, reflect.StructTag(tag))
	}
	return out
}

// jsonNames lists the JSON names of a struct type's exported fields, as
// encoding/json writes them (embedded structs flattened).
func jsonNames(typ reflect.Type) []string {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	var out []string
	for f := range typ.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonNames(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// stringLit is the value of e when it is a string literal (or a sum of
// them).
func stringLit(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		a, ok1 := stringLit(e.X)
		b, ok2 := stringLit(e.Y)
		return a + b, ok1 && ok2
	case *ast.ParenExpr:
		return stringLit(e.X)
	}
	return "", false
}

// stringLits is every string literal in files.
func stringLits(files []*ast.File) []string {
	var out []string
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok {
				if s, ok := stringLit(lit); ok {
					out = append(out, s)
				}
			}
			return true
		})
	}
	return out
}

// declLits is every string literal inside the top-level declarations (a
// func, or a var/const spec) named name.
func declLits(files []*ast.File, name string) []string {
	var out []string
	collect := func(n ast.Node) {
		ast.Inspect(n, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok {
				if s, ok := stringLit(lit); ok && s != "" {
					out = append(out, s)
				}
			}
			return true
		})
	}
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.Name == name {
					collect(d)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if vs, ok := s.(*ast.ValueSpec); ok {
						for _, n := range vs.Names {
							if n.Name == name {
								collect(vs)
							}
						}
					}
				}
			}
		}
	}
	return out
}

// keyedLits collects the string literal values given to key in composite
// literals: a map key written as the string "key", or a struct field key.
func keyedLits(files []*ast.File, key string) []string {
	var out []string
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			k, isLit := stringLit(kv.Key)
			if id, ok := kv.Key.(*ast.Ident); ok {
				k, isLit = id.Name, true
			}
			if isLit && k == key {
				if v, ok := stringLit(kv.Value); ok {
					out = append(out, v)
				}
			}
			return true
		})
	}
	return out
}

// callLits collects the string literals passed as argument i to calls of a
// function or method named name.
func callLits(files []*ast.File, name string, i int) []string {
	var out []string
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || calleeName(call) != name || len(call.Args) <= i {
				return true
			}
			if v, ok := stringLit(call.Args[i]); ok {
				out = append(out, v)
			}
			return true
		})
	}
	return out
}

func calleeName(call *ast.CallExpr) string {
	switch fn := call.Fun.(type) {
	case *ast.Ident:
		return fn.Name
	case *ast.SelectorExpr:
		return fn.Sel.Name
	}
	return ""
}

// resultLits collects the non-empty string literals that functions return
// in their result named result.
func resultLits(files []*ast.File, result string) []string {
	var out []string
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Type.Results == nil || fd.Body == nil {
				continue
			}
			at, i := -1, 0
			for _, field := range fd.Type.Results.List {
				for _, n := range field.Names {
					if n.Name == result {
						at = i
					}
					i++
				}
			}
			if at < 0 {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if _, ok := n.(*ast.FuncLit); ok {
					return false
				}
				if ret, ok := n.(*ast.ReturnStmt); ok && len(ret.Results) > at {
					if v, ok := stringLit(ret.Results[at]); ok && v != "" {
						out = append(out, v)
					}
				}
				return true
			})
		}
	}
	return out
}

// statusNames maps the names of net/http's status constants (StatusOK,
// StatusNotFound …) to their codes, from their text.
var statusNames = func() map[string]int {
	m := map[string]int{}
	for code := 100; code < 600; code++ {
		text := http.StatusText(code)
		if text == "" {
			continue
		}
		var name strings.Builder
		for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			name.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
		m["Status"+name.String()] = code
	}
	// The constants whose names are not their text.
	m["StatusOK"] = http.StatusOK
	m["StatusRequestEntityTooLarge"] = http.StatusRequestEntityTooLarge
	m["StatusRequestHeaderFieldsTooLarge"] = http.StatusRequestHeaderFieldsTooLarge
	m["StatusRequestURITooLong"] = http.StatusRequestURITooLong
	m["StatusTeapot"] = http.StatusTeapot
	m["StatusNonAuthoritativeInfo"] = http.StatusNonAuthoritativeInfo
	m["StatusHTTPVersionNotSupported"] = http.StatusHTTPVersionNotSupported
	m["StatusIMUsed"] = http.StatusIMUsed
	return m
}()

// writtenStatuses is every status code files answer with: each
// http.StatusX that is not compared with something (res.StatusCode ==
// http.StatusOK reads a status, it does not write one), and each number
// given to WriteHeader.
func writtenStatuses(t *testing.T, files []*ast.File) []int {
	t.Helper()
	set := map[int]bool{}
	for _, f := range files {
		compared := map[ast.Expr]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BinaryExpr:
				compared[n.X], compared[n.Y] = true, true
			case *ast.CaseClause:
				for _, e := range n.List {
					compared[e] = true
				}
			case *ast.CallExpr:
				if calleeName(n) == "WriteHeader" && len(n.Args) == 1 {
					if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Kind == token.INT {
						code, _ := strconv.Atoi(lit.Value)
						set[code] = true
					}
				}
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok || compared[sel] {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "http" || !strings.HasPrefix(sel.Sel.Name, "Status") {
				return true
			}
			code, ok := statusNames[sel.Sel.Name]
			if !ok && sel.Sel.Name == "StatusText" {
				return true
			}
			if !ok {
				t.Fatalf("unknown status constant http.%s: add it to statusNames", sel.Sel.Name)
			}
			set[code] = true
			return true
		})
	}
	out := make([]int, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Ints(out)
	return out
}

// docComment is a field's or type's comment as one line.
func docComment(groups ...*ast.CommentGroup) string {
	for _, g := range groups {
		if g == nil {
			continue
		}
		if s := strings.Join(strings.Fields(g.Text()), " "); s != "" {
			return s
		}
	}
	return ""
}

// comments maps "Type.Field" and "Type" to their comments, for every
// struct type in files.
func comments(files []*ast.File) map[string]string {
	out := map[string]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range gd.Specs {
				ts, ok := s.(*ast.TypeSpec)
				if !ok {
					continue
				}
				out[ts.Name.Name] = docComment(ts.Doc, gd.Doc)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, field := range st.Fields.List {
					for _, n := range field.Names {
						out[ts.Name.Name+"."+n.Name] = docComment(field.Doc, field.Comment)
					}
				}
			}
		}
	}
	return out
}

// metric is one metric a binary defines.
type metric struct {
	name, help string
	labels     []string
}

// metricsOf reads the metrics defined in files: prometheus.NewX(Opts{Name,
// Help}, labels) and prometheus.NewDesc(name, help, labels, …).
func metricsOf(t *testing.T, files []*ast.File) []metric {
	t.Helper()
	var out []metric
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "prometheus" || !strings.HasPrefix(sel.Sel.Name, "New") {
				return true
			}
			var m metric
			switch {
			case sel.Sel.Name == "NewDesc" && len(call.Args) >= 3:
				m.name, _ = stringLit(call.Args[0])
				m.help, _ = stringLit(call.Args[1])
				m.labels = stringList(call.Args[2])
			case len(call.Args) >= 1:
				opts, ok := call.Args[0].(*ast.CompositeLit)
				if !ok {
					return true
				}
				for _, e := range opts.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					switch id, _ := kv.Key.(*ast.Ident); {
					case id == nil:
					case id.Name == "Name":
						m.name, _ = stringLit(kv.Value)
					case id.Name == "Help":
						m.help, _ = stringLit(kv.Value)
					}
				}
				if strings.HasSuffix(sel.Sel.Name, "Vec") && len(call.Args) >= 2 {
					m.labels = stringList(call.Args[1])
				}
			default:
				return true
			}
			if m.name == "" {
				t.Fatalf("a prometheus.%s whose name is not a string literal: the reference cannot list it", sel.Sel.Name)
			}
			out = append(out, m)
			return true
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func stringList(e ast.Expr) []string {
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, el := range cl.Elts {
		if s, ok := stringLit(el); ok {
			out = append(out, s)
		}
	}
	return out
}

// constStrings maps the string constants declared in a package directory
// to their values, by name.
func constStrings(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range sourceFiles(t, dir) {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if v, ok := stringLit(vs.Values[i]); ok {
							out[n.Name] = v
						}
					}
				}
			}
		}
	}
	return out
}

// constString is the value of a string expression made of literals and
// constants: local names from local, pkg.Name from imported.
func constString(e ast.Expr, local, imported map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.Ident:
		v, ok := local[e.Name]
		return v, ok
	case *ast.SelectorExpr:
		if pkg, ok := e.X.(*ast.Ident); ok {
			v, ok := imported[pkg.Name+"."+e.Sel.Name]
			return v, ok
		}
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			a, ok1 := constString(e.X, local, imported)
			b, ok2 := constString(e.Y, local, imported)
			return a + b, ok1 && ok2
		}
	case *ast.ParenExpr:
		return constString(e.X, local, imported)
	}
	return stringLit(e)
}

// muxPatterns lists the patterns that the function fn of package dir
// registers with Handle or HandleFunc (net/http ServeMux patterns such as
// "GET /admin/rooms/{name}"). imported holds the constants of other
// packages it uses, as "pkg.Name".
func muxPatterns(t *testing.T, dir, fn string, imported map[string]string) []string {
	t.Helper()
	local := constStrings(t, dir)
	var out []string
	found := false
	for _, f := range sourceFiles(t, dir) {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Name.Name != fn || fd.Body == nil {
				continue
			}
			found = true
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 2 {
					return true
				}
				if name := calleeName(call); name != "Handle" && name != "HandleFunc" {
					return true
				}
				p, ok := constString(call.Args[0], local, imported)
				if !ok {
					t.Fatalf("%s.%s registers a pattern this test cannot read: give it a constant", dir, fn)
				}
				out = append(out, p)
				return true
			})
		}
	}
	if !found {
		t.Fatalf("no func %s in %s: tell this test where the routes are registered now", fn, dir)
	}
	return out
}

// casePaths lists the string cases of the switches in the function or
// method fn of package dir (the admin probes answer /healthz and /readyz
// in a switch, before the mux).
func casePaths(t *testing.T, dir, fn string) []string {
	t.Helper()
	var out []string
	for _, f := range sourceFiles(t, dir) {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Name.Name != fn || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if cc, ok := n.(*ast.CaseClause); ok {
					for _, e := range cc.List {
						if s, ok := stringLit(e); ok && strings.HasPrefix(s, "/") {
							out = append(out, s)
						}
					}
				}
				return true
			})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no path cases in %s.%s", dir, fn)
	}
	return out
}
