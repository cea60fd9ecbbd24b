// Command surge simulates a flash crowd of ticket buyers against a waitroom
// gateway, or straight against the origin, and reports what they lived
// through. Run `surge -h` for usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/rs/zerolog"
	"github.com/waitroom/waitroom/internal/surge"
)

const usage = `surge simulates a flash crowd of ticket buyers and reports what they lived through.

Usage:
  surge run     --target URL | --direct URL  --event ID [flags]
  surge compare --target URL --direct URL    --event ID [flags]
  surge swarm   --target URL --gateway-admin URL [flags]   (surge swarm -h)

  run      sends the crowd through the gateway (--target) or straight at the
           origin (--direct) and prints the report.
  compare  sends the same crowd through the gateway, then straight at the
           origin, and prints both side by side.
  swarm    sends people and a bot swarm in the same second, once per room,
           and reports who got the front of the line (see surge swarm -h).

Every run is bounded by --visitors and --duration, stops cleanly on Ctrl-C
(a second Ctrl-C exits at once) and sends traffic only to the URLs given.

Environment (flags win):
  SURGE_TARGET, SURGE_DIRECT, SURGE_ORIGIN, SURGE_GATEWAY_ADMIN, SURGE_EVENT,
  SURGE_SOURCE_ADDRS            defaults of the flags of the same name
  SURGE_GATEWAY_ADMIN_TOKEN     bearer token of the gateway's admin API
  SURGE_COOKIE_SECRET           the gateway's WAITROOM_COOKIE_SECRET: in a toll room,
                                visitors' phones are stood in for (else tolls are
                                solved on this machine's CPU); needed by swarm
  SURGE_ORIGIN_ADMIN_TOKEN      bearer token of ticketd's /admin/events (compare --stock)
  SURGE_PASS_SECRET             HS256 secret (>= 32 bytes) to sign passes for direct orders
  SURGE_PASS_KEY_FILE           or an Ed25519 private key (PEM, PKCS#8) for EdDSA passes
  SURGE_LOG_FORMAT              json (default: progress and errors on stderr as zerolog
                                JSON lines) or console (a progress line for humans)

Exit status: 0 done, 1 the run could not be made, 2 bad flags or environment,
3 the run found oversell.

Flags:
`

// environment holds what may come from the environment.
type environment struct {
	Target            string `env:"SURGE_TARGET" desc:"default of --target"`
	Direct            string `env:"SURGE_DIRECT" desc:"default of --direct"`
	Origin            string `env:"SURGE_ORIGIN" desc:"default of --origin"`
	GatewayAdmin      string `env:"SURGE_GATEWAY_ADMIN" desc:"default of --gateway-admin"`
	Event             string `env:"SURGE_EVENT" desc:"default of --event"`
	SourceAddrs       string `env:"SURGE_SOURCE_ADDRS" desc:"default of --source-addrs"`
	GatewayAdminToken string `env:"SURGE_GATEWAY_ADMIN_TOKEN" desc:"bearer token of the gateway's admin API"`
	OriginAdminToken  string `env:"SURGE_ORIGIN_ADMIN_TOKEN" desc:"bearer token of ticketd's /admin/events (compare --stock)"`
	PassSecret        string `env:"SURGE_PASS_SECRET" desc:"HS256 secret (>= 32 bytes) to sign passes for direct orders"`
	CookieSecret      string `env:"SURGE_COOKIE_SECRET" desc:"the gateway's WAITROOM_COOKIE_SECRET: visitors' tolls paid at phone speed without this machine's CPU (needed by swarm)"`
	PassKeyFile       string `env:"SURGE_PASS_KEY_FILE" desc:"or an Ed25519 private key (PEM, PKCS#8) to sign EdDSA passes for direct orders"`
	LogFormat         string `env:"SURGE_LOG_FORMAT" envDefault:"json" desc:"json: progress and errors on stderr as JSON lines; console: a progress line for people"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, the default handling comes back: a second
		// Ctrl-C ends the process at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], environ(), os.Stdout, os.Stderr))
}

func environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// run is surge's whole command line, with the environment and outputs
// passed in so tests drive it like a user. It returns the exit status.
func run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) int {
	bad := func(err error) int {
		fmt.Fprintln(stderr, "surge: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		return 2
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr, newFlags(&options{cfg: surge.Defaults()}, stderr))
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd := args[0]
	if cmd != "run" && cmd != "compare" && cmd != "swarm" {
		return bad(fmt.Errorf("unknown command %q (want run, compare or swarm; see surge -h)", cmd))
	}
	e, o, err := fromEnvironment(environ)
	if err != nil {
		return bad(err)
	}
	if cmd == "swarm" {
		return runSwarm(ctx, args[1:], e, stdout, stderr)
	}
	// Flags win over the environment: they are parsed over its values.
	fs := newFlags(&o, io.Discard)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stderr, fs)
			return 0
		}
		return bad(err)
	}
	if fs.NArg() > 0 {
		return bad(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	c, err := configOf(o, e)
	if err == nil {
		err = validate(cmd, c)
	}
	if err != nil {
		return bad(err)
	}

	say := newSayer(stderr, e.LogFormat)
	progress := progressPrinter(stderr, o.quiet)
	if e.LogFormat == "json" {
		progress = progressLogger(say.log, o.quiet)
	}
	reps, out, err := send(ctx, cmd, c, o.stock, progress)
	if err != nil {
		say.err("", err)
		return 1
	}
	if what, err := writeReports(stdout, o, cmd, reps, out); err != nil {
		say.err(what, err)
		return 1
	}
	if err := oversold(reps); err != nil {
		say.err("", err)
		return 3
	}
	return 0
}

// printUsage prints the usage text and the flags of fs with their
// defaults (the environment's values, once read).
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, usage)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// fromEnvironment reads the environment: the log format, and the options
// whose flags default to environment variables.
func fromEnvironment(environ map[string]string) (environment, options, error) {
	var e environment
	if err := env.ParseWithOptions(&e, env.Options{Environment: environ}); err != nil {
		return e, options{}, err
	}
	if e.LogFormat != "json" && e.LogFormat != "console" {
		return e, options{}, fmt.Errorf("SURGE_LOG_FORMAT: must be json or console, got %q", e.LogFormat)
	}
	o := options{cfg: surge.Defaults()}
	o.cfg.Target, o.cfg.Direct, o.cfg.Origin, o.cfg.GatewayAdmin, o.cfg.EventID = e.Target, e.Direct, e.Origin, e.GatewayAdmin, e.Event
	o.sourceAddrs = e.SourceAddrs
	return e, o, nil
}

// configOf completes the run's Config from the parsed flags and the
// settings only the environment gives (tokens, the pass secret or key).
func configOf(o options, e environment) (surge.Config, error) {
	c := o.cfg
	c.Profile = surge.Profile(o.profile)
	c.GatewayAdminToken, c.OriginAdminToken = e.GatewayAdminToken, e.OriginAdminToken
	c.PassSecret = []byte(e.PassSecret)
	c.CookieSecret = e.CookieSecret
	if e.PassKeyFile != "" {
		b, err := os.ReadFile(e.PassKeyFile)
		if err != nil {
			return c, fmt.Errorf("SURGE_PASS_KEY_FILE: %v", err)
		}
		c.PassKeyPEM = b
	}
	if o.sourceAddrs != "" {
		addrs, err := surge.ParseSourceAddrs(o.sourceAddrs)
		if err != nil {
			return c, fmt.Errorf("--source-addrs: %v", err)
		}
		c.SourceAddrs = addrs
	}
	return c, nil
}

// validate checks c for cmd. compare sends the crowd through the gateway
// and then straight at --direct, so it needs both and is checked as the
// gateway run.
func validate(cmd string, c surge.Config) error {
	if cmd == "run" {
		return c.Validate()
	}
	if c.Direct == "" {
		return errors.New("--direct: compare needs the origin's URL too")
	}
	check := c
	check.Direct = ""
	return check.Validate()
}

// send runs cmd's crowd (or crowds) and returns the reports to print and
// the value the JSON output encodes.
func send(ctx context.Context, cmd string, c surge.Config, stock int64, progress func(string, surge.Progress)) ([]*surge.Report, any, error) {
	if cmd == "run" {
		rep, err := surge.Run(ctx, c, func(p surge.Progress) { progress("", p) })
		progress("done", surge.Progress{})
		if err != nil {
			return nil, nil, err
		}
		return []*surge.Report{rep}, rep, nil
	}
	cmp, err := surge.Compare(ctx, surge.CompareConfig{Config: c, Stock: stock}, progress)
	progress("done", surge.Progress{})
	if err != nil {
		return nil, nil, err
	}
	var reps []*surge.Report
	for _, r := range []*surge.Report{cmp.Direct, cmp.Gateway} {
		if r != nil {
			reps = append(reps, r)
		}
	}
	return reps, cmp, nil
}

// writeReports prints the report on stdout (a table, or out as JSON) and
// writes the files the flags ask for. A failure comes with the flag it
// belongs to, "" for stdout.
func writeReports(stdout io.Writer, o options, cmd string, reps []*surge.Report, out any) (what string, err error) {
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return "", err
		}
	} else if err := surge.WriteTable(stdout, reps...); err != nil {
		return "", err
	}
	if o.html != "" {
		title := "surge " + cmd + " — " + time.Now().UTC().Format("2006-01-02 15:04 UTC")
		if err := writeFile(o.html, func(w io.Writer) error { return surge.WriteHTML(w, title, reps...) }); err != nil {
			return "--html", err
		}
	}
	if o.markdown != "" {
		if err := writeFile(o.markdown, func(w io.Writer) error { return surge.WriteMarkdown(w, reps...) }); err != nil {
			return "--markdown", err
		}
	}
	if o.svg != "" {
		err := os.MkdirAll(o.svg, 0o755)
		if err == nil {
			err = surge.WriteSVGs(o.svg, reps...)
		}
		if err != nil {
			return "--svg", err
		}
	}
	return "", nil
}

// writeFile creates path and writes it with write; an error in closing
// counts too, since it may be the write that failed.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// oversold reports the first run in which the origin sold beyond its
// stock: the one finding that changes surge's exit status.
func oversold(reps []*surge.Report) error {
	for _, r := range reps {
		if r.Stock.Oversell > 0 {
			return fmt.Errorf("OVERSELL: the origin sold %d tickets beyond its stock (%s run)", r.Stock.Oversell, r.Mode)
		}
	}
	return nil
}

// options are the flags beyond Config's own fields.
type options struct {
	cfg         surge.Config
	profile     string
	sourceAddrs string
	stock       int64
	json, quiet bool
	html, svg   string
	markdown    string
}

func newFlags(o *options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("surge", flag.ContinueOnError)
	fs.SetOutput(out)
	c := &o.cfg
	if o.profile == "" {
		o.profile = string(c.Profile)
	}
	fs.StringVar(&c.Target, "target", c.Target, "gateway base URL, e.g. http://127.0.0.1:8080")
	fs.StringVar(&c.Direct, "direct", c.Direct, "origin base URL for a run without the queue, e.g. http://127.0.0.1:8081")
	fs.StringVar(&c.Origin, "origin", c.Origin, "ticketd base URL read for stock and /metrics (default: --direct)")
	fs.StringVar(&c.GatewayAdmin, "gateway-admin", c.GatewayAdmin, "gateway admin base URL read for the configured rate, e.g. http://127.0.0.1:9090")
	fs.StringVar(&c.EventID, "event", c.EventID, "event id to buy (as in /api/events/{id})")
	fs.StringVar(&c.Room, "room", c.Room, "gateway room of the event (default: the event's room, else default)")
	fs.IntVar(&c.Quantity, "quantity", c.Quantity, "tickets per order (1-4)")
	fs.IntVar(&c.Visitors, "visitors", c.Visitors, fmt.Sprintf("visitors in the crowd (at most %d)", surge.MaxVisitors))
	fs.DurationVar(&c.Duration, "duration", c.Duration, "hard cap on the run")
	fs.StringVar(&o.profile, "profile", o.profile, "arrivals: burst (all at once), ramp, poisson or opens-at")
	fs.DurationVar(&c.Ramp, "ramp", c.Ramp, "ramp profile: arrivals spread over this")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "poisson profile: arrivals per second")
	fs.DurationVar(&c.OpensAt, "opens-at", c.OpensAt, "opens-at profile: the sale opens this long after the start")
	fs.Float64Var(&c.PrequeueShare, "prequeue-share", c.PrequeueShare, "opens-at profile: share arriving before the opening")
	fs.BoolVar(&c.SetOpensAt, "set-opens-at", c.SetOpensAt, "opens-at profile: also set the room's opens_at on the gateway (needs --gateway-admin)")
	fs.Float64Var(&c.WebSocketShare, "ws-share", c.WebSocketShare, "share of waiting visitors holding the WebSocket (the rest poll)")
	fs.DurationVar(&c.PollInterval, "poll-interval", c.PollInterval, "how often polling visitors ask for their status")
	fs.Float64Var(&c.AbandonShare, "abandon-share", c.AbandonShare, "share of waiting visitors who close the tab")
	fs.DurationVar(&c.AbandonWithin, "abandon-within", c.AbandonWithin, "abandoning visitors leave after a random wait up to this")
	fs.DurationVar(&c.FIFOSlack, "fifo-slack", c.FIFOSlack, "staleness allowed to \"waiting\" messages when counting FIFO inversions")
	fs.StringVar(&o.sourceAddrs, "source-addrs", o.sourceAddrs, "loopback source addresses to spread connections over, e.g. 127.0.0.2-127.0.0.9")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "most HTTP connections at once (WebSockets not counted)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "per-request timeout")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of arrivals and visitors' choices (same seed, same crowd)")
	fs.Int64Var(&o.stock, "stock", 0, "compare: create a fresh event with this many tickets per run (needs SURGE_ORIGIN_ADMIN_TOKEN)")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON instead of a table")
	fs.StringVar(&o.html, "html", "", "also write a self-contained HTML report with charts to this file")
	fs.StringVar(&o.markdown, "markdown", "", "also write the table in Markdown to this file")
	fs.StringVar(&o.svg, "svg", "", "also write each chart as an SVG file into this directory")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	return fs
}

// progressPrinter shows a live progress line on a terminal (rewritten in
// place), and one line every ten seconds otherwise (logs, CI).
func progressPrinter(w io.Writer, quiet bool) func(mode string, p surge.Progress) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	var shown bool
	var ticks int
	return func(mode string, p surge.Progress) {
		if quiet {
			return
		}
		if mode == "done" {
			if tty && shown {
				fmt.Fprintln(w)
			}
			shown = false
			return
		}
		line := surge.ProgressLine(p)
		if mode != "" {
			line = mode + " " + line
		}
		switch {
		case tty:
			fmt.Fprint(w, "\r\033[K"+line)
			shown = true
		default:
			if ticks%10 == 9 || p.Done {
				fmt.Fprintln(w, line)
			}
			ticks++
		}
	}
}

// sayer reports errors on stderr: as "surge: ..." lines, or as zerolog
// JSON records when SURGE_LOG_FORMAT is json.
type sayer struct {
	w    io.Writer
	json bool
	log  zerolog.Logger
}

func newSayer(w io.Writer, format string) sayer {
	return sayer{w: w, json: format == "json", log: zerolog.New(w).With().Timestamp().Str("svc", "surge").Logger()}
}

// err reports err, about what (a flag, or "" for the run).
func (s sayer) err(what string, err error) {
	if s.json {
		e := s.log.Error().Err(err)
		if what != "" {
			e = e.Str("about", what)
		}
		e.Msg("surge failed")
		return
	}
	if what != "" {
		fmt.Fprintf(s.w, "surge: %s: %v\n", what, err)
		return
	}
	fmt.Fprintln(s.w, "surge:", err)
}

// progressLogger logs the run's progress as JSON records: the first tick of
// every run, every tenth after it and the run's last.
func progressLogger(log zerolog.Logger, quiet bool) func(mode string, p surge.Progress) {
	ticks := 0
	return func(mode string, p surge.Progress) {
		if quiet {
			return
		}
		if mode == "done" {
			ticks = 0
			return
		}
		if ticks%10 == 0 || p.Done {
			e := log.Info()
			if mode != "" {
				e = e.Str("run", mode)
			}
			e.Float64("elapsed_s", p.Elapsed.Seconds()).Int("visitors", p.Visitors).Int64("arrived", p.Arrived).
				Int64("waiting", p.Waiting).Int64("admitted", p.Admitted).Int64("orders", p.Orders).
				Int64("requests", p.Requests).Int64("errors", p.Errors).Bool("done", p.Done).Msg("progress")
		}
		ticks++
	}
}
