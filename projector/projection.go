package projector

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// Key returns the key of a session in a Projection and in the KV bucket: node + "." + session.
func Key(node, session string) string { return node + "." + session }

// Projection is the folded state of every session seen, keyed by Key(node, session).
type Projection struct {
	Sessions map[string]Session
	// Pos is the sequence of the last event applied (or skipped): reading resumes after it.
	Pos uint64
	// Skipped counts the events this projection read but could not apply: unknown kinds,
	// newer schema versions, undecodable payloads. It is a statistic of one reading, not
	// state: it is not stored in the KV and Equal ignores it.
	Skipped uint64

	key []byte // reused to look sessions up without allocating
}

// NewProjection returns an empty projection.
func NewProjection() *Projection {
	return &Projection{Sessions: map[string]Session{}}
}

// Apply folds one event into the projection and advances Pos. Events at or before Pos
// were read already and are ignored (so is an event without a sequence). Events this build cannot apply (undecodable: Type "";
// unknown kinds; newer schema versions) are counted in Skipped, and still advance their
// session's LastSeq when they name a valid node and session.
func (p *Projection) Apply(e events.Event) {
	p.apply(e)
}

// apply is Apply that also returns the key of the session whose value changed ("" if none)
// and its value before, for the follower.
func (p *Projection) apply(e events.Event) (key string, old Session, changed bool) {
	if e.Seq <= p.Pos {
		return "", Session{}, false
	}
	p.Pos = e.Seq
	if e.Type == "" || !Applicable(e) {
		p.Skipped++
	}
	// Even an event this build cannot apply advances its session's LastSeq (when the
	// session can be told): the next conditional append must expect it.
	if events.ValidateNode(e.Node) != nil || events.ValidateSession(e.Session) != nil {
		return "", Session{}, false
	}
	if p.Sessions == nil {
		p.Sessions = map[string]Session{}
	}
	p.key = append(append(append(p.key[:0], e.Node...), '.'), e.Session...)
	old, found := p.Sessions[string(p.key)]
	next := Apply(old, e)
	if found && next.LastSeq == old.LastSeq {
		return "", Session{}, false // Apply refused it: nothing changed
	}
	key = string(p.key)
	p.Sessions[key] = next
	return key, old, true
}

// Get returns the session node/name. ok is false when no event about it was ever read.
// A session with Status "" has only events this build could not apply; a Cleaned one was
// removed by clean. Both still carry LastSeq, the expectation for the next created.
func (p *Projection) Get(node, name string) (Session, bool) {
	s, ok := p.Sessions[Key(node, name)]
	return s, ok
}

// List returns the sessions of node ("" = every node) that a user sees: created and not
// cleaned, sorted by name (then node).
func (p *Projection) List(node string) []Session {
	var out []Session
	for _, s := range p.Sessions {
		if s.Cleaned || s.Status == "" || (node != "" && s.Node != node) {
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Node < out[j].Node
	})
	return out
}

// Equal compares two projections and returns their differences, one human-readable line
// each ("a." is p, "b." is other); none means equal. Skipped is not compared; times are
// compared as instants.
func (p *Projection) Equal(other *Projection) (diff []string) {
	if p.Pos != other.Pos {
		diff = append(diff, fmt.Sprintf("position: a has %d, b has %d", p.Pos, other.Pos))
	}
	keys := map[string]bool{}
	for k := range p.Sessions {
		keys[k] = true
	}
	for k := range other.Sessions {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		a, inA := p.Sessions[k]
		b, inB := other.Sessions[k]
		switch {
		case !inB:
			diff = append(diff, fmt.Sprintf("%s: only in a (status %q, last seq %d)", k, a.Status, a.LastSeq))
		case !inA:
			diff = append(diff, fmt.Sprintf("%s: only in b (status %q, last seq %d)", k, b.Status, b.LastSeq))
		default:
			for _, d := range DiffSessions(a, b) {
				diff = append(diff, k+": "+d)
			}
		}
	}
	return diff
}

// DiffSessions returns the fields in which a and b differ, one line each ("field: a has
// X, b has Y"). Times are compared as instants, whatever their location.
func DiffSessions(a, b Session) []string {
	a, b = normalize(a), normalize(b)
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	var diff []string
	for i := 0; i < t.NumField(); i++ {
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if reflect.DeepEqual(fa, fb) {
			continue
		}
		diff = append(diff, fmt.Sprintf("%s: a has %s, b has %s", t.Field(i).Name, show(fa), show(fb)))
	}
	return diff
}

// normalize puts every time in UTC without a monotonic reading, so that DeepEqual compares
// instants.
func normalize(s Session) Session {
	s.Created = s.Created.UTC()
	s.Updated = s.Updated.UTC()
	s.ReadyAt = s.ReadyAt.UTC()
	if s.LastExit != nil {
		x := *s.LastExit
		x.Time = x.Time.UTC()
		s.LastExit = &x
	}
	return s
}

func show(v any) string {
	switch v := v.(type) {
	case *Bridge:
		if v == nil {
			return "none"
		}
		return fmt.Sprintf("%+v", *v)
	case *Exit:
		if v == nil {
			return "none"
		}
		code := "none"
		if v.Code != nil {
			code = fmt.Sprint(*v.Code)
		}
		return fmt.Sprintf("{Generation:%d Code:%s Signal:%q Time:%s Reason:%q}",
			v.Generation, code, v.Signal, v.Time.Format(time.RFC3339Nano), v.Reason)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case string, Status, events.RestartPolicy:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%+v", v)
}

// errStop ends a Read early; it never leaves Fold.
var errStop = errors.New("stop")

// Fold replays the events q selects from log into a new projection. When until is not nil
// it stops before the first event for which until returns true (sessions --at TIME|SEQ).
// Events that retention already dropped from the log are not seen: a fold after
// truncation reflects only what is left, while the follower's KV keeps the full history's
// result.
func Fold(ctx context.Context, log events.Log, q events.Query, until func(events.Event) bool) (*Projection, error) {
	p := NewProjection()
	err := log.Read(ctx, q, func(e events.Event) error {
		if until != nil && until(e) {
			return errStop
		}
		p.Apply(e)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("fold: %w", err)
	}
	return p, nil
}
