package docs

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/gateway/admin"
	"github.com/waitroom/waitroom/gateway/board"
	"github.com/waitroom/waitroom/gateway/origin"
	"github.com/waitroom/waitroom/internal/surge"
	"github.com/waitroom/waitroom/internal/ticketd"
	"github.com/waitroom/waitroom/token"
	"github.com/waitroom/waitroom/web"
)

// The checks that need no server: names in the reference against struct
// tags, constants and the literals of the source.

// packageDirs lists dir and every directory below it holding Go source.
func packageDirs(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		matches, _ := filepath.Glob(filepath.Join(p, "*.go"))
		for _, m := range matches {
			if !strings.HasSuffix(m, "_test.go") {
				rel, _ := filepath.Rel(root, p)
				out = append(out, rel)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReferenceFields compares every documented JSON document, request
// body and rooms file entry with the type that reads or writes it.
func TestReferenceFields(t *testing.T) {
	for _, c := range []struct {
		table string
		code  []string
	}{
		{"json status", jsonNames(reflect.TypeFor[web.Status]())},
		{"json room", jsonNames(reflect.TypeFor[admin.RoomJSON]())},
		{"json patch", tagNames(t, "gateway/admin", "roomPatch", "json")},
		{"json history", jsonNames(reflect.TypeFor[board.Point]())},
		{"json event", jsonNames(reflect.TypeFor[ticketd.Event]())},
		{"json new event", jsonNames(reflect.TypeFor[ticketd.NewEvent]())},
		{"json order", jsonNames(reflect.TypeFor[ticketd.Order]())},
		{"json ticketd error", tagNames(t, "internal/ticketd", "apiError", "json")},
		{"rooms file", tagNames(t, "queue", "roomEntry", "yaml")},
	} {
		t.Run(c.table, func(t *testing.T) {
			sameSet(t, c.table, firstTicks(t, checked(t, c.table)), c.code)
		})
	}
	doc, _ := readReference(t)
	if !strings.Contains(doc, "`"+surge.SchemaVersion+"`") {
		t.Errorf("%s does not name the surge report's schema %q", referenceFile, surge.SchemaVersion)
	}
	// The PATCH row of the request bodies and the PATCH table say the
	// same.
	for _, r := range checked(t, "request bodies admin") {
		if strings.HasPrefix(ticks(r[0])[0], "PATCH ") {
			sameSet(t, "PATCH body", ticks(r[1]), firstTicks(t, checked(t, "json patch")))
		}
	}
}

// TestReferencePass signs passes with both algorithms and compares their
// header and claims, and the JWK Set, with the reference.
func TestReferencePass(t *testing.T) {
	key, err := token.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	ed, err := token.NewEd25519Signer(key)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := token.NewHS256Signer([]byte("reference-pass-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	headerNames := firstTicks(t, checked(t, "pass header"))
	claimNames := firstTicks(t, checked(t, "pass claims"))
	for _, s := range []*token.Signer{ed, hs} {
		tok, _, err := s.Sign(time.Now(), "visitor", "concert-42", "session", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		header, claims := jwtParts(t, tok)
		sameSet(t, s.Algorithm()+" pass claims", claimNames, claims)
		if s.Algorithm() == "EdDSA" {
			sameSet(t, "EdDSA pass header", headerNames, header)
		}
		for _, h := range header {
			if !slices.Contains(headerNames, h) {
				t.Errorf("%s pass header has %q, which %s does not document", s.Algorithm(), h, referenceFile)
			}
		}
		algs := ticks(rowOf(t, "pass header", "alg")[1])
		if !slices.Contains(algs, s.Algorithm()) {
			t.Errorf("%s lists the algorithms %v, not %s", referenceFile, algs, s.Algorithm())
		}
	}
	if iss := ticks(rowOf(t, "pass claims", "iss")[1]); !slices.Equal(iss, []string{token.Issuer}) {
		t.Errorf("%s says iss is %v; the code signs %q", referenceFile, iss, token.Issuer)
	}

	rec := httptest.NewRecorder()
	ed.JWKS().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_waitroom/jwks.json", nil))
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWK Set: %v %s", err, rec.Body)
	}
	sameSet(t, "JWK", firstTicks(t, checked(t, "jwk")), keys(t, "jwk", set.Keys[0]))

	// The refusal reasons: the labels token.Reason gives.
	files := sourceFiles(t, "token")
	sameSet(t, "pass refusal reasons", firstTicks(t, checked(t, "pass reasons")),
		append(declLits(files, "reasons"), declLits(files, "Reason")...))
}

// rowOf finds the row of a checked table whose first code span is name.
func rowOf(t *testing.T, table, name string) row {
	t.Helper()
	for _, r := range checked(t, table) {
		if ts := ticks(r[0]); len(ts) > 0 && ts[0] == name {
			return r
		}
	}
	t.Fatalf("%s: the table %q has no row %q", referenceFile, table, name)
	return nil
}

// TestReferenceNames compares cookie and header names with the code's
// constants, and the Waitroom-* header names in the reference with every
// one the source spells.
func TestReferenceNames(t *testing.T) {
	sameSet(t, "cookies", firstTicks(t, checked(t, "cookies")), []string{gateway.CookieVisitor, token.CookieName("<room>"), gateway.ReceiptCookie("<room>")})

	clientHeaders := map[string]bool{}
	for _, r := range checked(t, "client headers") {
		for _, h := range ticks(r[0]) {
			clientHeaders[h] = true
		}
	}
	if !clientHeaders[token.HeaderPass] {
		t.Errorf("the client headers table does not list %s (token.HeaderPass)", token.HeaderPass)
	}

	doc, _ := readReference(t)
	nameRE := regexp.MustCompile(`\bWaitroom-[A-Z][A-Za-z]*\b`)
	var documented []string
	for _, span := range ticks(doc) {
		documented = append(documented, nameRE.FindAllString(span, -1)...)
	}
	if !slices.Contains(documented, origin.HeaderCommand) {
		t.Errorf("%s does not mention %s (origin.HeaderCommand)", referenceFile, origin.HeaderCommand)
	}
	var dirs []string
	dirs = append(dirs, packageDirs(t, "gateway")...)
	dirs = append(dirs, "token", "web", "internal/ticketd")
	var code []string
	for _, s := range stringLits(sourceOf(t, dirs...)) {
		if s != "" && nameRE.FindString(s) == s {
			code = append(code, s)
		}
	}
	sameSet(t, "Waitroom-* headers", sorted(setOf(documented)), sorted(setOf(code)))
}

// TestReferenceErrors compares the error codes of the reference with the
// ones the source writes, and its status codes with the ones the source
// answers with.
func TestReferenceErrors(t *testing.T) {
	gw := sourceOf(t, packageDirs(t, "gateway")...)
	httpx := sourceFiles(t, "internal/httpx")
	td := sourceFiles(t, "internal/ticketd")

	bodyCodes := append(callLits(httpx, "bad", 0), keyedLits(httpx, "Code")...)
	sameSet(t, "body error codes", firstTicks(t, checked(t, "body errors")), sorted(setOf(bodyCodes)))

	t.Run("gateway errors", func(t *testing.T) {
		documented := firstTicks(t, checked(t, "gateway errors"))
		lits := stringLits(gw)
		matches := func(doc, s string) bool {
			if p, ok := strings.CutSuffix(doc, "…"); ok {
				return strings.HasPrefix(s, p)
			}
			return doc == s
		}
		for _, d := range documented {
			if !slices.ContainsFunc(lits, func(s string) bool { return matches(d, s) }) {
				t.Errorf("%s documents the gateway error %q, which no string in the gateway's source is", referenceFile, d)
			}
		}
		for _, c := range keyedLits(gw, "error") {
			if !slices.ContainsFunc(documented, func(d string) bool { return matches(d, c) }) {
				t.Errorf("the gateway answers {\"error\": %q}, which %s does not document", c, referenceFile)
			}
		}
	})

	t.Run("ticketd errors", func(t *testing.T) {
		var code []string
		code = append(code, callLits(td, "writeError", 2)...)
		code = append(code, callLits(td, "rejectOrder", 2)...)
		code = append(code, keyedLits(td, "Error")...)
		code = append(code, resultLits(td, "code")...)
		code = append(code, bodyCodes...)
		sameSet(t, "ticketd error codes", firstTicks(t, checked(t, "ticketd errors")), sorted(setOf(code)))
	})

	// Statuses the source never spells but that reach clients: made by
	// net/http (the header limit, ServeContent's 304, ServeMux's 405 and
	// its 307 to a subtree's slash) or by the WebSocket upgrade.
	byLibraries := map[string][]int{
		"gateway status codes": {http.StatusSwitchingProtocols, http.StatusNotModified, http.StatusTemporaryRedirect,
			http.StatusRequestHeaderFieldsTooLarge},
		"ticketd status codes": {http.StatusTemporaryRedirect, http.StatusMethodNotAllowed},
	}
	for table, written := range map[string][]int{
		"gateway status codes": writtenStatuses(t, append(gw, httpx...)),
		"ticketd status codes": writtenStatuses(t, td),
	} {
		var documented, code []string
		for _, r := range checked(t, table) {
			documented = append(documented, r[0])
		}
		for _, c := range append(written, byLibraries[table]...) {
			code = append(code, strconv.Itoa(c))
		}
		sameSet(t, table, documented, sorted(setOf(code)))
	}
}

// TestReferenceRoutes compares the route tables with the patterns the
// code registers: every pattern is documented, and every documented route
// is registered (a documented "/x/*" covers every pattern under /x/).
func TestReferenceRoutes(t *testing.T) {
	imported := map[string]string{}
	for k, v := range constStrings(t, "web") {
		imported["web."+k] = v
	}
	for table, patterns := range map[string][]string{
		"public routes": muxPatterns(t, "gateway", "publicRoutes", imported),
		"admin routes": append(muxPatterns(t, "gateway/admin", "Routes", imported),
			casePaths(t, "gateway/admin", "Probes")...),
		"ticketd routes": muxPatterns(t, "internal/ticketd", "routes", nil),
	} {
		t.Run(table, func(t *testing.T) {
			var code [][2]string
			for _, p := range patterns {
				method, path, ok := strings.Cut(p, " ")
				if !ok {
					method, path = "", p
				}
				if method == "" && strings.HasSuffix(path, "/") {
					continue // a catch-all: the "not found" answer, or the inner mux
				}
				if q, ok := strings.CutSuffix(path, "{$}"); ok {
					path = q
				} else if strings.HasSuffix(path, "/") {
					path += "*"
				}
				code = append(code, [2]string{method, path})
			}
			covers := func(doc, c [2]string) bool {
				if doc[0] != c[0] {
					return false
				}
				if prefix, ok := strings.CutSuffix(doc[1], "*"); ok {
					return strings.HasPrefix(c[1], prefix)
				}
				return doc[1] == c[1]
			}
			var documented [][2]string
			for _, r := range routes(t, table) {
				if r.path == "/*" {
					continue // the site itself, not a route of the gateway's own
				}
				path, _, _ := strings.Cut(r.path, "?")
				documented = append(documented, [2]string{r.method, path})
			}
			for _, c := range code {
				if !slices.ContainsFunc(documented, func(d [2]string) bool { return covers(d, c) }) {
					t.Errorf("the code serves %q, which the %s of %s do not list", strings.TrimSpace(c[0]+" "+c[1]), table, referenceFile)
				}
			}
			for _, d := range documented {
				if !slices.ContainsFunc(code, func(c [2]string) bool { return covers(d, c) }) {
					t.Errorf("%s lists %q in the %s, which the code does not register", referenceFile, strings.TrimSpace(d[0]+" "+d[1]), table)
				}
			}
		})
	}
}

// TestReferenceUsage checks that -h prints what the reference's variable
// tables hold: every variable with its description.
func TestReferenceUsage(t *testing.T) {
	if out := help(t, "waitroom"); !strings.Contains(out, gateway.Usage()) {
		t.Errorf("waitroom -h does not list the variables with their descriptions:\n%s", out)
	}
	if out := help(t, "ticketd"); !strings.Contains(out, ticketd.Usage()) {
		t.Errorf("ticketd -h does not list the variables with their descriptions:\n%s", out)
	}
	out := help(t, "surge")
	for _, v := range surgeVariables(t) {
		if !strings.Contains(out, v.name) {
			t.Errorf("surge -h does not mention %s", v.name)
		}
	}
	for _, vars := range [][]envVar{gatewayVariables(), ticketdVariables(), surgeVariables(t)} {
		for _, v := range vars {
			if v.desc == "" {
				t.Errorf("%s has no desc tag: give it one, -h and %s print it", v.name, referenceFile)
			}
		}
	}
}

// TestReferenceLinks keeps the README pointing at the reference, not at a
// file outside the repository.
func TestReferenceLinks(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	if !strings.Contains(readme, "(docs/reference.md)") {
		t.Error("README.md does not link docs/reference.md")
	}
	if strings.Contains(readme, "../shared/") {
		t.Error("README.md links a file outside the repository (../shared/)")
	}
}
