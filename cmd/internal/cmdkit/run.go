package cmdkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/events"

	"github.com/spf13/cobra"
)

// Program is what Run runs: a command tree over the factory, and how its words are read.
type Program struct {
	// Root builds the command tree.
	Root func(*Factory) *cobra.Command
	// Args rewrites the words before cobra parses them (mcpctl's session-first grammar);
	// nil takes them as they are.
	Args func(root *cobra.Command, args []string) []string
	// Factory makes the factory the commands get; nil: NewFactory (tests hand in one whose
	// hub is in memory).
	Factory func(*IOStreams) *Factory
	// Streams runs once the root writes to the streams (cobra's completion commands keep
	// the writer they see when they are made); nil: nothing.
	Streams func(root *cobra.Command)
}

// Run runs the program with args on the given streams and returns the exit code. Errors
// are mapped to exit codes here, in one place. Signals are handled here, once: the first
// SIGINT/SIGTERM cancels the command's context, and a command ended by one exits 128+n (130
// for SIGINT, 143 for SIGTERM) as shells expect, unless it is a daemon for which a signal is
// the ordinary way to stop (annotated with AnnotationStopsOnSignal).
func Run(ctx context.Context, args []string, io *IOStreams, p Program) int {
	ctx, stop := notifySignals(ctx)
	defer stop()
	sigCtx := ctx
	// A publish or subscription the NATS cluster's permissions refuse is reported
	// asynchronously; whatever waits on it would only time out. It ends the command instead,
	// and becomes its error (exit 4, naming the subject).
	ctx, deny := context.WithCancelCause(ctx)
	defer deny(nil)
	limit := &charLimitWriter{W: io.Out}
	out := &OutputWriter{W: limit}
	streams := *io
	streams.Out = out
	io = &streams
	newFactory := p.Factory
	if newFactory == nil {
		newFactory = NewFactory
	}
	f := newFactory(io)
	limit.Limit = func() int {
		if f.JSON {
			return 0
		}
		return f.MaxChars
	}
	f.OnDenied = func(err error) { deny(err) }
	root := p.Root(f)
	if p.Args != nil {
		root.SetArgs(p.Args(root, args))
	} else {
		root.SetArgs(args)
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	if p.Streams != nil {
		p.Streams(root)
	}
	cmd, err := root.ExecuteContextC(ctx)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, events.ErrDenied) && !errors.Is(err, events.ErrDenied) {
		err = &clierr.Error{Code: clierr.ExitAuth, Err: fmt.Errorf("%w (%v)", cause, err),
			Hint: "ask for the permissions of your role (docs/cluster.md, \"Permissions per role\")"}
	}
	var sig *SignalError
	if errors.As(context.Cause(sigCtx), &sig) && (cmd == nil || cmd.Annotations[AnnotationStopsOnSignal] == "") {
		if err != nil && !errors.Is(err, ErrSilent) {
			if errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), sig.Error()) {
				// Whatever was waiting when the signal came says "context canceled": say why.
				err = fmt.Errorf("%w (%v)", err, sig)
			}
			// The code in a --json error is the exit code.
			err = &clierr.Error{Code: sig.ExitCode(), Err: err, Hint: clierr.HintOf(err)}
			clierr.PrintError(io.ErrOut, root.Name(), err, f.JSON || hasJSONFlag(args))
		}
		return sig.ExitCode()
	}
	if werr := out.Err(); werr != nil && (err == nil || clierr.ExitCode(err) == clierr.ExitNetwork) {
		// Output that did not reach stdout is a failed command (exit 3), unless the
		// command failed for a reason of its own with another code (a server error).
		err = outputErr(werr)
	}
	if err == nil {
		return clierr.ExitOK
	}
	if errors.Is(err, ErrSilent) {
		return clierr.ExitCode(err)
	}
	if isCobraUsageError(err) {
		err = &clierr.Error{Code: clierr.ExitUsage, Err: err, Hint: root.Name() + " --help"}
	}
	clierr.PrintError(io.ErrOut, root.Name(), err, f.JSON || hasJSONFlag(args))
	return clierr.ExitCode(err)
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
var ErrSilent = errors.New("reported")

// timeoutValue is --timeout: a duration that must be more than 0. "0" used to mean no
// timeout at all, which turned a typo into a call that could wait forever. A plain number
// is seconds, as in mcpc (--timeout 30); a duration with a unit (30s, 1m) still works.
type TimeoutValue time.Duration

func (v *TimeoutValue) String() string {
	if *v == 0 {
		return ""
	}
	return time.Duration(*v).String()
}

func (v *TimeoutValue) Set(s string) error {
	d, err := ParseTimeout(s)
	if err != nil {
		return err
	}
	*v = TimeoutValue(d)
	return nil
}

func (v *TimeoutValue) Type() string { return "duration" }

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
	var e *clierr.Error
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
func CommandContext(ctx context.Context, f *Factory) (context.Context, context.CancelFunc) {
	if f.Timeout > 0 {
		return context.WithTimeoutCause(ctx, f.Timeout, fmt.Errorf("timed out after %s (--timeout)", f.Timeout))
	}
	return context.WithCancel(ctx)
}
