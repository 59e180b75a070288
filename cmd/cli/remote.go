package cli

// Sessions of other nodes. A session belongs to the node whose hub supervises it; another
// node addresses it as @name@node. Lifecycle requests (restart, close) are appended to the
// log on the session's own subjects, under the same compare-and-set as local ones, and the
// owning node's supervisor acts on them. MCP calls go over NATS request/reply to the bridge,
// on mcpctl.rpc.<node>.<session>, when the session was opened with `connect --remote`.
// Who may call is decided by the NATS server's permissions (docs/cluster.md).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/backoff"
	"github.com/mcpctl/mcpctl/projector"
)

// Remote calls.
const (
	rpcPrefix = "mcpctl.rpc"
	// RemoteQueue makes one bridge answer while two generations overlap for a moment.
	RemoteQueue = "bridge"
	// RemoteDeadlineHeader carries the caller's remaining time in milliseconds: the bridge
	// cancels the call upstream when it passes (notifications/cancelled), as a local
	// --timeout does.
	RemoteDeadlineHeader     = "Mcpctl-Deadline-Ms"
	DefaultRemoteCallTimeout = 5 * time.Minute
)

// RPCSubject is the subject a remote-enabled bridge answers MCP requests on.
func RPCSubject(node, session string) string { return rpcPrefix + "." + node + "." + session }

// RemoteRequest and RemoteReply are the messages of a remote call.
type RemoteRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

type RemoteReply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *rpc.RPCError   `json:"error,omitempty"`
}

// splitTarget splits "name@node" ("" node: no node given).
func splitTarget(name string) (session, node string) {
	session, node, _ = strings.Cut(name, "@")
	return session, node
}

// target resolves "name@node" to the connection as seen from that node (its Node is the
// session's node) and the plain session name. A name without a node, or with this node's,
// is local.
func (h *HubConn) target(name string) (*HubConn, string) {
	session, node := splitTarget(name)
	if node == "" || node == h.Node {
		return h, session
	}
	c := *h
	c.Node = node
	return &c, session
}

// remoteTarget reports whether name addresses a session of another node.
func remoteTarget(f *Factory, name string) bool {
	_, node := splitTarget(name)
	if node == "" {
		return false
	}
	local, err := f.Node()
	return err != nil || node != local
}

// callRemote makes one MCP request on a session of another node, over NATS to its bridge.
// A crashed session is restarted through the conditional path (its node's supervisor
// spawns); a session still starting is waited for.
func callRemote(ctx context.Context, f *Factory, name, method string, params json.RawMessage) (json.RawMessage, projector.Session, error) {
	hub, err := f.Hub(ctx)
	if err != nil {
		return nil, projector.Session{}, err
	}
	since := time.Now()
	rh, session := hub.target(name)
	s, err := loadSession(ctx, rh, session)
	if err != nil {
		return nil, s, err
	}
	pause := backoff.New(100*time.Millisecond, 400*time.Millisecond) // while a ready bridge has no responder
	for attempt := 0; attempt < maxSessionAttempts; attempt++ {
		if !s.IsOpen() {
			if s.Status == "" || s.Cleaned {
				return nil, s, notFoundErr(name)
			}
			return nil, s, &events.SessionError{Op: method, Node: rh.Node, Session: session, Err: events.ErrClosed}
		}
		if !s.Server.Remote {
			return nil, s, withHint(fmt.Errorf("@%s is not open to calls from other nodes", name), ExitUsage,
				"on node "+rh.Node+": mcpctl connect --remote … @"+session)
		}
		switch s.Status {
		case projector.StatusReady:
			res, err := remoteRequest(ctx, hub.NC, rh.Node, session, method, params)
			if !errors.Is(err, nats.ErrNoResponders) {
				return res, s, err
			}
			// Ready in the log but nobody answers: the bridge just went away and its node
			// has not recorded it yet. Wait for the log to say what happened.
			if pause.Wait(ctx) != nil {
				return nil, s, timeoutErr(ctx, method+" on @"+name)
			}
			if s, err = projector.Refresh(ctx, rh.Log, s); err != nil {
				return nil, s, err
			}
			continue
		case projector.StatusCrashed, projector.StatusExpired:
			if s, _, err = requestRestart(ctx, rh, s, fmt.Sprintf("implicit: %s from node %s found the session %s", method, hub.Node, s.Status), since); err != nil {
				return nil, s, err
			}
		case projector.StatusStarting, projector.StatusRestarting:
		default:
			return nil, s, &Error{Code: ExitNetwork, Err: fmt.Errorf("@%s is %s: %s", name, s.Status, firstNonEmpty(s.Error, s.Reason))}
		}
		if s, err = waitSettled(ctx, f, rh, s); err != nil {
			return nil, s, err
		}
	}
	return nil, s, &Error{Code: ExitNetwork, Err: fmt.Errorf("@%s: no ready bridge after %d attempts (status %s)", name, maxSessionAttempts, s.Status)}
}

// remoteRequest sends one MCP request to the bridge of node/session and maps the answer as
// callError does for local calls.
func remoteRequest(ctx context.Context, nc *nats.Conn, node, session, method string, params json.RawMessage) (json.RawMessage, error) {
	name := session + "@" + node
	body, err := json.Marshal(RemoteRequest{Method: method, Params: params})
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(RPCSubject(node, session))
	msg.Data = body
	deadline := DefaultRemoteCallTimeout
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, deadline)
		defer cancel()
	}
	msg.Header.Set(RemoteDeadlineHeader, strconv.FormatInt(deadline.Milliseconds(), 10))
	// A publish the server's permissions refuse is reported asynchronously, and the request
	// would only time out: watch for the refusal of this subject and end the request.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), msg.Subject) {
			cancel(err)
		}
	})
	resp, err := nc.RequestMsgWithContext(ctx, msg)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, nats.ErrPermissionViolation) {
		err = cause
	}
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, err
	case errors.Is(err, nats.ErrPermissionViolation) || (err != nil && strings.Contains(strings.ToLower(err.Error()), "permissions violation")):
		return nil, &Error{Code: ExitAuth, Err: fmt.Errorf("%s on @%s: the NATS server does not allow this client to call node %s's sessions (%v)", method, name, node, err),
			Hint: "see docs/cluster.md, \"Who may call a session\""}
	case err != nil:
		return nil, callError(ctx, name, method, err)
	}
	var r RemoteReply
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, &Error{Code: ExitNetwork, Err: fmt.Errorf("%s on @%s: bad answer from the bridge: %v", method, name, err)}
	}
	if r.Error != nil {
		return nil, callError(ctx, name, method, r.Error)
	}
	return r.Result, nil
}

// retarget names the session in an error the way the user wrote it (@name@node) when a
// helper that knows only the plain name (@name) made it: a message about @name would be
// about another session, this node's.
func retarget(err error, name, target string) error {
	if err == nil || name == target {
		return err
	}
	var se *events.SessionError
	if !errors.As(err, &se) || se.Session != name {
		return err
	}
	switch {
	case errors.Is(err, events.ErrNotFound):
		return notFoundErr(target)
	case errors.Is(err, events.ErrClosed):
		return withHint(&events.SessionError{Op: se.Op, Session: target, Err: events.ErrClosed}, ExitUsage,
			"open it again on its node with: mcpctl connect <server> @"+name)
	}
	return err
}
