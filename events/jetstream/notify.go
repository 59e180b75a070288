package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
)

// Notification is one MCP server notification kept in the notification stream.
type Notification struct {
	Seq     uint64          `json:"seq,omitempty"`
	Node    string          `json:"node"`
	Session string          `json:"session"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
	Time    time.Time       `json:"time"`
}

// NotifyQuery selects notifications. Empty node or session means any.
type NotifyQuery struct {
	Node     string
	Session  string
	AfterSeq uint64
	Since    time.Time
}

// PublishNotification stores a server notification of a session and returns its sequence.
func (l *Log) PublishNotification(ctx context.Context, node, session, method string, params json.RawMessage) (uint64, error) {
	if err := events.ValidateNode(node); err != nil {
		return 0, err
	}
	if err := events.ValidateSession(session); err != nil {
		return 0, err
	}
	n := Notification{Node: node, Session: session, Method: method, Params: params, Time: time.Now().UTC()}
	data, err := json.Marshal(n)
	if err != nil {
		return 0, fmt.Errorf("notification %s: %w", method, err)
	}
	msg := nats.NewMsg(events.NotifySubject(node, session, method))
	msg.Data = data
	msg.Header.Set(njs.MsgIDHeader, newID())
	ack, err := l.js.PublishMsg(ctx, msg)
	if err != nil {
		return 0, &events.SessionError{Op: "notify " + method, Node: node, Session: session, Err: err}
	}
	return ack.Sequence, nil
}

// ReadNotifications calls fn for each notification matching q stored when it starts.
// Undecodable ones are passed with an empty Method.
func (l *Log) ReadNotifications(ctx context.Context, q NotifyQuery, fn func(Notification) error) error {
	return l.readNotifications(ctx, q, false, fn)
}

// FollowNotifications is ReadNotifications that keeps waiting for new ones until ctx ends.
func (l *Log) FollowNotifications(ctx context.Context, q NotifyQuery, fn func(Notification) error) error {
	return l.readNotifications(ctx, q, true, fn)
}

func (l *Log) readNotifications(ctx context.Context, q NotifyQuery, follow bool, fn func(Notification) error) error {
	node, session := q.Node, q.Session
	if node != "" {
		if err := events.ValidateNode(node); err != nil {
			return err
		}
	} else {
		node = "*"
	}
	if session != "" {
		if err := events.ValidateSession(session); err != nil {
			return err
		}
	}
	filter := events.NotifyPrefix + "." + node + ".>"
	if session != "" {
		filter = events.NotifyPrefix + "." + node + "." + session + ".>"
	}
	return l.consume(ctx, events.NotifyStream, filter, q.AfterSeq, q.Since, follow, func(m rawMsg, _ bool) error {
		var n Notification
		if err := json.Unmarshal(m.Data, &n); err != nil {
			n = Notification{Time: m.Time}
			if parts := strings.SplitN(m.Subject, ".", 5); len(parts) >= 4 {
				n.Node, n.Session = parts[2], parts[3]
			}
		}
		n.Seq = m.Seq
		return fn(n)
	})
}
