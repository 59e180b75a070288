package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mcpctl/mcpctl/events"
)

// PositionKey is the store key holding the sequence of the last event the follower
// materialized, as decimal text. A follower restricted to one node writes
// PositionKeyFor(node) instead: several hubs (one per node) share one bucket on a cluster, and
// each has its own position. Both start with '=', which no node or session name can contain
// (they match ^[A-Za-z0-9_-]{1,64}$), so no session key "<node>.<session>" can ever be taken
// for a position or a position for a session, whatever the names.
const PositionKey = "=position"

// legacyPositionKey is where stores written before kept the position ("_position", and
// "_position.<node>" per node). "_position" is a valid node name, so a node of that name had
// its sessions skipped as positions: legacy keys are read only when the new one is absent, and
// a "_position.<x>" key counts as a position only when its value is a number (a session's
// value is a JSON object).
const legacyPositionKey = "_position"

// PositionKeyFor returns the position key of the follower of node ("" = every node).
func PositionKeyFor(node string) string {
	if node == "" {
		return PositionKey
	}
	return PositionKey + "." + node
}

// isPositionKey reports a position key of any node.
func isPositionKey(k string) bool {
	return k == PositionKey || strings.HasPrefix(k, PositionKey+".")
}

// isLegacyPosition reports a position written under the old key scheme.
func isLegacyPosition(k string, v []byte) bool {
	if k != legacyPositionKey && !strings.HasPrefix(k, legacyPositionKey+".") {
		return false
	}
	_, err := parsePosition(v)
	return err == nil
}

// positionKeys lists where node's position may be, best first: its own key, the shared key,
// then the same in a store written before the '=' keys.
func positionKeys(node string) []string {
	keys := []string{PositionKeyFor(node)}
	if node != "" {
		keys = append(keys, PositionKey, legacyPositionKey+"."+node)
	}
	return append(keys, legacyPositionKey)
}

// Store is where the projection is materialized: a bytes-only key/value store. The real one
// is a JetStream KV bucket (events/jetstream); MemStore serves unit tests. Session keys are
// Key(node, session) and hold the Session as JSON; PositionKey holds the position.
type Store interface {
	// Get returns the value of key, or an error wrapping events.ErrNotFound when absent.
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	// List returns every key starting with prefix ("" = all) and its value.
	List(ctx context.Context, prefix string) (map[string][]byte, error)
}

// MemStore is an in-memory Store for unit tests. Values are copied in and out.
type MemStore struct {
	mu       sync.Mutex
	data     map[string][]byte
	watchers map[string][]chan []byte
}

var (
	_ Store      = (*MemStore)(nil)
	_ KeyWatcher = (*MemStore)(nil)
)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{data: map[string][]byte{}} }

// Get implements Store.
func (m *MemStore) Get(ctx context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	if !ok {
		return nil, fmt.Errorf("key %q: %w", key, events.ErrNotFound)
	}
	return append([]byte(nil), v...), nil
}

// Put implements Store.
func (m *MemStore) Put(ctx context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		m.data = map[string][]byte{}
	}
	m.data[key] = append([]byte(nil), value...)
	m.notifyLocked(key, value)
	return nil
}

// Delete implements Store.
func (m *MemStore) Delete(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, key)
	m.notifyLocked(key, nil)
	return nil
}

// Watch implements KeyWatcher: key's current value (when it has one), then each new one (nil
// for a delete), until ctx ends. A slow reader gets the latest value, not every one.
func (m *MemStore) Watch(ctx context.Context, key string) (<-chan []byte, error) {
	ch := make(chan []byte, 1)
	m.mu.Lock()
	if v, ok := m.data[key]; ok {
		ch <- append([]byte(nil), v...)
	}
	if m.watchers == nil {
		m.watchers = map[string][]chan []byte{}
	}
	m.watchers[key] = append(m.watchers[key], ch)
	m.mu.Unlock()
	go func() {
		<-ctx.Done()
		m.mu.Lock()
		defer m.mu.Unlock()
		m.watchers[key] = slices.DeleteFunc(m.watchers[key], func(c chan []byte) bool { return c == ch })
		close(ch)
	}()
	return ch, nil
}

// notifyLocked hands value to key's watchers, replacing a value a watcher has not read yet.
func (m *MemStore) notifyLocked(key string, value []byte) {
	for _, ch := range m.watchers[key] {
		v := append([]byte(nil), value...)
		if value == nil {
			v = nil
		}
		select {
		case <-ch:
		default:
		}
		ch <- v
	}
}

// List implements Store.
func (m *MemStore) List(ctx context.Context, prefix string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range m.data {
		if strings.HasPrefix(k, prefix) {
			out[k] = append([]byte(nil), v...)
		}
	}
	return out, nil
}

// Snapshot returns a copy of everything in the store (for tests).
func (m *MemStore) Snapshot() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.data)
}

// Load reads one session from the store. It returns an error wrapping events.ErrNotFound
// when no event about the session was ever materialized. A session with Status "" or
// Cleaned is returned as is: its LastSeq is the expectation for a created.
func Load(ctx context.Context, store Store, node, name string) (Session, error) {
	data, err := store.Get(ctx, Key(node, name))
	if err != nil {
		return Session{}, &events.SessionError{Op: "load", Node: node, Session: name, Err: err}
	}
	var s Session
	if err := json.Unmarshal(data, &s); err != nil {
		return Session{}, &events.SessionError{Op: "load", Node: node, Session: name,
			Err: fmt.Errorf("decode stored state: %w", err)}
	}
	return s, nil
}

// LoadAll reads the sessions of node ("" = every node) and the position in one listing (one
// round trip), as a Projection: use its List and Get. A value that does not decode is an
// error: the store is written only by the follower. The position is node's own
// (PositionKeyFor), else the first of positionKeys the store has.
func LoadAll(ctx context.Context, store Store, node string) (*Projection, error) {
	kv, err := store.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("load sessions: %w", err)
	}
	p := NewProjection()
	positions := map[string][]byte{}
	for k, v := range kv {
		if isPositionKey(k) || isLegacyPosition(k, v) {
			positions[k] = v
			continue
		}
		if !strings.Contains(k, ".") || (node != "" && !strings.HasPrefix(k, node+".")) {
			continue // not a session key, or another node's
		}
		var s Session
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("load sessions: decode %q: %w", k, err)
		}
		p.Sessions[k] = s
	}
	for _, k := range positionKeys(node) {
		if v, ok := positions[k]; ok {
			pos, err := parsePosition(v)
			if err != nil {
				return nil, err
			}
			p.Pos = pos
			break
		}
	}
	return p, nil
}

// Position returns the sequence of the last event materialized in the store (0: none) by
// the follower of every node (PositionKey).
func Position(ctx context.Context, store Store) (uint64, error) {
	return NodePosition(ctx, store, "")
}

// NodePosition returns the position of node's follower (PositionKeyFor(node)), falling back
// to PositionKey, then to the keys of a store written before (see legacyPositionKey).
func NodePosition(ctx context.Context, store Store, node string) (uint64, error) {
	for _, k := range positionKeys(node) {
		v, err := store.Get(ctx, k)
		if errors.Is(err, events.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read position: %w", err)
		}
		if !isPositionKey(k) && !isLegacyPosition(k, v) {
			continue // a session of a node named "_position", in a store of before
		}
		return parsePosition(v)
	}
	return 0, nil
}

func parsePosition(v []byte) (uint64, error) {
	pos, err := strconv.ParseUint(strings.TrimSpace(string(v)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read position: %q: %w", v, err)
	}
	return pos, nil
}

func formatPosition(pos uint64) []byte { return strconv.AppendUint(nil, pos, 10) }

// KeyWatcher delivers a key's current value, then each new one (nil: deleted), until ctx
// ends; then the channel is closed. The JetStream store is one.
type KeyWatcher interface {
	Watch(ctx context.Context, key string) (<-chan []byte, error)
}

// WaitNodePosition waits until node's follower has materialized the log up to seq, and
// returns the position it saw. It reads the position once (NodePosition, the keys of
// before included), then watches the node's own key, which a running follower writes: no
// polling. It returns ctx's error, with the last position seen, when ctx ends first.
func WaitNodePosition(ctx context.Context, store Store, w KeyWatcher, node string, seq uint64) (uint64, error) {
	pos, err := NodePosition(ctx, store, node)
	if err != nil || pos >= seq {
		return pos, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates, err := w.Watch(wctx, PositionKeyFor(node))
	if err != nil {
		return pos, fmt.Errorf("watch position: %w", err)
	}
	for v := range updates {
		if v == nil {
			continue
		}
		if p, err := parsePosition(v); err == nil && p > pos {
			pos = p
		}
		if pos >= seq {
			return pos, nil
		}
	}
	return pos, ctx.Err()
}
