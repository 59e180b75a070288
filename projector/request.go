package projector

import (
	"context"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// RequestRestart asks for generation s.Generation+1 under the concurrency rule, starting
// from s (read from the KV or folded; it may be stale). When a restart is already pending,
// or the ready generation was still pending or not yet requested at since (zero: no such
// shortcut; see Satisfies), the caller joins it;
// otherwise it appends restart_requested expecting s.LastSeq, and on a lost
// compare-and-set folds what it missed (Refresh) and decides again. It returns the state
// after its decision and whether this caller's request is the one that took effect.
// A session that does not exist, was cleaned or was closed is an *events.SessionError
// wrapping events.ErrNotFound or events.ErrClosed.
func RequestRestart(ctx context.Context, log events.Log, s Session, reason string, since time.Time) (Session, bool, error) {
	return RequestRestartWith(ctx, log, s, RestartOptions{Reason: reason, Since: since})
}

// RestartOptions qualify a restart request.
type RestartOptions struct {
	Reason string
	// Since is when the caller asked (zero: no such shortcut): a ready generation that was
	// not ready yet at that moment satisfies it (see Satisfies).
	Since time.Time
	// Fresh asks for a new MCP session rather than resuming the current one.
	Fresh bool
}

// RequestRestartWith is RequestRestart with options.
func RequestRestartWith(ctx context.Context, log events.Log, s Session, o RestartOptions) (Session, bool, error) {
	s, seq, err := Update(ctx, log, s, nil, func(s Session) (*events.Event, error) {
		switch {
		case s.Status == "" || s.Cleaned:
			return nil, &events.SessionError{Op: "restart", Node: s.Node, Session: s.Name, Err: events.ErrNotFound}
		case !s.IsOpen():
			return nil, &events.SessionError{Op: "restart", Node: s.Node, Session: s.Name, Err: events.ErrClosed}
		case s.Status == StatusStarting || s.Status == StatusRestarting:
			return nil, nil // join the pending generation
		case s.Satisfies(o.Since):
			return nil, nil
		}
		next, err := events.NextGeneration(s.Generation)
		if err != nil {
			return nil, &events.SessionError{Op: "restart", Node: s.Node, Session: s.Name, Err: err}
		}
		e := events.New(events.KindRestartRequested, s.Node, s.Name, next)
		e.Reason = o.Reason
		e.Fresh = o.Fresh
		return &e, nil
	})
	return s, seq != 0, err
}

// Satisfies reports whether the session's current generation answers a restart asked for at
// since: it is ready, and at since it was not ready yet — it was requested or starting (the
// state rule would have joined it then), or not even requested. This is the state rule
// applied at the moment the caller asked rather than at the moment its code got to run,
// which on a loaded machine is hundreds of milliseconds later, longer than a whole restart.
// A generation that was ready before since does not satisfy (the caller wants a fresher
// one), nor does one that crashed or expired since (it is not ready). Zero since: never.
func (s Session) Satisfies(since time.Time) bool {
	if since.IsZero() || s.Status != StatusReady {
		return false
	}
	return (!s.ReadyAt.IsZero() && !s.ReadyAt.Before(since)) ||
		(!s.RequestedAt.IsZero() && !s.RequestedAt.Before(since))
}

// RequestClose closes the session under the same compare-and-set: it appends closed
// expecting s.LastSeq while the (refreshed) session is open. It returns the state after
// and whether this caller closed it (false: it was closed, cleaned or never created).
func RequestClose(ctx context.Context, log events.Log, s Session, reason string) (Session, bool, error) {
	s, seq, err := Update(ctx, log, s, nil, func(s Session) (*events.Event, error) {
		if !s.IsOpen() {
			return nil, nil
		}
		e := events.New(events.KindClosed, s.Node, s.Name, s.Generation)
		e.Reason = reason
		return &e, nil
	})
	return s, seq != 0, err
}
