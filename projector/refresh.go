package projector

import (
	"context"

	"github.com/mcpctl/mcpctl/events"
)

// Refresh folds the events of s's session that came after s.LastSeq onto s, reading them
// straight from the log. A writer that lost a compare-and-set uses it to see what it missed
// without waiting for the KV, which may trail the log by a few milliseconds.
func Refresh(ctx context.Context, log events.Log, s Session) (Session, error) {
	err := log.Read(ctx, events.Query{Node: s.Node, Session: s.Name, AfterSeq: s.LastSeq}, func(e events.Event) error {
		s = Apply(s, e)
		return nil
	})
	return s, err
}
