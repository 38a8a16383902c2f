package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/ferrysync/ferry"
)

// defaultServer is the default of --server.
const defaultServer = "ws://127.0.0.1:8080/sync"

// globals are the flags: those every command takes, before or after its
// name (register), and the commands' own (add --list, list --all, sync --watch).
type globals struct {
	db, server, token, device, effects, list string
	json, all, watch                         bool
}

// register adds the global flags to fs, bound to g. Each flag --name
// takes its default from the environment variable FERRY_NAME (--db from
// FERRY_DB), read by getenv.
func (g *globals) register(fs *flag.FlagSet, getenv func(string) string) (err error) {
	fs.StringVar(&g.db, "db", "./client-demo.db", "the device's database `file`")
	fs.StringVar(&g.server, "server", defaultServer, "the hub's WebSocket `URL`")
	fs.StringVar(&g.token, "token", "", "sync `token`, printed by: syncd token --tenant T --subject S")
	fs.StringVar(&g.device, "device", "", "device `name`, fixed at the database's first use; default: a generated id")
	fs.StringVar(&g.effects, "effects", "", "side-effect log `file`; default: beside the database")
	fs.BoolVar(&g.json, "json", false, "machine-readable output on stdout")
	fs.VisitAll(func(f *flag.Flag) {
		env := "FERRY_" + strings.ToUpper(f.Name)
		f.Usage += " (env " + env + ")"
		if v := getenv(env); v != "" && f.Value.Set(v) != nil && err == nil {
			err = usageError("%s=%q: want true or false", env, v) // only the boolean can fail
		}
	})
	return err
}

// nameRE matches device and list names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// check validates the globals and fills in derived defaults.
func (g *globals) check() error {
	u, err := url.Parse(g.server)
	switch {
	case g.db == "":
		return usageError("--db must not be empty")
	case g.device != "" && !nameRE.MatchString(g.device):
		return usageError("--device %q: want 1-64 letters, digits, '.', '_' or '-'", g.device)
	case err != nil || u.Host == "" || !slices.Contains([]string{"ws", "wss", "http", "https"}, u.Scheme):
		return usageError("--server %q: want a ws:// or wss:// URL such as %s", g.server, defaultServer)
	}
	if g.effects == "" {
		g.effects = strings.TrimSuffix(g.db, filepath.Ext(g.db)) + ".effects.log"
	}
	return nil
}

// command is one subcommand; help is the one without run.
type command struct {
	name, args, summary string
	min, max            int                           // fewest and most arguments; max -1: any number
	flags               func(*flag.FlagSet, *globals) // adds the command's own flags, if any
	run                 func(ctx context.Context, a *app, args []string) error
}

// commands lists the subcommands in the order help shows them.
var commands = []command{
	{name: "add", args: "[--list NAME] TITLE", summary: "add a task, to list NAME if given; prints its id", min: 1, max: -1, run: cmdAdd,
		flags: func(fs *flag.FlagSet, g *globals) { fs.StringVar(&g.list, "list", "", "add the task to list `NAME`") }},
	{name: "rename", args: "ID TITLE", summary: "rename a task", min: 2, max: -1, run: change("renamed", renameTask, title)},
	{name: "complete", args: "ID", summary: "complete a task (logs a side effect on this device)", min: 1, max: 1, run: change("completed", markDone(true), noInput)},
	{name: "reopen", args: "ID", summary: "reopen a completed task", min: 1, max: 1, run: change("reopened", markDone(false), noInput)},
	{name: "delete", args: "ID", summary: "delete a task", min: 1, max: 1, run: change("deleted", deleteTask, noInput)},
	{name: "list", args: "[--all]", summary: "list tasks: id, done, title, last changed (--all: deleted ones too)", run: cmdList,
		flags: func(fs *flag.FlagSet, g *globals) { fs.BoolVar(&g.all, "all", false, "include deleted tasks") }},
	{name: "show", args: "ID", summary: "show a task's state and its history of events", min: 1, max: 1, run: cmdShow},
	{name: "sync", args: "[--watch]", summary: "push and pull until caught up (--watch: stay connected and print changes)", run: cmdSync,
		flags: func(fs *flag.FlagSet, g *globals) {
			fs.BoolVar(&g.watch, "watch", false, "stay connected and print changes as they arrive, until interrupted")
		}},
	{name: "subscribe", args: "PREFIX...", summary: "pull only these lists (task/NAME) or prefixes; sync backfills them", min: 1, max: -1, run: subscriptions((*ferry.App).Subscribe)},
	{name: "unsubscribe", args: "PREFIX...", summary: "stop pulling these prefixes (the tasks held stay)", min: 1, max: -1, run: subscriptions((*ferry.App).Unsubscribe)},
	{name: "subscriptions", summary: "list the prefixes pulled (none: every stream the token allows)", run: subscriptions(nil)},
	{name: "status", summary: "device id, server, online, pending events, cursor, events seen, last sync", run: cmdStatus},
	{name: "rebuild", summary: "drop the read model and rebuild it by replaying every event", run: cmdRebuild},
	{name: "effects", args: "[retry EVENT-ID]", summary: "list pending and failed side effects, or retry a failed one", max: 2, run: cmdEffects},
	{name: "help", args: "[COMMAND]", summary: "show this help", max: 1},
}

// lookup returns the command called name.
func lookup(name string) (command, bool) {
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == name })
	return commands[max(i, 0)], i >= 0
}

// dispatch parses args and runs the command they name. Global flags may
// come before the command's name or anywhere after it; the command's own
// flags are added to the same flag set once its name is known.
func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var g globals
	fs := flag.NewFlagSet("client-demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := g.register(fs, getenv); err != nil {
		return err
	}
	args, err := parse(fs, args, false, stdout, "")
	cmd, ok := lookup(append(args, "")[0])
	switch {
	case err != nil:
		return err
	case len(args) == 0:
		return usageError("no command given")
	case !ok:
		return usageError("unknown command %q", args[0])
	}
	if cmd.flags != nil {
		cmd.flags(fs, &g)
	}
	rest, err := parse(fs, args[1:], true, stdout, cmd.name)
	switch {
	case err != nil:
		return err
	case len(rest) < cmd.min:
		return usageError("%s needs %s", cmd.name, cmd.args)
	case cmd.max >= 0 && len(rest) > cmd.max:
		return usageError("%s: unexpected argument %q", cmd.name, rest[cmd.max])
	case cmd.run == nil: // help [COMMAND]
		if _, ok := lookup(strings.Join(rest, "")); len(rest) == 1 && !ok {
			return usageError("unknown command %q", rest[0])
		}
		usage(stdout, strings.Join(rest, ""))
		return nil
	}
	if err := g.check(); err != nil {
		return err
	}
	a, err := openApp(ctx, g, stdout, stderr)
	if err != nil {
		return err
	}
	return errors.Join(cmd.run(ctx, a, rest), a.Close()) // run, then close
}

// parse parses flags mixed with arguments ("add milk --json") and returns
// the arguments; with interleaved false it stops at the first argument
// (the command's name). After "--" everything is an argument. Help prints
// the usage of the command help (all of them when ""); other errors are
// usage errors.
func parse(fs *flag.FlagSet, args []string, interleaved bool, stdout io.Writer, help string) ([]string, error) {
	var rest []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout, help)
			return nil, err
		} else if err != nil {
			return nil, usageError("%v", err)
		}
		left := fs.Args()
		if len(left) == 0 || !interleaved || (len(left) < len(args) && args[len(args)-len(left)-1] == "--") {
			return append(rest, left...), nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

// usage prints help, for all commands or for the command name.
func usage(w io.Writer, name string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	if cmd, ok := lookup(name); ok {
		fmt.Fprintf(w, "Usage: client-demo [global flags] %s %s\n\n%s.\n", cmd.name, cmd.args, strings.ToUpper(cmd.summary[:1])+cmd.summary[1:])
		if cmd.flags != nil {
			cmd.flags(fs, new(globals))
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
		fmt.Fprintln(w, "\nRun 'client-demo help' for the global flags.")
		return
	}
	fmt.Fprint(w, `Usage: client-demo [global flags] COMMAND [ARGS]

client-demo is an offline-first task list built on Ferry. Every command
works offline against the device's own database; "sync" exchanges events
with a syncd hub. Task ids may be shortened to any unique prefix, of the
id or, for a task in list NAME (id NAME/ULID), of the part after NAME/.

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-13s %-20s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nGlobal flags (also accepted after the command):")
	_ = new(globals).register(fs, func(string) string { return "" })
	fs.PrintDefaults()
	fmt.Fprint(w, `
Exit codes: 0 success, 1 bad input or unknown id (nothing was written),
2 usage error, 3 sync failed (hub unreachable, token refused).
`)
}
