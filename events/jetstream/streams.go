// Package jetstream is the events.Log on NATS JetStream as a client sees it: dialing a server,
// the streams and the session KV bucket, the conditional append, fast replay, notifications,
// storage faults, and hub discovery through the token and address files. The server itself
// (the hub's embedded nats-server) is events/jetstream/embedded, which clients never link.
package jetstream

import (
	"context"
	"fmt"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
)

// Defaults for the server's knobs.
const (
	DefaultHost            = "127.0.0.1"
	DefaultEventsMaxAge    = 30 * 24 * time.Hour
	DefaultEventsMaxBytes  = 1 << 30
	DefaultNotifyMaxAge    = 24 * time.Hour
	DefaultNotifyMaxBytes  = 256 << 20
	DefaultDuplicateWindow = 2 * time.Minute
	DefaultReadyTimeout    = 10 * time.Second

	// LockFile is the name of the store lock inside the server's directory.
	LockFile = "store.lock"
)

// StreamConfig is what EnsureStreams creates: the events stream, the notification stream and
// the session KV bucket, with bounded retention.
type StreamConfig struct {
	EventsMaxAge   time.Duration
	EventsMaxBytes int64
	// EventsMaxMsgs bounds the number of events (0: no bound besides age and size).
	EventsMaxMsgs   int64
	NotifyMaxAge    time.Duration
	NotifyMaxBytes  int64
	DuplicateWindow time.Duration
	// Replicas is 1 on the embedded server, 3 on an external cluster.
	Replicas int
}

// DefaultStreamConfig returns the retention the embedded hub uses.
func DefaultStreamConfig() StreamConfig {
	return StreamConfig{
		EventsMaxAge:    DefaultEventsMaxAge,
		EventsMaxBytes:  DefaultEventsMaxBytes,
		NotifyMaxAge:    DefaultNotifyMaxAge,
		NotifyMaxBytes:  DefaultNotifyMaxBytes,
		DuplicateWindow: DefaultDuplicateWindow,
		Replicas:        1,
	}
}

// EnsureStreams creates or updates the events stream, the notification stream and the
// session KV bucket. It works against the embedded server and an external cluster alike.
func EnsureStreams(ctx context.Context, js njs.JetStream, cfg StreamConfig) error {
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	if cfg.DuplicateWindow <= 0 {
		cfg.DuplicateWindow = DefaultDuplicateWindow
	}
	evMaxMsgs := cfg.EventsMaxMsgs
	if evMaxMsgs == 0 {
		evMaxMsgs = -1
	}
	orNone := func(n int64) int64 {
		if n <= 0 {
			return -1
		}
		return n
	}
	// The duplicate window may not exceed the max age.
	dup := func(age time.Duration) time.Duration {
		if age > 0 && cfg.DuplicateWindow > age {
			return age
		}
		return cfg.DuplicateWindow
	}
	// A smaller limit than what a stream holds would make the update discard stored
	// (acknowledged) events: never go below it.
	atLeastStored := func(name string, limit int64) int64 {
		if limit <= 0 {
			return limit
		}
		if st, err := js.Stream(ctx, name); err == nil {
			return max(limit, int64(st.CachedInfo().State.Bytes))
		}
		return limit
	}
	cfg.EventsMaxBytes = atLeastStored(events.EventsStream, cfg.EventsMaxBytes)
	cfg.NotifyMaxBytes = atLeastStored(events.NotifyStream, cfg.NotifyMaxBytes)
	_, err := js.CreateOrUpdateStream(ctx, njs.StreamConfig{
		Name:        events.EventsStream,
		Description: "mcpctl session lifecycle events",
		Subjects:    []string{events.EventsPrefix + ".>"},
		Retention:   njs.LimitsPolicy,
		Discard:     njs.DiscardOld,
		Storage:     njs.FileStorage,
		MaxAge:      cfg.EventsMaxAge,
		MaxBytes:    orNone(cfg.EventsMaxBytes),
		MaxMsgs:     evMaxMsgs,
		Duplicates:  dup(cfg.EventsMaxAge),
		Replicas:    cfg.Replicas,
		AllowDirect: true,
		// A deleted event would let a stale compare-and-set succeed; only retention removes
		// events. Purge stays possible for an explicit reset.
		DenyDelete: true,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", events.EventsStream, err)
	}
	_, err = js.CreateOrUpdateStream(ctx, njs.StreamConfig{
		Name:        events.NotifyStream,
		Description: "mcpctl MCP server notifications",
		Subjects:    []string{events.NotifyPrefix + ".>"},
		Retention:   njs.LimitsPolicy,
		Discard:     njs.DiscardOld,
		Storage:     njs.FileStorage,
		MaxAge:      cfg.NotifyMaxAge,
		MaxBytes:    orNone(cfg.NotifyMaxBytes),
		MaxMsgs:     -1,
		Duplicates:  dup(cfg.NotifyMaxAge),
		Replicas:    cfg.Replicas,
		AllowDirect: true,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", events.NotifyStream, err)
	}
	_, err = js.CreateOrUpdateKeyValue(ctx, njs.KeyValueConfig{
		Bucket:      events.SessionBucket,
		Description: "mcpctl session state, folded from the events",
		History:     1,
		Storage:     njs.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("ensure bucket %s: %w", events.SessionBucket, err)
	}
	return nil
}
