// Command bench measures mcpctl against @apify/mcpc on this machine, call by call, and
// writes the results to docs/benchmarks.md and docs/benchmarks.svg.
//
//	go run ./e2e/bench [-n 20] [-slow 4] [-storm 32] [-mem-calls 1000] [-no-mcpc]
//	go run ./e2e/bench -only targets   # the targets of issue 12 alone, in a minute or two
//
// Both tools get their own temporary home, talk to the same two stdio servers
// (@modelcontextprotocol/server-everything and our Go test server), and run with stdin from
// /dev/null. The two tools alternate sample by sample, so drift of the machine (other load,
// CPU frequency) hits both alike.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Pinned versions: the registry here has only this mcpc.
const (
	mcpcPackage       = "@apify/mcpc@0.2.6"
	everythingPackage = "@modelcontextprotocol/server-everything@2026.8.31"
	cmdTimeout        = 3 * time.Minute
)

type config struct {
	warm      int    // samples per warm operation
	slow      int    // samples per connect/restart/close
	storm     int    // parallel processes in a storm
	memCalls  int    // calls before the second memory reading
	docs      string // where benchmarks.md and benchmarks.svg go
	cache     string // npm install cache ("" = os.UserCacheDir()/mcpctl-bench)
	noMCPC    bool   // mcpctl only (a quick run; no ratios)
	servers   string // "go,everything" or one of them
	keep      bool   // keep the temporary directory
	only      string // "" (everything) or "targets"
	bridges   int    // extra sessions for the bridge memory target
	hubStarts int    // samples of the hub's auto-start
	docsSet   bool   // -docs was given
}

func main() {
	var c config
	flag.IntVar(&c.warm, "n", 20, "samples per warm operation (tools-list, tools-call, ping, raw floor)")
	flag.IntVar(&c.slow, "slow", 4, "samples per connect, restart and close")
	flag.IntVar(&c.storm, "storm", 32, "parallel processes in the call and restart storms (0: skip storms)")
	flag.IntVar(&c.memCalls, "mem-calls", 1000, "calls between the two memory readings")
	flag.StringVar(&c.docs, "docs", "docs", "directory for benchmarks.md and benchmarks.svg")
	flag.StringVar(&c.cache, "cache", "", "npm install cache directory (default: <user cache dir>/mcpctl-bench)")
	flag.BoolVar(&c.noMCPC, "no-mcpc", false, "measure mcpctl only")
	flag.StringVar(&c.servers, "servers", "go,everything", "servers to measure against: go, everything, or both")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory (homes, binaries, logs)")
	flag.StringVar(&c.only, "only", "", `"targets": measure only the targets of issue 12 (mcpctl alone; writes the docs only with -docs)`)
	flag.IntVar(&c.bridges, "bridges", 50, "sessions to the Go test server opened for the bridge memory target (0: skip)")
	flag.IntVar(&c.hubStarts, "hub-starts", 7, "samples of the hub's auto-start from a cold home (0: skip)")
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { c.docsSet = c.docsSet || f.Name == "docs" })
	switch c.only {
	case "":
	case "targets":
		c.noMCPC = true
	default:
		fmt.Fprintf(os.Stderr, "bench: -only %q: the only choice is \"targets\"\n", c.only)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	start := time.Now()
	// Short paths: sockets live under the homes and sun_path holds 108 bytes.
	tmp, err := os.MkdirTemp("", "mb")
	if err != nil {
		return err
	}
	if !c.keep {
		defer os.RemoveAll(tmp)
	} else {
		logf("keeping %s", tmp)
	}
	env, err := setup(ctx, c, tmp)
	if err != nil {
		return err
	}
	b := newBench(c, env)
	defer b.teardown()
	if err := b.runAll(ctx); err != nil {
		return err
	}
	b.res.Elapsed = time.Since(start)
	if c.only == "targets" && !c.docsSet {
		fmt.Print(renderTable(b.res), "\n", renderBridgeMem(b.res.BridgeMem), renderTargets(b.res))
		logf("targets only: no docs written (give -docs DIR to write them); took %s", b.res.Elapsed.Round(time.Second))
		return nil
	}
	if err := os.MkdirAll(c.docs, 0o755); err != nil {
		return err
	}
	md := filepath.Join(c.docs, "benchmarks.md")
	svg := filepath.Join(c.docs, "benchmarks.svg")
	if err := os.WriteFile(svg, []byte(renderSVG(b.res)), 0o644); err != nil {
		return err
	}
	if err := writeMarkdown(md, renderMarkdown(b.res)); err != nil {
		return err
	}
	fmt.Print(renderTable(b.res), "\n", renderBridgeMem(b.res.BridgeMem), renderTargets(b.res))
	logf("wrote %s and %s in %s", md, svg, b.res.Elapsed.Round(time.Second))
	return nil
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}
