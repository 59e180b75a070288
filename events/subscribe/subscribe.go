// Package subscribe is the public way for programs to watch mcpctl sessions and act on
// them: connect to the hub of an mcpctl home (or to an external NATS cluster), subscribe to
// the lifecycle events of some sessions from a sequence, a time or "now on", receive each
// one as a typed events.Event, resume after a crash from the last sequence handled, and
// request a restart or a close through the same conditional path the CLI uses.
//
// # Delivery
//
// Events arrive in log order, one at a time, in the caller's goroutine. Within one
// Subscribe call every event is delivered once: the subscription reconnects by itself and
// never hands the same sequence twice. Across processes delivery is at least once: a
// program that crashes after handling an event but before it recorded that event's
// sequence (see Checkpoint) sees the event again when it resumes. An event's sequence
// (events.Event.Seq) is its identity, so a handler that must act exactly once remembers
// the last sequence it acted on and skips anything at or below it; with a Checkpoint that
// is the saved sequence, and the skip is done for you.
//
// # Retention
//
// The log keeps events for a bounded time and size (30 days or 1 GiB on the embedded hub).
// A subscriber that resumes after the events it wants were dropped starts at the oldest
// event still kept; compare the first sequence it receives with the one it expected to
// notice the gap.
package subscribe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/backoff"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/projector"
)

// Files of an mcpctl home that a subscriber reads (it never creates them).
const (
	AddressFile = "hub.json"
	TokenFile   = "hub.token"
)

// Reconnect pacing for a subscription whose reader failed (hub restarted, network blip).
const (
	retryMin = 50 * time.Millisecond
	retryMax = 2 * time.Second
)

// Config says where the log is. Either Home (default: $MCPCTL_HOME, else ~/.mcpctl) or URL
// and Token of an external NATS server.
type Config struct {
	// Home is an mcpctl home directory whose hub is running.
	Home string
	// URL and Token reach an external NATS server instead of a home's hub.
	URL   string
	Token string
	// Node is the node that Restart and Close act on and that Session reads (default:
	// $MCPCTL_NODE, else the sanitized host name, as the CLI does). Subscriptions are not
	// narrowed by it: use Filter.Node.
	Node string
	// Options are extra nats.go options (a name, TLS, credentials for an external server).
	Options []nats.Option
}

// Client is a connection to the event log. It is safe for concurrent use.
type Client struct {
	nc   *nats.Conn
	log  *jetstream.Log
	node string
}

// Connect dials the log that cfg names. For a home it reads the hub's address and token
// files and follows the hub across restarts (it re-reads the address on every reconnect);
// it never starts a hub or creates a token: with no hub running it fails with an error
// wrapping events.ErrNoHub that says how to start one.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	node := cfg.Node
	if node == "" {
		node = os.Getenv("MCPCTL_NODE")
	}
	if node == "" {
		host, _ := os.Hostname()
		node = events.SanitizeNode(host)
	}
	if err := events.ValidateNode(node); err != nil {
		return nil, err
	}
	var (
		nc  *nats.Conn
		err error
	)
	opts := append([]nats.Option{nats.Name("mcpctl-subscriber")}, cfg.Options...)
	if cfg.URL != "" {
		nc, err = dialURL(cfg.URL, cfg.Token, opts)
	} else {
		home := cfg.Home
		if home == "" {
			if home, err = defaultHome(); err != nil {
				return nil, err
			}
		}
		nc, err = dialHome(ctx, home, opts)
	}
	if err != nil {
		return nil, err
	}
	log, err := jetstream.NewLog(ctx, nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Client{nc: nc, log: log, node: node}, nil
}

func defaultHome() (string, error) {
	if d := os.Getenv("MCPCTL_HOME"); d != "" {
		return filepath.Abs(d)
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%w: no home directory (set MCPCTL_HOME): %v", events.ErrNoHub, err)
	}
	return filepath.Join(h, ".mcpctl"), nil
}

// dialHome connects to the hub of home through its address and token files.
func dialHome(ctx context.Context, home string, opts []nats.Option) (*nats.Conn, error) {
	addrPath := filepath.Join(home, AddressFile)
	tokenPath := filepath.Join(home, TokenFile)
	hint := fmt.Sprintf("(start one with: MCPCTL_HOME=%s mcpctl hub start)", home)
	if _, err := jetstream.ReadAddress(addrPath); err != nil {
		return nil, fmt.Errorf("%w in %s %s: %v", events.ErrNoHub, home, hint, err)
	}
	// LoadOrCreateToken would create a missing token: a subscriber only reads one.
	if _, err := os.Stat(tokenPath); err != nil {
		return nil, fmt.Errorf("%w in %s %s: %v", events.ErrNoHub, home, hint, err)
	}
	token, err := jetstream.LoadOrCreateToken(tokenPath)
	if err != nil {
		return nil, err
	}
	nc, err := jetstream.DialHub(ctx, addrPath, token, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w %s", err, hint)
	}
	return nc, nil
}

// dialURL connects to an external NATS server and keeps reconnecting for as long as the
// client lives.
func dialURL(url, token string, opts []nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.Timeout(jetstream.DefaultDialTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(jetstream.DefaultReconnectWait),
	}
	if token != "" {
		base = append(base, nats.Token(token))
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: connect %s: %v", events.ErrNoHub, url, err)
	}
	return nc, nil
}

// Close drops the connection. Subscriptions running on the client end with an error.
func (c *Client) Close() error {
	c.nc.Close()
	return nil
}

// Log returns the underlying event log, for reads the client does not wrap.
func (c *Client) Log() *jetstream.Log { return c.log }

// Node returns the node that Restart, Close and Session act on.
func (c *Client) Node() string { return c.node }

// Head returns the sequence of the newest event in the log (0: empty).
func (c *Client) Head(ctx context.Context) (uint64, error) { return c.log.Head(ctx) }

// Filter selects events. The zero value selects every event.
type Filter struct {
	// Node keeps only this node's events (empty: every node).
	Node string
	// Sessions keeps only these sessions (empty: every session).
	Sessions []string
	// Kinds keeps only these kinds (empty: every kind).
	Kinds []events.Kind
}

// Match reports whether e passes the filter.
func (f Filter) Match(e events.Event) bool {
	if f.Node != "" && e.Node != f.Node {
		return false
	}
	if len(f.Sessions) > 0 && !contains(f.Sessions, e.Session) {
		return false
	}
	return len(f.Kinds) == 0 || contains(f.Kinds, e.Type)
}

func (f Filter) validate() error {
	if f.Node != "" {
		if err := events.ValidateNode(f.Node); err != nil {
			return err
		}
	}
	for _, s := range f.Sessions {
		if err := events.ValidateSession(s); err != nil {
			return err
		}
	}
	for _, k := range f.Kinds {
		if !k.Known() {
			return fmt.Errorf("%w: unknown kind %q", events.ErrInvalidEvent, k)
		}
	}
	return nil
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Start says where a subscription begins. The zero value starts at the oldest event kept.
type Start struct {
	// AfterSeq starts after this sequence: pass the last sequence handled to resume.
	AfterSeq uint64
	// Since starts at the first event stored at or after this time.
	Since time.Time
	// New starts after the newest event at the time of the call: only what happens next.
	New bool
}

// FromBeginning starts at the oldest event the log keeps.
func FromBeginning() Start { return Start{} }

// AfterSeq resumes after sequence seq.
func AfterSeq(seq uint64) Start { return Start{AfterSeq: seq} }

// Since starts at the first event at or after t.
func Since(t time.Time) Start { return Start{Since: t} }

// New starts with the first event appended after the subscription begins.
func New() Start { return Start{New: true} }

// Handler handles one event. Returning an error ends the subscription with that error; the
// event counts as not handled (it is not checkpointed).
type Handler func(ctx context.Context, e events.Event) error

// Subscription describes what to receive.
type Subscription struct {
	Filter Filter
	Start  Start
	// Checkpoint, when set, makes the subscription durable: it resumes after the sequence
	// the checkpoint holds (Start applies only when it holds none) and records each event's
	// sequence once the handler returned nil for it.
	Checkpoint Checkpoint
}

// Subscribe delivers the events sub selects to h, in log order, until ctx ends (it then
// returns ctx's error) or h returns an error (returned as is). It follows the log past its
// current end and survives a hub restart: after a read error it reconnects and goes on
// after the last event delivered, so no event is skipped or repeated within the call.
// Undecodable events (Type "") are skipped; their sequence still counts as handled.
func (c *Client) Subscribe(ctx context.Context, sub Subscription, h Handler) error {
	if err := sub.Filter.validate(); err != nil {
		return err
	}
	q := events.Query{Node: sub.Filter.Node, AfterSeq: sub.Start.AfterSeq, Since: sub.Start.Since}
	if len(sub.Filter.Sessions) == 1 {
		q.Session = sub.Filter.Sessions[0]
	}
	// Kinds and further sessions are matched here, not in the query, so that the position
	// (and the checkpoint) advances past events the handler does not want.
	if sub.Start.New {
		head, err := c.log.Head(ctx)
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		q.AfterSeq, q.Since = head, time.Time{}
	}
	if sub.Checkpoint != nil {
		seq, ok, err := sub.Checkpoint.Load()
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		if ok {
			q.AfterSeq, q.Since = seq, time.Time{}
		}
	}
	var handlerErr error
	pause := backoff.New(retryMin, retryMax)
	for {
		err := c.log.Follow(ctx, q, func(e events.Event) error {
			if e.Seq <= q.AfterSeq {
				return nil // never twice, whatever the reader replays after a reconnect
			}
			if e.Type != "" && sub.Filter.Match(e) {
				if err := h(ctx, e); err != nil {
					handlerErr = err
					return err
				}
			}
			// Past this event: a reconnect resumes after it, by sequence, not by time.
			q.AfterSeq, q.Since = e.Seq, time.Time{}
			pause.Reset()
			if sub.Checkpoint != nil {
				if err := sub.Checkpoint.Save(e.Seq); err != nil {
					handlerErr = fmt.Errorf("subscribe: %w", err)
					return handlerErr
				}
			}
			return nil
		})
		switch {
		case handlerErr != nil:
			return handlerErr
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, events.ErrInvalidName):
			return err
		}
		if err := pause.Wait(ctx); err != nil {
			return err
		}
	}
}

// Session returns the current state of a session of the client's node, folded from the
// log (the same fold the hub materializes). A session never created comes back with an
// empty Status.
func (c *Client) Session(ctx context.Context, name string) (projector.Session, error) {
	if err := events.ValidateSession(name); err != nil {
		return projector.Session{}, err
	}
	return projector.Refresh(ctx, c.log, projector.Session{Node: c.node, Name: name})
}

// Restart asks for a new generation of the session, as `mcpctl restart` does: when a
// restart is already pending the call joins it, otherwise it appends restart_requested
// under the compare-and-set and, if another writer got there first, re-reads and decides
// again. started reports whether this call's request is the one that took effect. The
// restart happens asynchronously: watch for the generation's bridge_ready.
func (c *Client) Restart(ctx context.Context, session, reason string) (s projector.Session, started bool, err error) {
	if s, err = c.Session(ctx, session); err != nil {
		return s, false, err
	}
	return projector.RequestRestart(ctx, c.log, s, reason, time.Time{})
}

// CloseSession closes a session, as `mcpctl close` does, under the same compare-and-set.
// closed reports whether this call closed it (false: it was closed already).
func (c *Client) CloseSession(ctx context.Context, session, reason string) (s projector.Session, closed bool, err error) {
	if s, err = c.Session(ctx, session); err != nil {
		return s, false, err
	}
	return projector.RequestClose(ctx, c.log, s, reason)
}
