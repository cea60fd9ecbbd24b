package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/waitroom/waitroom/internal/surge"
)

const swarmUsage = `surge swarm sends people and a bot swarm at the gateway in the same second,
once per round (a room each), and reports who got the front of the line.

Usage:
  surge swarm --target URL --gateway-admin URL --rooms off=ROOM,on=ROOM [flags]

Humans each come from their own address in 127.1.0.0/16, keep cookies, pay
the room's toll at a phone's speed (their devices' work is stood in for,
so the machine's CPU is left to the bots) and hold the WebSocket. Bots keep
no cookies and ask for places as fast as they can from --bot-addrs, solving
every toll at full CPU speed. Each round pauses its room (it must be empty)
and reads the line its participants were given; nobody is admitted.
Traffic goes to loopback addresses only.

Environment: SURGE_TARGET, SURGE_GATEWAY_ADMIN (defaults of the flags),
  SURGE_GATEWAY_ADMIN_TOKEN  bearer token of the gateway's admin API
  SURGE_COOKIE_SECRET        the gateway's WAITROOM_COOKIE_SECRET (needed)

Exit status: 0 done, 1 the run could not be made, 2 bad flags or environment.

Flags:
`

// swarmOptions are the swarm's flags beyond its config.
type swarmOptions struct {
	rooms, botAddrs string
	json, quiet     bool
	html, markdown  string
	svg             string
}

// runSwarm is `surge swarm`: parse, run, write.
func runSwarm(ctx context.Context, args []string, e environment, stdout, stderr io.Writer) int {
	c, o, err := parseSwarm(args, e)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, swarmUsage)
		fs := swarmFlags(&c, &o)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "surge: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		return 2
	}
	say := newSayer(stderr, e.LogFormat)
	progress := func(round string, humans, bots int) {
		if o.quiet {
			return
		}
		if say.json {
			say.log.Info().Str("round", round).Int("human_places", humans).Int("bot_places", bots).Msg("swarm")
			return
		}
		fmt.Fprintf(stderr, "swarm %s: %d humans and %d bots in line\n", round, humans, bots)
	}
	rep, err := surge.Swarm(ctx, c, progress)
	if err != nil {
		say.err("", err)
		return 1
	}
	if what, err := writeSwarm(stdout, o, rep); err != nil {
		say.err(what, err)
		return 1
	}
	return 0
}

// swarmFlags binds the swarm's flags to c and o.
func swarmFlags(c *surge.SwarmConfig, o *swarmOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("surge swarm", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Target, "target", c.Target, "gateway base URL (loopback), e.g. http://127.0.0.1:8080")
	fs.StringVar(&c.GatewayAdmin, "gateway-admin", c.GatewayAdmin, "gateway admin base URL, e.g. http://127.0.0.1:9090")
	fs.StringVar(&o.rooms, "rooms", o.rooms, "rounds as name=room, in order; each room empty, with the protections the round is about")
	fs.IntVar(&c.Humans, "humans", c.Humans, fmt.Sprintf("people in the crowd (at most %d)", surge.MaxSwarmHumans))
	fs.DurationVar(&c.HumanSpread, "spread", c.HumanSpread, "humans arrive evenly over this")
	fs.IntVar(&c.Bots, "bots", c.Bots, "bot programs")
	fs.IntVar(&c.BotJoins, "bot-joins", c.BotJoins, "places each bot asks for, at most")
	fs.IntVar(&c.BotConns, "bot-conns", c.BotConns, "requests each bot has in flight at once")
	fs.IntVar(&c.BotCores, "bot-cores", c.BotCores, "tolls the bots solve at once (their machines' cores; the rest is left to the gateway)")
	fs.StringVar(&o.botAddrs, "bot-addrs", o.botAddrs, "bots' source addresses (loopback): a list, or ranges a-b")
	fs.DurationVar(&c.Window, "window", c.Window, "length of a round: bots stop asking and the line is read")
	fs.IntVar(&c.First, "first", c.First, "K: report the bots' share of the first K admissions")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "per request")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON instead of a table")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress on stderr")
	fs.StringVar(&o.html, "html", "", "also write a self-contained HTML report (table and chart) to this file")
	fs.StringVar(&o.markdown, "markdown", "", "also write the report as a Markdown table to this file")
	fs.StringVar(&o.svg, "svg", "", "also write the chart as an SVG file to this path")
	return fs
}

// parseSwarm reads the environment's defaults and the flags, and checks
// them: every problem at once.
func parseSwarm(args []string, e environment) (surge.SwarmConfig, swarmOptions, error) {
	c := surge.DefaultSwarm()
	c.Target, c.GatewayAdmin, c.GatewayAdminToken, c.CookieSecret = e.Target, e.GatewayAdmin, e.GatewayAdminToken, e.CookieSecret
	o := swarmOptions{rooms: "off=swarm-off,on=swarm-on", botAddrs: "127.0.0.2-127.0.0.5"}
	fs := swarmFlags(&c, &o)
	if err := fs.Parse(args); err != nil {
		return c, o, err
	}
	if fs.NArg() > 0 {
		return c, o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var problems []error
	rounds, err := surge.ParseSwarmRounds(o.rooms)
	if err != nil {
		problems = append(problems, fmt.Errorf("--rooms: %v", err))
	}
	c.Rounds = rounds
	if c.BotAddrs, err = surge.ParseSourceAddrs(o.botAddrs); err != nil {
		problems = append(problems, fmt.Errorf("--bot-addrs: %v", err))
	}
	return c, o, errors.Join(append(problems, c.Validate())...)
}

// writeSwarm prints the report (table or JSON) and writes the files the
// flags ask for; a failure names its flag ("" for stdout).
func writeSwarm(stdout io.Writer, o swarmOptions, rep *surge.SwarmReport) (string, error) {
	var err error
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = surge.WriteSwarmTable(stdout, rep)
	}
	if err != nil {
		return "", err
	}
	title := "surge swarm — " + time.Now().UTC().Format("2006-01-02 15:04 UTC")
	for _, f := range []struct {
		flag, path string
		write      func(io.Writer) error
	}{
		{"--html", o.html, func(w io.Writer) error { return surge.WriteSwarmHTML(w, title, rep) }},
		{"--markdown", o.markdown, func(w io.Writer) error { return surge.WriteSwarmMarkdown(w, rep) }},
		{"--svg", o.svg, func(w io.Writer) error { _, err := io.WriteString(w, surge.SwarmFrontSVG(rep)); return err }},
	} {
		if f.path == "" {
			continue
		}
		if err := writeFile(f.path, f.write); err != nil {
			return f.flag, err
		}
	}
	return "", nil
}
