package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/cmd/internal/logtail"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

// HubServer answers other nodes' requests about this node's sessions (hub.go). New, set
// the fields, Open; Close ends every stream and waits for them.
type HubServer struct {
	NC   *nats.Conn
	Node string
	// Lookup returns the session as this hub has it.
	Lookup func(session string) (projector.Session, bool)
	// LogPath is where the session's log is.
	LogPath func(session string) string
	// Secrets returns the values to redact from the session's log (its header and env
	// values); the redactor adds bearer tokens.
	// An error refuses the log: what cannot be redacted is not shipped.
	Secrets func(s projector.Session) ([]string, error)
	Logger  *slog.Logger

	sub     *nats.Subscription
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	streams atomic.Int64
}

// Open subscribes to the node's hub subjects.
func (h *HubServer) Open() error {
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	sub, err := h.NC.QueueSubscribe(hubSubjects(h.Node), HubQueue, h.handle)
	if err != nil {
		h.cancel()
		return fmt.Errorf("remote session requests: subscribe %s: %w", hubSubjects(h.Node), err)
	}
	if err := h.NC.Flush(); err != nil {
		h.cancel()
		_ = sub.Unsubscribe()
		return fmt.Errorf("remote session requests: %w", err)
	}
	h.sub = sub
	return nil
}

// Close stops answering and ends the streams.
func (h *HubServer) Close() error {
	if h.sub == nil {
		return nil
	}
	err := h.sub.Unsubscribe()
	h.cancel()
	h.wg.Wait()
	return err
}

// Streams is how many log streams are running.
func (h *HubServer) Streams() int { return int(h.streams.Load()) }

func (h *HubServer) handle(m *nats.Msg) {
	session, op, ok := splitHubSubject(m.Subject)
	if !ok || events.ValidateSession(session) != nil || m.Reply == "" {
		return
	}
	respond := func(v any) {
		b, _ := json.Marshal(v)
		if err := m.Respond(b); err != nil {
			h.Logger.Warn("remote session request: reply", "op", op, "session", session, "err", err)
		}
	}
	s, herr := h.allowed(session)
	switch op {
	case OpSession:
		if herr != nil {
			respond(SessionReply{Error: herr})
			return
		}
		respond(SessionReply{Session: &s})
	case OpLogs:
		var req LogsRequest
		if err := json.Unmarshal(m.Data, &req); err != nil || req.Lines < 0 {
			herr = &HubError{Kind: KindFailed, Message: "logs @" + session + "@" + h.Node + ": not a logs request"}
		}
		if herr != nil {
			respond(LogsChunk{Error: herr})
			return
		}
		h.wg.Add(1)
		h.streams.Add(1)
		go func() {
			defer h.wg.Done()
			defer h.streams.Add(-1)
			h.streamLogs(m.Reply, s, req)
		}()
	default:
		respond(SessionReply{Error: &HubError{Kind: KindFailed, Message: fmt.Sprintf("unknown request %q", op)}})
	}
}

// allowed is the rule: a session this node has, opened with --remote.
func (h *HubServer) allowed(session string) (projector.Session, *HubError) {
	s, ok := h.Lookup(session)
	name := session + "@" + h.Node
	if !ok || s.Status == "" || s.Cleaned {
		return s, &HubError{Kind: KindNotFound, Message: "@" + name + ": no such session"}
	}
	if !s.Server.Remote {
		return s, &HubError{Kind: KindNotRemote, Message: "@" + name + " is not open to calls from other nodes"}
	}
	return s, nil
}

// errGone: the client no longer takes chunks.
var errGone = errors.New("the client is gone")

func (h *HubServer) streamLogs(reply string, s projector.Session, req LogsRequest) {
	name := s.Name + "@" + h.Node
	var secrets []string
	sink := &chunkSink{last: time.Now(), deliver: func(ch LogsChunk) error {
		b, err := json.Marshal(ch)
		if err != nil {
			return err
		}
		if _, err := h.NC.Request(reply, b, logsAckTimeout); err != nil {
			return fmt.Errorf("%w: %w", errGone, err)
		}
		return nil
	}}
	if h.Secrets != nil {
		var err error
		if secrets, err = h.Secrets(s); err != nil {
			h.Logger.Warn("logs stream refused: secrets unreadable", "session", s.Name, "err", err)
			_ = sink.send(LogsChunk{Error: &HubError{Kind: KindFailed,
				Message: "logs @" + name + ": node " + h.Node + " cannot read the session's secrets to redact them from its log, so it does not send it"}})
			return
		}
	}
	sink.redact = NewRedactor(secrets)
	err := logtail.Tail(h.ctx, h.LogPath(s.Name), req.Lines, req.Follow, sink)
	var end LogsChunk
	switch {
	case errors.Is(err, errGone):
		return
	case errors.Is(err, logtail.ErrNoLog):
		end.Error = &HubError{Kind: KindNoLog, Message: "no log of @" + name + " yet"}
	case err != nil:
		end.Error = &HubError{Kind: KindFailed, Message: "logs @" + name + ": " + err.Error()}
	case h.ctx.Err() != nil:
		end.Error = &HubError{Kind: KindFailed, Message: "logs @" + name + ": node " + h.Node + "'s hub is stopping"}
	default:
		if err := sink.flushPartial(); err != nil {
			return
		}
		end.EOF = true
	}
	if err := sink.send(end); err != nil && !errors.Is(err, errGone) {
		h.Logger.Debug("logs stream: last chunk", "session", s.Name, "err", err)
	}
}

// chunkSink sends what logtail reads as chunks, whole lines only (a line without its
// newline waits for it, so a secret is never cut in two and missed by the redactor).
type chunkSink struct {
	// deliver sends one chunk and waits for its acknowledgement.
	deliver func(LogsChunk) error
	redact  *Redactor
	partial string
	last    time.Time
}

func (c *chunkSink) Lines(lines []string) error {
	var b strings.Builder
	for _, l := range lines {
		l = c.partial + l
		c.partial = ""
		if !strings.HasSuffix(l, "\n") && len(l) <= maxChunk {
			c.partial = l
			continue
		}
		// A line longer than a chunk (or a piece that long without a newline) is
		// redacted as it is and cut: a chunk must stay under NATS's payload limit.
		l = c.redact.Line(l)
		if len(l) > maxChunk {
			l = l[:maxChunk] + " …[cut]\n"
		}
		if b.Len()+len(l) > maxChunk && b.Len() > 0 {
			if err := c.send(LogsChunk{Data: b.String()}); err != nil {
				return err
			}
			b.Reset()
		}
		b.WriteString(l)
	}
	if b.Len() == 0 {
		return c.Idle()
	}
	return c.send(LogsChunk{Data: b.String()})
}

func (c *chunkSink) Idle() error {
	if time.Since(c.last) < LogsKeepalive {
		return nil
	}
	return c.send(LogsChunk{})
}

// flushPartial sends a last line that has no newline (the end of a log read once).
func (c *chunkSink) flushPartial() error {
	if c.partial == "" {
		return nil
	}
	l := c.redact.Line(c.partial)
	c.partial = ""
	return c.send(LogsChunk{Data: l})
}

func (c *chunkSink) send(ch LogsChunk) error {
	c.last = time.Now()
	return c.deliver(ch)
}
