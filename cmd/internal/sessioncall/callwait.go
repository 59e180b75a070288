package sessioncall

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/projector"
)

// Bounds on a call to a bridge made without --timeout. A bridge that cannot answer (stopped
// with SIGSTOP, wedged) would otherwise keep the command waiting forever.
const (
	// stoppedGrace is how long a call waits on a bridge the kernel reports stopped (state T
	// or t: SIGSTOP, SIGTSTP, a debugger) before it gives up. Load never stops a process,
	// so this is not a race with a busy machine.
	stoppedGrace = 5 * time.Second
	// bridgePollInterval is how often the bridge's state is looked at during a call.
	bridgePollInterval = 250 * time.Millisecond
)

// errBridgeStopped is the cause of a call given up because its bridge is stopped.
var errBridgeStopped = errors.New("bridge stopped")

// bridgeStoppedError says which bridge is stopped and for how long the call waited on it.
type bridgeStoppedError struct {
	Session string
	PID     int
	For     time.Duration
}

func (e *bridgeStoppedError) Error() string {
	return fmt.Sprintf("the bridge of @%s (pid %d) is stopped (SIGSTOP or a debugger) and cannot answer; waited %s",
		e.Session, e.PID, e.For.Round(100*time.Millisecond))
}

func (e *bridgeStoppedError) Unwrap() error { return errBridgeStopped }

// callContext bounds one request on the bridge of s. With --timeout the caller's deadline
// (commandContext) is the only bound. Without it the call ends after cmdkit.DefaultCallTimeout, or
// sooner when the bridge process stays stopped for stoppedGrace: either way the request is
// cancelled (notifications/cancelled), never re-sent, and the cause names the bridge.
func CallContext(ctx context.Context, f *cmdkit.Factory, s projector.Session, name string) (context.Context, context.CancelFunc) {
	if f.Timeout > 0 {
		return context.WithCancel(ctx)
	}
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, cmdkit.DefaultCallTimeout,
		fmt.Errorf("no answer within %s, the default call timeout", cmdkit.DefaultCallTimeout))
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	if s.Bridge != nil && s.Bridge.PID > 0 {
		go watchStopped(ctx, s.Bridge.PID, name, cancel, done)
	} else {
		close(done)
	}
	return ctx, func() {
		cancel(nil)
		<-done
		cancelTimeout()
	}
}

// watchStopped cancels ctx when process pid stays stopped for stoppedGrace.
func watchStopped(ctx context.Context, pid int, name string, cancel context.CancelCauseFunc, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(bridgePollInterval)
	defer tick.Stop()
	var since time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if !stopped(pid) {
				since = time.Time{}
				continue
			}
			if since.IsZero() {
				since = now
			}
			if now.Sub(since) >= stoppedGrace {
				cancel(&bridgeStoppedError{Session: name, PID: pid, For: now.Sub(since)})
				return
			}
		}
	}
}

func stopped(pid int) bool {
	st, err := proc.ReadStat(pid)
	return err == nil && (st.State == 'T' || st.State == 't')
}

// bridgeState is a clause for a timeout message: what the bridge process is doing, when
// that explains the silence.
func bridgeState(s projector.Session) string {
	if s.Bridge == nil {
		return ""
	}
	if stopped(s.Bridge.PID) {
		return fmt.Sprintf("; the bridge (pid %d) is stopped (SIGSTOP or a debugger)", s.Bridge.PID)
	}
	return ""
}

// callFailed is callError with the bridge named: a call that ended because the bridge is
// stopped says so and how to go on, and a timed-out call says whether the bridge is stopped.
func CallFailed(ctx context.Context, f *cmdkit.Factory, s projector.Session, name, method string, err error) error {
	cause := context.Cause(ctx)
	var bs *bridgeStoppedError
	if errors.As(cause, &bs) {
		return &clierr.Error{Code: clierr.ExitNetwork,
			Err:  fmt.Errorf("%s on @%s: %w; the request was cancelled and not re-sent", method, name, bs),
			Hint: fmt.Sprintf("kill -CONT %d   (or start a new bridge: mcpctl restart @%s)", bs.PID, name)}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		hint := "mcpctl restart @" + name
		if f.Timeout == 0 {
			hint = "a longer wait: --timeout 1h; a bridge that does not answer: " + hint
		}
		return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%w%s", CallError(ctx, name, method, err), bridgeState(s)), Hint: hint}
	}
	return withAuthHint(f, s, CallError(ctx, name, method, err))
}
