// Command mcptestserver is a small, scriptable MCP server for mcpctl's e2e
// tests. It speaks stdio (default), Streamable HTTP (--http) or legacy SSE
// (--sse), offers tools that exercise notifications, cancellation, crashes and
// large results, records every tool call to an append-only log (--calls-log),
// pages its lists (--page-size, --paged-tools …), and can misbehave on purpose
// (--garbage, --expire-after, --require-header, --bad-cursor).
//
// Standard output carries only JSON-RPC in stdio mode; in HTTP and SSE mode it
// carries exactly one line, "listening URL", once the listener is ready.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Exit))
}

// Defaults for the flags.
const (
	defaultName     = "mcptestserver"
	serverVersion   = "1.0.0"
	callsLogEnv     = "MCPTEST_CALLS_LOG"
	exitUsage       = 2
	exitGarbage     = 1
	exitServeFailed = 1
)

// options holds everything the command line can set.
type options struct {
	name         string
	httpAddr     string
	sseAddr      string
	callsLog     string
	expireAfter  int
	expireStatus int
	required     []headerRequirement
	query        []headerRequirement // --require-query: URL query parameters
	garbage      bool
	stderrLines  int
	printEnv     string
	modern       bool
	extras       bool         // --extras: the steps tool, the order prompt, the menu template (steps.go, menu.go)
	only         protocolOnly // --protocol-only (protocol.go)
	paging       pagingOptions
	listTTL      listTTLOptions
}

// headerRequirement is one --require-header NAME=VALUE.
type headerRequirement struct {
	name, value string
}

type headerFlag struct{ reqs *[]headerRequirement }

func (h headerFlag) String() string { return "" }

func (h headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	*h.reqs = append(*h.reqs, headerRequirement{name: strings.TrimSpace(name), value: value})
	return nil
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var expireMode string
	fs := flag.NewFlagSet("mcptestserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.name, "name", defaultName, "serverInfo name")
	fs.StringVar(&o.httpAddr, "http", "", "serve Streamable HTTP on this loopback `addr` (e.g. 127.0.0.1:0) at /mcp")
	fs.StringVar(&o.sseAddr, "sse", "", "serve legacy HTTP+SSE on this loopback `addr` at /sse")
	fs.StringVar(&o.callsLog, "calls-log", "", "append one JSON line per tool call to this `file` (default $"+callsLogEnv+")")
	fs.IntVar(&o.expireAfter, "expire-after", 0, "HTTP: forget a session after it has served `N` POSTs, initialize included (0: never)")
	fs.StringVar(&expireMode, "expire-mode", "404", "HTTP: status for a forgotten session: 404 or 400")
	fs.Var(headerFlag{&o.required}, "require-header", "HTTP: answer 401 unless the request has header `NAME=VALUE` (repeatable)")
	fs.Var(headerFlag{&o.query}, "require-query", "HTTP: answer 401 unless the URL's query has `NAME=VALUE` (repeatable)")
	fs.BoolVar(&o.garbage, "garbage", false, "print non-JSON junk on stdout and exit 1")
	fs.IntVar(&o.stderrLines, "stderr-lines", 0, "write `N` lines to stderr at start")
	fs.StringVar(&o.printEnv, "print-env", "", "write the value of environment variable `NAME` to stderr at start (a server that logs its configuration)")
	fs.BoolVar(&o.modern, "modern", false, "also serve protocol 2026-07-28 (server/discover; stdio only: stateful HTTP cannot); default: initialize handshake only")
	fs.BoolVar(&o.extras, "extras", false, "also serve the steps tool (progress), the order prompt and the test://menu template (completion that depends on its context)")
	o.paging.register(fs)
	o.listTTL.register(fs)
	o.only.register(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := o.paging.validate(); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	switch expireMode {
	case "404":
		o.expireStatus = 404
	case "400":
		o.expireStatus = 400
	default:
		return o, fmt.Errorf("--expire-mode: want 404 or 400, got %q", expireMode)
	}
	if err := o.only.validate(o); err != nil {
		return o, err
	}
	if o.httpAddr != "" && o.sseAddr != "" {
		return o, errors.New("--http and --sse are exclusive")
	}
	for _, a := range []string{o.httpAddr, o.sseAddr} {
		if a != "" {
			if err := checkLoopback(a); err != nil {
				return o, err
			}
		}
	}
	if o.callsLog == "" {
		o.callsLog = os.Getenv(callsLogEnv)
	}
	return o, nil
}

// run is main without the process: it returns the exit code. exit is what the
// crash tool calls to end the process at once.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, exit func(int)) int {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "mcptestserver:", err)
		}
		return exitUsage
	}
	if opts.garbage {
		fmt.Fprint(stdout, "Hello! I am definitely not an MCP server.\n<html>{oops\n")
		return exitGarbage
	}
	if opts.printEnv != "" {
		fmt.Fprintf(stderr, "mcptestserver: %s is %s\n", opts.printEnv, os.Getenv(opts.printEnv))
	}
	for i := 1; i <= opts.stderrLines; i++ {
		fmt.Fprintf(stderr, "mcptestserver stderr line %d/%d\n", i, opts.stderrLines)
	}

	calls, err := openCallLog(opts.callsLog)
	if err != nil {
		fmt.Fprintln(stderr, "mcptestserver:", err)
		return exitServeFailed
	}
	defer calls.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	ts := newTestServer(opts.name, opts.modern || opts.only.modern(), opts.paging, calls, exit)
	ts.stderr = stderr
	if opts.extras {
		ts.addSteps()
		ts.addMenu()
	}
	opts.listTTL.apply(ts.mcp)
	switch {
	case opts.only != "" && opts.sseAddr == "":
		err = serveProtocolOnly(ctx, ts, opts, stdin, stdout, stderr)
	case opts.httpAddr != "":
		err = serveStreamableHTTP(ctx, ts, opts, stdout)
	case opts.sseAddr != "":
		err = serveSSE(ctx, ts, opts, stdout)
	default:
		err = serveStdio(ctx, ts, stdin, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mcptestserver:", err)
		return exitServeFailed
	}
	return 0
}
