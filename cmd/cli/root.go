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
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Main runs mcpctl with the process's arguments and streams and returns the exit code.
// extra adds commands that live in other binaries' packages: mcpctld adds its
// hidden `bridge` command, so the bridge process shares the factory, flags and exit codes
// while the mcpctl binary does not link the MCP client.
func Main(extra ...func(*Factory) *cobra.Command) int {
	return Run(context.Background(), os.Args[1:], System(), extra...)
}

// Run runs mcpctl with args on the given streams. Signals are handled here, once: the first
// SIGINT/SIGTERM cancels the command's context, and a command ended by one exits 128+n (130
// for SIGINT, 143 for SIGTERM) as shells expect, unless it is a daemon for which a signal is
// the ordinary way to stop (annotated with AnnotationStopsOnSignal).
func Run(ctx context.Context, args []string, io *IOStreams, extra ...func(*Factory) *cobra.Command) int {
	ctx, stop := notifySignals(ctx)
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
	root.SetArgs(rewriteSessionArgs(args, globalFlagTakesValue(root.PersistentFlags())))
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	strictCompletion(root) // after SetOut: cobra's completion commands keep the writer they see
	cmd, err := root.ExecuteContextC(ctx)
	var sig *SignalError
	if errors.As(context.Cause(ctx), &sig) && (cmd == nil || cmd.Annotations[AnnotationStopsOnSignal] == "") {
		if err != nil && !errors.Is(err, errSilent) {
			if errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), sig.Error()) {
				// Whatever was waiting when the signal came says "context canceled": say why.
				err = fmt.Errorf("%w (%v)", err, sig)
			}
			// The code in a --json error is the exit code.
			err = &Error{Code: sig.ExitCode(), Err: err, Hint: hintOf(err)}
			printError(io.ErrOut, err, f.JSON || hasJSONFlag(args))
		}
		return sig.ExitCode()
	}
	if werr := out.Err(); werr != nil && (err == nil || exitCode(err) == ExitNetwork) {
		// Output that did not reach stdout is a failed command (exit 3), unless the
		// command failed for a reason of its own with another code (a server error).
		err = outputErr(werr)
	}
	if err == nil {
		return ExitOK
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

// AnnotationStopsOnSignal marks a command (the hub, the bridge) that SIGINT/SIGTERM stops on
// purpose: its exit code is its own (0 for a clean stop), not 128+n.
const AnnotationStopsOnSignal = "mcpctl.stops-on-signal"

// SignalError is the cause of a command context cancelled by a signal.
type SignalError struct{ Signal syscall.Signal }

func (e *SignalError) Error() string { return e.Signal.String() + " signal received" }

// ExitCode is the shell's convention for a process ended by a signal: 128+n.
func (e *SignalError) ExitCode() int { return 128 + int(e.Signal) }

// notifySignals is signal.NotifyContext with a cause that says which signal came.
func notifySignals(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			if n, ok := s.(syscall.Signal); ok {
				cancel(&SignalError{Signal: n})
			} else {
				cancel(fmt.Errorf("%v signal received", s))
			}
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
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
	pf.Var((*timeoutValue)(&f.Timeout), "timeout", fmt.Sprintf("give up after this long (e.g. 30s; more than 0); a timed-out call is cancelled, never re-sent (calls default to %s)", DefaultCallTimeout))
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

// strictCompletion makes `mcpctl completion bogus` an error naming the shells: cobra's own
// completion command is not runnable, so cobra prints its help and exits 0 for any argument.
func strictCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		var shells []string
		for _, sc := range c.Commands() {
			shells = append(shells, sc.Name())
		}
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			return withHint(fmt.Errorf("completion: unknown shell %q", args[0]), ExitUsage,
				"one of: "+strings.Join(shells, ", ")+" (e.g. mcpctl completion bash)")
		}
		c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	}
}

// timeoutValue is --timeout: a duration that must be more than 0. "0" used to mean no
// timeout at all, which turned a typo into a call that could wait forever.
type timeoutValue time.Duration

func (v *timeoutValue) String() string {
	if *v == 0 {
		return ""
	}
	return time.Duration(*v).String()
}

func (v *timeoutValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration (e.g. 30s, 5m)")
	}
	if d <= 0 {
		return fmt.Errorf("must be more than 0 (e.g. 30s, 5m; a long call: --timeout 24h)")
	}
	*v = timeoutValue(d)
	return nil
}

func (v *timeoutValue) Type() string { return "duration" }

// rewriteSessionArgs turns the session-first grammar (`mcpctl @s tools-list …`) into the
// command-first form cobra parses (`mcpctl tools-list @s …`); `mcpctl @s` alone is `info @s`.
// Global flags may stand before the session, between it and the command, or after both
// (`mcpctl @s --json tools-call …`): takesValue says which of them read the next word.
func rewriteSessionArgs(args []string, takesValue func(flag string) (known, value bool)) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args
		}
		if strings.HasPrefix(a, "-") {
			if _, v := takesValue(a); v {
				i++ // its value is the next word
			}
			continue
		}
		if !strings.HasPrefix(a, "@") {
			return args
		}
		// Global flags between the session and the command move with the session.
		j := i + 1
		for j < len(args) && strings.HasPrefix(args[j], "-") && args[j] != "--" {
			known, v := takesValue(args[j])
			if !known || (v && j+1 >= len(args)) {
				break // not a global flag (or one without its value): cobra says what is wrong
			}
			if v {
				j++
			}
			j++
		}
		out := append([]string{}, args[:i]...)
		if j < len(args) && j > i+1 && !strings.HasPrefix(args[j], "-") {
			out = append(out, args[j], a)
			out = append(out, args[i+1:j]...)
			out = append(out, args[j+1:]...)
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
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

// globalFlagTakesValue says whether a word is one of the root's persistent flags, and
// whether that flag reads the next word as its value (`--timeout 5s`, not `--timeout=5s`,
// not a boolean like --json).
func globalFlagTakesValue(fs *pflag.FlagSet) func(string) (bool, bool) {
	return func(a string) (bool, bool) {
		var fl *pflag.Flag
		switch {
		case strings.HasPrefix(a, "--"):
			name, _, hasValue := strings.Cut(a[2:], "=")
			if fl = fs.Lookup(name); fl == nil {
				return false, false
			}
			return true, !hasValue && fl.NoOptDefVal == ""
		case len(a) == 2:
			if fl = fs.ShorthandLookup(a[1:]); fl == nil {
				return false, false
			}
			return true, fl.NoOptDefVal == ""
		}
		return false, false
	}
}

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
