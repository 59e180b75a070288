package projector

import (
	"context"
	"errors"

	"github.com/mcpctl/mcpctl/events"
)

// Decide is one writer's decision on a session's current state (see Update): the event to
// append, or nil when there is nothing to append (a pending generation to join, or the
// change is already made), or an error that ends the update. Update calls it again after
// every lost compare-and-set, with the state folded from what the writer missed.
type Decide func(cur Session) (*events.Event, error)

// Update is the concurrency rule (docs/design.md, §The concurrency rule) in one place: it
// asks decide what to append on s, appends that conditionally on s.LastSeq, and when
// another writer got there first folds what it missed straight from the log (Refresh, not
// the KV, which may trail the log) and asks decide again. Every round follows an append
// that some writer won, so the loop ends as soon as decide sees what the winners did;
// ctx bounds it.
//
// msgID, when not nil, gives each attempt's message id (it is called once per append): an
// append the log already stored under that id (its acknowledgement lost with the hub) is
// recognized rather than stored twice. A writer that retries across calls returns the same
// id every time; one that wants an id per attempt returns a new one. Nil: the log makes a
// fresh id per attempt.
//
// It returns the state after: s with the appended event applied, or the state decide last
// saw when it appended nothing or failed; and the sequence appended (0: none). Errors of
// the log other than a conflict, and decide's, are returned as they are.
func Update(ctx context.Context, log events.Log, s Session, msgID func() string, decide Decide) (Session, uint64, error) {
	for {
		e, err := decide(s)
		if err != nil || e == nil {
			return s, 0, err
		}
		cond := events.After(s.LastSeq)
		if msgID != nil {
			cond.MsgID = msgID()
		}
		seq, err := log.Append(ctx, *e, cond)
		if err == nil {
			ev := *e
			ev.Seq = seq
			return Apply(s, ev), seq, nil
		}
		if !errors.Is(err, events.ErrConflict) {
			return s, 0, err
		}
		if s, err = Refresh(ctx, log, s); err != nil {
			return s, 0, err
		}
	}
}
