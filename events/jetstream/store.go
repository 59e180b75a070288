package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/backoff"
)

// Store is the KV bucket the projector materializes session state into. It stores bytes;
// the projector owns the encoding. Keys are "<node>.<session>" and special keys starting
// with "_".
type Store struct {
	kv njs.KeyValue
	js njs.JetStream
}

// OpenStore opens the session bucket (EnsureStreams creates it).
func OpenStore(ctx context.Context, js njs.JetStream) (*Store, error) {
	kv, err := js.KeyValue(ctx, events.SessionBucket)
	if err != nil {
		return nil, fmt.Errorf("session store: %w", orFault(ctx, js.Conn(), err))
	}
	return &Store{kv: kv, js: js}, nil
}

// Get returns the value of key; an absent or deleted key gives an error wrapping
// events.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, njs.ErrKeyNotFound) || errors.Is(err, njs.ErrKeyDeleted) {
		return nil, fmt.Errorf("session store: key %q: %w", key, events.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("session store: get %q: %w", key, orFault(ctx, s.js.Conn(), err))
	}
	return e.Value(), nil
}

// Put sets key to value.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	if _, err := s.kv.Put(ctx, key, value); err != nil {
		return fmt.Errorf("session store: put %q: %w", key, orFault(ctx, s.js.Conn(), err))
	}
	return nil
}

// Delete removes key. Deleting an absent key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, njs.ErrKeyNotFound) {
		return fmt.Errorf("session store: delete %q: %w", key, err)
	}
	return nil
}

// List returns every key starting with prefix and its value.
//
// One watch round delivers the last value of each key, but not always all of them: the
// server snapshots each key's last sequence when the watch starts, and a key rewritten
// before its turn is skipped when its new sequence falls below the snapshot's end (seen
// as sessions missing from a listing during restart storms). So List then asks the stream
// which keys exist, and reads the ones the watch did not deliver one by one.
func (s *Store) List(ctx context.Context, prefix string) (map[string][]byte, error) {
	// A prefix ending on a token boundary narrows the watch on the server; any other
	// prefix is matched here.
	filter := ">"
	if strings.HasSuffix(prefix, ".") {
		filter = prefix + ">"
	}
	w, err := s.kv.Watch(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("session store: list %q: %w", prefix, orFault(ctx, s.js.Conn(), err))
	}
	defer w.Stop()
	out := map[string][]byte{}
	seen := map[string]bool{} // delivered, as a value or as a delete
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return nil, fmt.Errorf("session store: list %q: watch ended", prefix)
			case e == nil: // initial values done, as far as the watch knows
				done = true
			case strings.HasPrefix(e.Key(), prefix):
				seen[e.Key()] = true
				if e.Operation() == njs.KeyValuePut {
					out[e.Key()] = e.Value()
				} else {
					delete(out, e.Key())
				}
			}
		}
	}
	w.Stop()
	keys, err := s.subjects(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("session store: list %q: %w", prefix, err)
	}
	for _, key := range keys {
		if seen[key] || !strings.HasPrefix(key, prefix) {
			continue
		}
		v, err := s.Get(ctx, key)
		switch {
		case errors.Is(err, events.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			out[key] = v
		}
	}
	return out, nil
}

// subjects returns the keys that have a message in the bucket's stream (values and
// delete markers), matching a key filter.
func (s *Store) subjects(ctx context.Context, filter string) ([]string, error) {
	stream := "KV_" + s.kv.Bucket()
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	kvPrefix := "$KV." + s.kv.Bucket() + "."
	info, err := st.Info(ctx, njs.WithSubjectFilter(kvPrefix+filter))
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subj, kvPrefix))
	}
	return keys, nil
}

// Watch delivers key's current value, then each new one, until ctx ends; then the channel
// is closed. A deleted key is delivered as nil.
//
// The watcher is created in the background, retried until it exists: on a cluster it is a
// consumer, whose creation waits for a meta leader, and a caller that also polls the log
// must not be held up meanwhile.
func (s *Store) Watch(ctx context.Context, key string) (<-chan []byte, error) {
	out := make(chan []byte, 1)
	go func() {
		defer close(out)
		var w njs.KeyWatcher
		pause := backoff.New(retryPause, retryPauseMax)
		for {
			var err error
			if w, err = s.kv.Watch(ctx, key); err == nil {
				break
			}
			if pause.Wait(ctx) != nil {
				return
			}
		}
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				var v []byte
				if e.Operation() == njs.KeyValuePut {
					v = e.Value()
				}
				select {
				case out <- v:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
