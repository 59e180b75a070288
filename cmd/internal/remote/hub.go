package remote

// What another node's hub answers about its sessions, for the session commands that are not
// MCP calls (logs, and the check every @name@node command makes first). The hub answers on
// mcpctl.rpc.<node>.<session>.<op>, beside the bridge's mcpctl.rpc.<node>.<session>: one
// NATS permission on mcpctl.rpc.<node>.> decides who may do both. It answers only for a
// session opened with `connect --remote`, as only such a session's bridge subscribes.
//
// logs streams: the client publishes the request with a reply subject of its own (an
// inbox it subscribes to), and the hub sends each chunk of the log there as a request the
// client acknowledges. A chunk nobody acknowledges (the client stopped: no responders, or
// hung: the ack timeout) ends the stream on the hub; while a follow has nothing to send the
// hub sends an empty chunk every LogsKeepalive, so a client gone quiet is noticed there,
// and a hub gone quiet is noticed by the client.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/projector"
)

// Hub operations and their limits.
const (
	OpSession = "session"
	OpLogs    = "logs"
	// HubQueue: a node runs one hub, but one replacing another answers once.
	HubQueue = "hub"
	// LogsKeepalive is how often a quiet follow sends an empty chunk.
	LogsKeepalive = 2 * time.Second
	// logsQuiet is how long a client waits for a chunk before it says the node's hub is gone.
	logsQuiet = 3 * LogsKeepalive
	// logsAckTimeout is how long the hub waits for a chunk's acknowledgement (a client
	// whose output is blocked acknowledges late).
	logsAckTimeout = 30 * time.Second
	// maxChunk is the most log text one chunk carries (NATS's default payload limit is 1 MiB).
	maxChunk = 64 << 10
	// sessionCheckTimeout bounds the check when the command has no --timeout.
	sessionCheckTimeout = 10 * time.Second
)

// HubSubject is the subject a node's hub answers op on for one of its sessions.
func HubSubject(node, session, op string) string { return RPCSubject(node, session) + "." + op }

// hubSubjects is what a node's hub subscribes to.
func hubSubjects(node string) string { return rpcPrefix + "." + node + ".*.*" }

// Refusal kinds.
const (
	KindNotFound  = "not_found"
	KindNotRemote = "not_remote"
	KindNoLog     = "no_log"
	KindFailed    = "failed"
)

// HubError is the hub's refusal or failure, on the wire and as the client's error.
type HubError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// Node and Session are filled in by the client.
	Node    string `json:"-"`
	Session string `json:"-"`
}

func (e *HubError) Error() string { return e.Message }

// SessionReply answers OpSession: the session as its node's hub has it.
type SessionReply struct {
	Session *projector.Session `json:"session,omitempty"`
	Error   *HubError          `json:"error,omitempty"`
}

// LogsRequest asks for the last Lines lines (0: all) and, with Follow, what is appended.
type LogsRequest struct {
	Lines  int  `json:"lines"`
	Follow bool `json:"follow,omitempty"`
}

// LogsChunk is one piece of a log stream: text (whole lines, secrets redacted), or its end.
type LogsChunk struct {
	Data  string    `json:"data,omitempty"`
	EOF   bool      `json:"eof,omitempty"`
	Error *HubError `json:"error,omitempty"`
}

// noHubErr: nobody answers for node (no hub of it runs on this cluster, or no such node).
func noHubErr(what, name, node string, err error) error {
	return &clierr.Error{Code: clierr.ExitNetwork,
		Err:  fmt.Errorf("%s @%s: no hub of node %s answers (%v)", what, name, node, err),
		Hint: "is node " + node + " on this cluster, with its hub running? (mcpctl sessions --all-nodes lists the nodes' sessions)"}
}

// Session asks node's hub for one of its sessions. It fails with a *HubError when the hub
// refuses (not found, not opened with --remote), exit 3 when no hub of node answers, exit
// 4 when the NATS server does not let this client ask.
func (c Client) Session(ctx context.Context, what, node, session string) (projector.Session, error) {
	name := session + "@" + node
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sessionCheckTimeout)
		defer cancel()
	}
	resp, err := c.request(ctx, HubSubject(node, session, OpSession), nil)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return projector.Session{}, noHubErr(what, name, node, err)
	case isPermission(err):
		return projector.Session{}, permissionErr(what, name, node, err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return projector.Session{}, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%s @%s: node %s's hub did not answer: %w", what, name, node, err)}
	case err != nil:
		return projector.Session{}, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%s @%s: %w", what, name, err)}
	}
	var r SessionReply
	if err := json.Unmarshal(resp.Data, &r); err != nil || (r.Error == nil && r.Session == nil) {
		return projector.Session{}, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%s @%s: bad answer from node %s's hub: %v", what, name, node, err)}
	}
	if r.Error != nil {
		r.Error.Node, r.Error.Session = node, session
		return projector.Session{}, r.Error
	}
	return *r.Session, nil
}

// Logs prints node's log of session to w: the last lines and, with follow, what is
// appended until ctx ends (then it returns nil, as a local follow does). The hub has
// redacted the session's secrets.
func (c Client) Logs(ctx context.Context, node, session string, lines int, follow bool, w io.Writer) error {
	nc, name := c.NC, session+"@"+node
	subject := HubSubject(node, session, OpLogs)
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("logs @%s: %w", name, err)}
	}
	defer func() { _ = sub.Unsubscribe() }()
	body, err := json.Marshal(LogsRequest{Lines: lines, Follow: follow})
	if err != nil {
		return err
	}
	msg := nats.NewMsg(subject)
	msg.Reply, msg.Data = inbox, body
	pctx, stop := watchPermission(ctx, nc, subject)
	defer stop()
	if err := nc.PublishMsg(msg); err != nil {
		return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("logs @%s: %w", name, err)}
	}
	for {
		mctx, cancel := context.WithTimeout(pctx, logsQuiet)
		m, err := sub.NextMsgWithContext(mctx)
		cancel()
		switch {
		case err == nil:
		case isPermission(context.Cause(pctx)):
			return permissionErr("logs", name, node, context.Cause(pctx))
		case ctx.Err() != nil:
			if follow && errors.Is(ctx.Err(), context.Canceled) {
				return nil
			}
			return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("logs @%s: %w", name, context.Cause(ctx))}
		case errors.Is(err, context.DeadlineExceeded):
			return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("logs @%s: node %s's hub sent nothing for %s", name, node, logsQuiet)}
		default:
			return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("logs @%s: %w", name, err)}
		}
		if m.Header.Get("Status") == "503" {
			return noHubErr("logs", name, node, nats.ErrNoResponders)
		}
		var ch LogsChunk
		if err := json.Unmarshal(m.Data, &ch); err != nil {
			return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("logs @%s: bad chunk from node %s's hub: %v", name, node, err)}
		}
		if ch.Data != "" {
			if _, err := io.WriteString(w, ch.Data); err != nil {
				return err
			}
		}
		if m.Reply != "" {
			_ = m.Respond(nil)
		}
		if ch.Error != nil {
			ch.Error.Node, ch.Error.Session = node, session
			return ch.Error
		}
		if ch.EOF {
			return nil
		}
	}
}

// splitHubSubject reads the session and the operation out of a hub subject.
func splitHubSubject(subject string) (session, op string, ok bool) {
	parts := strings.Split(subject, ".")
	if len(parts) != 5 {
		return "", "", false
	}
	return parts[3], parts[4], true
}
