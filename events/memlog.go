package events

import (
	"context"
	"fmt"
	"sync"
)

// MemLog is an in-memory Log for unit tests of pure logic. It applies the same
// compare-and-set and duplicate rules as the JetStream log; it is never the only test of a
// path that users hit.
type MemLog struct {
	mu     sync.Mutex
	events []Event
	last   map[string]uint64 // session filter -> last seq
	ids    map[string]uint64 // msg id -> seq
	wake   chan struct{}
}

var _ Log = (*MemLog)(nil)

// NewMemLog returns an empty in-memory log.
func NewMemLog() *MemLog {
	return &MemLog{last: map[string]uint64{}, ids: map[string]uint64{}, wake: make(chan struct{})}
}

// Append implements Log.
func (m *MemLog) Append(ctx context.Context, e Event, cond Expect) (uint64, error) {
	if err := e.Validate(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cond.MsgID != "" {
		if seq, ok := m.ids[cond.MsgID]; ok {
			return seq, nil
		}
	}
	key := SessionFilter(e.Node, e.Session)
	if !cond.Any && m.last[key] != cond.LastSeq {
		return 0, &SessionError{Op: "append " + string(e.Type), Node: e.Node, Session: e.Session,
			Err: fmt.Errorf("%w (expected last sequence %d, log has %d)", ErrConflict, cond.LastSeq, m.last[key])}
	}
	e.Seq = uint64(len(m.events)) + 1
	m.events = append(m.events, e)
	m.last[key] = e.Seq
	if cond.MsgID != "" {
		m.ids[cond.MsgID] = e.Seq
	}
	close(m.wake)
	m.wake = make(chan struct{})
	return e.Seq, nil
}

// LastSeq implements Log.
func (m *MemLog) LastSeq(ctx context.Context, node, session string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last[SessionFilter(node, session)], nil
}

// Head implements Log.
func (m *MemLog) Head(ctx context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.events)), nil
}

// Read implements Log.
func (m *MemLog) Read(ctx context.Context, q Query, fn func(Event) error) error {
	m.mu.Lock()
	snapshot := m.events
	m.mu.Unlock()
	for _, e := range snapshot {
		if err := ctx.Err(); err != nil {
			return err
		}
		if q.Match(e) {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// Follow implements Log.
func (m *MemLog) Follow(ctx context.Context, q Query, fn func(Event) error) error {
	next := 0
	for {
		m.mu.Lock()
		batch := m.events[next:]
		wake := m.wake
		m.mu.Unlock()
		for _, e := range batch {
			next++
			if q.Match(e) {
				if err := fn(e); err != nil {
					return err
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}
