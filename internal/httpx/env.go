package httpx

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// A binary's configuration is a struct whose fields carry caarlos0/env tags
// (env, envDefault, envSeparator) and a desc tag: what the variable means,
// in one line. The two helpers below read such a struct the same way for
// every binary.

// Problem is one thing wrong with one variable.
type Problem struct {
	Var string // the environment variable, e.g. WAITROOM_ORIGIN
	Msg string // what is wrong, e.g. "required (the origin's base URL)"
}

func (p Problem) Error() string { return p.Var + ": " + p.Msg }

// Problems joins problems into one error, one line each (nil when there
// are none).
func Problems(ps ...Problem) error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// Load is ParseEnv and then check (the configuration's validation), as one
// error with a line per problem. A variable whose value did not parse is
// reported once, for that: its validation, which saw no value, is left out.
func Load(cfg any, opts env.Options, check func() []Problem) error {
	failed, parsed := ParseEnv(cfg, opts)
	for _, p := range check() {
		if !failed[p.Var] {
			parsed = append(parsed, p)
		}
	}
	return Problems(parsed...)
}

// ParseEnv fills cfg (a pointer to a struct) from opts' environment (the
// process environment when opts.Environment is nil). Every value that does
// not parse is a Problem naming its variable and the value; failed holds
// their variables.
func ParseEnv(cfg any, opts env.Options) (failed map[string]bool, problems []Problem) {
	err := env.ParseWithOptions(cfg, opts)
	failed = map[string]bool{}
	if err == nil {
		return failed, nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return failed, []Problem{{Var: "environment", Msg: strings.ReplaceAll(err.Error(), "\n", " ")}}
	}
	t := reflect.TypeOf(cfg).Elem()
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			problems = append(problems, Problem{Var: "environment", Msg: strings.ReplaceAll(e.Error(), "\n", " ")})
			continue
		}
		name := pe.Name
		if f, ok := t.FieldByName(pe.Name); ok {
			name, _, _ = strings.Cut(f.Tag.Get("env"), ",")
		}
		val, ok := opts.Environment[name]
		if !ok && opts.Environment == nil {
			val = os.Getenv(name)
		}
		failed[name] = true
		problems = append(problems, Problem{Var: name, Msg: fmt.Sprintf("%q is not %s (%v)", val, kindName(pe.Type), innermost(pe.Err))})
	}
	return failed, problems
}

func kindName(t reflect.Type) string {
	switch {
	case t == nil:
		return "a valid value"
	case t == reflect.TypeFor[time.Duration]():
		return "a duration (e.g. 90s, 10m)"
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return "a whole number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	}
	return "valid"
}

func innermost(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// Usage lists cfg's variables (cfg is a struct or a pointer to one), one
// per line: name, default, and what it means.
func Usage(cfg any) string {
	t := reflect.TypeOf(cfg)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var b strings.Builder
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" || name == "-" {
			continue
		}
		def := f.Tag.Get("envDefault")
		switch {
		case strings.Contains(f.Tag.Get("env"), ",required"):
			def = "required"
		case def == "":
			def = "default empty"
		default:
			def = "default " + def
		}
		fmt.Fprintf(&b, "  %s  (%s)\n      %s\n", name, def, f.Tag.Get("desc"))
	}
	return b.String()
}

// placeholders are the spellings of "put your own secret here" in the
// example files and recipes.
var placeholders = []string{"change-me", "changeme", "change_me", "replace-me", "your-secret", "example-secret"}

// IsPlaceholder reports whether a secret is an example's placeholder
// rather than a real secret: starting with one would leave a deployment
// with a secret anyone who read the repository knows.
func IsPlaceholder(secret string) bool {
	s := strings.ToLower(secret)
	for _, p := range placeholders {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
