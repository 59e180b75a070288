package sessioncall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/remote"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/backoff"
	"github.com/mcpctl/mcpctl/projector"
)

// remoteTarget reports whether name addresses a session of another node.
func RemoteTarget(f *cmdkit.Factory, name string) bool {
	_, node := hubclient.SplitTarget(name)
	if node == "" {
		return false
	}
	local, err := f.Node()
	return err != nil || node != local
}

// callRemote makes one MCP request on a session of another node, over NATS to its bridge.
// A crashed session is restarted through the conditional path (its node's supervisor
// spawns); a session still starting is waited for.
func CallRemote(ctx context.Context, f *cmdkit.Factory, name, method string, params json.RawMessage) (json.RawMessage, projector.Session, error) {
	hub, err := f.Hub(ctx)
	if err != nil {
		return nil, projector.Session{}, err
	}
	since := time.Now()
	rh, session := hub.Target(name)
	s, err := LoadSession(ctx, rh, session)
	if err != nil {
		return nil, s, err
	}
	pause := backoff.New(100*time.Millisecond, 400*time.Millisecond) // while a ready bridge has no responder
	for attempt := 0; attempt < MaxSessionAttempts; attempt++ {
		if !s.IsOpen() {
			if s.Status == "" || s.Cleaned {
				return nil, s, NotFoundErr(name)
			}
			return nil, s, &events.SessionError{Op: method, Node: rh.Node, Session: session, Err: events.ErrClosed}
		}
		if !s.Server.Remote {
			return nil, s, NotRemoteErr(name)
		}
		switch s.Status {
		case projector.StatusReady:
			res, err := hub.Remote.Request(ctx, rh.Node, session, method, params)
			if !errors.Is(err, remote.ErrNoResponder) {
				var ce *clierr.Error
				if err != nil && !errors.As(err, &ce) {
					err = CallError(ctx, session+"@"+rh.Node, method, err)
				}
				return res, s, err
			}
			// Ready in the log but nobody answers: the bridge just went away and its node
			// has not recorded it yet. Wait for the log to say what happened.
			if pause.Wait(ctx) != nil {
				return nil, s, TimeoutErr(ctx, method+" on @"+name)
			}
			if s, err = projector.Refresh(ctx, rh.Log, s); err != nil {
				return nil, s, err
			}
			continue
		case projector.StatusCrashed, projector.StatusExpired:
			if s, _, err = RequestRestart(ctx, rh, s, fmt.Sprintf("implicit: %s from node %s found the session %s", method, hub.Node, s.Status), since); err != nil {
				return nil, s, err
			}
		case projector.StatusStarting, projector.StatusRestarting:
		default:
			return nil, s, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("@%s is %s: %s", name, s.Status, FirstNonEmpty(s.Error, s.Reason))}
		}
		if s, err = WaitSettled(ctx, f, rh, s); err != nil {
			return nil, s, err
		}
	}
	return nil, s, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("@%s: no ready bridge after %d attempts%s", name, MaxSessionAttempts, statusParen(string(s.Status), ""))}
}

// NotRemoteErr refuses a command on another node's session that was not opened with
// `connect --remote`: remote calls, and every other session command on @name@node.
func NotRemoteErr(name string) error {
	session, node := hubclient.SplitTarget(name)
	return clierr.WithHint(fmt.Errorf("@%s is not open to calls from other nodes", name), clierr.ExitUsage,
		"on node "+node+": mcpctl connect --remote … @"+session)
}

// retarget names the session in an error the way the user wrote it (@name@node) when a
// helper that knows only the plain name (@name) made it: a message about @name would be
// about another session, this node's.
func Retarget(err error, name, target string) error {
	if err == nil || name == target {
		return err
	}
	var se *events.SessionError
	if !errors.As(err, &se) || se.Session != name {
		return err
	}
	switch {
	case errors.Is(err, events.ErrNotFound):
		return NotFoundErr(target)
	case errors.Is(err, events.ErrClosed):
		return clierr.WithHint(&events.SessionError{Op: se.Op, Session: target, Err: events.ErrClosed}, clierr.ExitUsage,
			"open it again on its node with: mcpctl connect <server> @"+name)
	}
	return err
}
