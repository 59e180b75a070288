// Package cli is mcpctl's command line: one file per command, each an options struct filled
// by a cobra command and a run function that writes only to the IO streams. Main maps
// errors to exit codes in one place.
//
//	mcpctl ──► Factory (lazy: home, node, hub connection)
//	   │            │
//	   │            └─► hub: embedded NATS + JetStream ─ projector ─ supervisor
//	   └─► bridge socket (MCP JSON-RPC) ─► MCP server
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Main runs mcpctl with the process's arguments and streams and returns the exit code.
// extra adds commands that live in other binaries' packages: mcpctl-bridge adds its
// hidden `bridge` command, so the bridge process shares the factory, flags and exit codes
// while the mcpctl binary does not link the MCP client.
func Main(extra ...func(*Factory) *cobra.Command) int {
	return Run(context.Background(), os.Args[1:], System(), extra...)
}

// Run runs mcpctl with args on the given streams. Signals are handled here, once: the first
// SIGINT/SIGTERM cancels the command's context.
func Run(ctx context.Context, args []string, io *IOStreams, extra ...func(*Factory) *cobra.Command) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := &outputWriter{w: io.Out}
	streams := *io
	streams.Out = out
	io = &streams
	f := NewFactory(io)
	root := NewRootCmd(f)
	for _, mk := range extra {
		root.AddCommand(mk(f))
	}
	root.SetArgs(rewriteSessionArgs(args))
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	err := root.ExecuteContext(ctx)
	if werr := out.Err(); werr != nil && (err == nil || exitCode(err) == ExitNetwork) {
		// Output that did not reach stdout is a failed command (exit 3), unless the
		// command failed for a reason of its own with another code (a server error).
		err = outputErr(werr)
	}
	if err == nil {
		return ExitOK
	}
	if cause := context.Cause(ctx); cause != nil && errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), cause.Error()) {
		// Whatever was waiting when the signal came says "context canceled": say why.
		err = fmt.Errorf("%w (%v)", err, cause)
	}
	if errors.Is(err, errSilent) {
		return exitCode(err)
	}
	if isCobraUsageError(err) {
		err = &Error{Code: ExitUsage, Err: err, Hint: "mcpctl --help"}
	}
	printError(io.ErrOut, err, f.JSON || hasJSONFlag(args))
	return exitCode(err)
}

// errSilent marks an error already reported to the user.
var errSilent = errors.New("reported")

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "mcpctl",
		Short: "Persistent, named sessions to MCP servers, with an event log of everything they do",
		Long: `mcpctl keeps named sessions to MCP servers open in small bridge processes, so the shell
and scripts can call them many times, in parallel, without reconnecting. Every lifecycle fact
(created, restart requested, bridge spawned, ready, exited, closed, cleaned) is an event in a
durable log that you can tail with 'mcpctl events'.

  mcpctl connect https://host/mcp @docs       open a session
  mcpctl @docs tools-list                       call it
  mcpctl @docs tools-call search query:=nats
  mcpctl events -f                              watch what happens`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		// cobra.NoArgs would say "unknown command" without the "did you mean" cobra offers
		// on its own only when Args is unset.
		SuggestionsMinimumDistance: 2,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				return &Error{Code: ExitUsage, Err: err, Hint: "did you mean " + strings.Join(s, " or ") + "? (all commands: mcpctl --help)"}
			}
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSessions(cmd.Context(), &sessionsOptions{f: f})
		},
	}
	root.SetVersionTemplate("mcpctl {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.BoolVar(&f.JSON, "json", false, "print one JSON document on stdout (errors as JSON on stderr)")
	pf.BoolVarP(&f.Verbose, "verbose", "v", false, "say more on stderr (never changes stdout)")
	pf.DurationVar(&f.Timeout, "timeout", 0, "give up after this long (e.g. 30s); a timed-out call is cancelled, never re-sent")
	addExternalFlags(pf, f)

	root.AddCommand(
		newCmdConnect(f),
		newCmdSessions(f),
		newCmdInfo(f),
		newCmdRestart(f),
		newCmdClose(f),
		newCmdClean(f),
		newCmdLogs(f),
		newCmdWait(f),
		newCmdProxy(f),
		newCmdHistory(f),
		newCmdEvents(f),
		newCmdHub(f),
		newCmdDoctor(f),
	)
	root.AddCommand(newMCPCommands(f)...)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &Error{Code: ExitUsage, Err: err, Hint: cmd.CommandPath() + " --help"}
	})
	return root
}

// rewriteSessionArgs turns the session-first grammar (`mcpctl @s tools-list …`) into the
// command-first form cobra parses (`mcpctl tools-list @s …`); `mcpctl @s` alone is `info @s`.
func rewriteSessionArgs(args []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args
		}
		if strings.HasPrefix(a, "-") {
			if flagTakesValue(a) {
				i++ // its value is the next word
			}
			continue
		}
		if !strings.HasPrefix(a, "@") {
			return args
		}
		out := append([]string{}, args[:i]...)
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out = append(out, args[i+1], a)
			out = append(out, args[i+2:]...)
		} else {
			out = append(out, "info", a)
			out = append(out, args[i+1:]...)
		}
		return out
	}
	return args
}

func flagTakesValue(a string) bool { return a == "--timeout" }

func hasJSONFlag(args []string) bool {
	for _, a := range args {
		if a == "--json" || a == "--json=true" {
			return true
		}
		if a == "--" {
			break
		}
	}
	return false
}

func isCobraUsageError(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires ",
		"invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// commandContext applies --timeout to ctx.
func commandContext(ctx context.Context, f *Factory) (context.Context, context.CancelFunc) {
	if f.Timeout > 0 {
		return context.WithTimeoutCause(ctx, f.Timeout, fmt.Errorf("timed out after %s (--timeout)", f.Timeout))
	}
	return context.WithCancel(ctx)
}
