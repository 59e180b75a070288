package remote

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

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/nats-io/nats.go"
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

// Client makes remote calls over a NATS connection.
type Client struct{ NC *nats.Conn }

// ErrNoResponder: no bridge answers the session's subject (it just went away, or is not
// up yet). The caller reads the log to learn which.
var ErrNoResponder = errors.New("no bridge answers")

// Request sends one MCP request to the bridge of node/session and returns its result. A
// server's JSON-RPC error is returned as *rpc.RPCError; a subject this client may not publish
// to is an authentication error (exit 4).
func (c Client) Request(ctx context.Context, node, session, method string, params json.RawMessage) (json.RawMessage, error) {
	name := session + "@" + node
	body, err := json.Marshal(RemoteRequest{Method: method, Params: params})
	if err != nil {
		return nil, err
	}
	resp, err := c.request(ctx, RPCSubject(node, session), body)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("%w: %w", ErrNoResponder, err)
	case isPermission(err):
		return nil, permissionErr(method, name, node, err)
	case err != nil:
		return nil, err
	}
	var r RemoteReply
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%s on @%s: bad answer from the bridge: %v", method, name, err)}
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return r.Result, nil
}

// request sends body to subject and waits for the answer, with the caller's remaining time
// in RemoteDeadlineHeader (DefaultRemoteCallTimeout when ctx has no deadline).
func (c Client) request(ctx context.Context, subject string, body []byte) (*nats.Msg, error) {
	nc := c.NC
	msg := nats.NewMsg(subject)
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
	ctx, stop := watchPermission(ctx, nc, subject)
	defer stop()
	resp, err := nc.RequestMsgWithContext(ctx, msg)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, nats.ErrPermissionViolation) {
		err = cause
	}
	return resp, err
}

// watchPermission ends ctx when the server refuses a publish on subject: such a refusal is
// reported asynchronously, and a request would only time out.
func watchPermission(ctx context.Context, nc *nats.Conn, subject string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
			cancel(err)
		}
	})
	return ctx, func() { cancel(nil) }
}

func isPermission(err error) bool {
	return errors.Is(err, nats.ErrPermissionViolation) || (err != nil && strings.Contains(strings.ToLower(err.Error()), "permissions violation"))
}

func permissionErr(what, name, node string, err error) error {
	return &clierr.Error{Code: clierr.ExitAuth, Err: fmt.Errorf("%s on @%s: the NATS server does not allow this client to call node %s's sessions (%v)", what, name, node, err),
		Hint: "see docs/cluster.md, \"Who may call a session\""}
}
