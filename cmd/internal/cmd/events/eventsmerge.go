package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

// Stream names in the merged output of `events --notifications`.
const (
	streamEvents        = "events"
	streamNotifications = "notifications"
)

// logItem is one line of the merged output: a lifecycle event or a server notification.
type logItem struct {
	ev   *events.Event
	note *jetstream.Notification
}

func (it logItem) time() time.Time {
	if it.ev != nil {
		return it.ev.Time
	}
	return it.note.Time
}

// mergeByTime merges two lists, each in its own stream's sequence order, into one in time
// order. Each stream's own order is kept even where its writers' clocks disagree.
func mergeByTime(evs, notes []logItem) []logItem {
	out := make([]logItem, 0, len(evs)+len(notes))
	i, j := 0, 0
	for i < len(evs) && j < len(notes) {
		if notes[j].time().Before(evs[i].time()) {
			out = append(out, notes[j])
			j++
		} else {
			out = append(out, evs[i])
			i++
		}
	}
	out = append(out, evs[i:]...)
	return append(out, notes[j:]...)
}

func (o *EventsOptions) matchNote(n jetstream.Notification) bool {
	if len(o.sessSet) > 1 && !o.sessSet[n.Session] {
		return false
	}
	return o.untilTime.IsZero() || !n.Time.After(o.untilTime)
}

func (o *EventsOptions) notifyQuery() jetstream.NotifyQuery {
	return jetstream.NotifyQuery{Node: o.query.Node, Session: o.query.Session, AfterSeq: o.afterNotifySeq, Since: o.query.Since}
}

// runMerged is `events --notifications`: what is stored, merged in time order, then (with
// -f) both streams as they arrive.
func runMerged(ctx context.Context, o *EventsOptions, hub *hubclient.HubConn, pr *eventPrinter) error {
	lastSeq, lastNote := o.query.AfterSeq, o.afterNotifySeq
	var evs, notes []logItem
	if o.wantEvents {
		err := hub.Log.Read(ctx, o.query, func(e events.Event) error {
			lastSeq = e.Seq
			if !o.untilTime.IsZero() && e.Time.After(o.untilTime) {
				return errUntilPassed
			}
			if o.match(e) {
				evs = append(evs, logItem{ev: &e})
			}
			return nil
		})
		if err != nil && !errors.Is(err, errUntilPassed) {
			return err
		}
	}
	if o.wantNotes {
		err := hub.Notes.ReadNotifications(ctx, o.notifyQuery(), func(n jetstream.Notification) error {
			lastNote = n.Seq
			if !o.untilTime.IsZero() && n.Time.After(o.untilTime) {
				return errUntilPassed
			}
			if o.matchNote(n) {
				notes = append(notes, logItem{note: &n})
			}
			return nil
		})
		if err != nil && !errors.Is(err, errUntilPassed) {
			return err
		}
	}
	items := mergeByTime(evs, notes)
	if o.last > 0 && len(items) > o.last {
		items = items[len(items)-o.last:]
	}
	for _, it := range items {
		if err := pr.printItem(it); err != nil {
			return err
		}
	}
	if !o.follow || (!o.untilTime.IsZero() && !time.Now().Before(o.untilTime)) {
		return nil
	}
	if !o.untilTime.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, o.untilTime)
		defer cancel()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Both streams are followed at once; lines are printed in arrival order by this goroutine.
	ch := make(chan logItem)
	send := func(it logItem) error {
		select {
		case ch <- it:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	errc := make(chan error, 2)
	running := 0
	if o.wantEvents {
		running++
		q := o.query
		q.AfterSeq = lastSeq
		go func() {
			errc <- hub.Log.Follow(ctx, q, func(e events.Event) error {
				if !o.match(e) {
					return nil
				}
				return send(logItem{ev: &e})
			})
		}()
	}
	if o.wantNotes {
		running++
		nq := o.notifyQuery()
		nq.AfterSeq = lastNote
		go func() {
			errc <- hub.Notes.FollowNotifications(ctx, nq, func(n jetstream.Notification) error {
				if !o.matchNote(n) {
					return nil
				}
				return send(logItem{note: &n})
			})
		}()
	}
	var firstErr error
	for running > 0 {
		select {
		case it := <-ch:
			if err := pr.printItem(it); err != nil {
				cancel(err)
			}
		case err := <-errc:
			running--
			if firstErr == nil && err != nil && ctx.Err() == nil {
				firstErr = err
			}
			cancel(err)
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		return cause
	}
	return nil
}

// noteLine is the JSON line of a notification in the merged output.
type noteLine struct {
	Stream  string          `json:"stream"`
	Type    string          `json:"type"`
	Seq     uint64          `json:"seq"`
	Node    string          `json:"node"`
	Session string          `json:"session"`
	Time    time.Time       `json:"time"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// templateItem is what --format sees in the merged output: an event's fields, plus the
// stream, and for a notification its method and params (Type "notification").
type templateItem struct {
	events.Event
	Stream string
	Method string
	Params json.RawMessage
}

func (p *eventPrinter) printItem(it logItem) error {
	w := p.io.Out
	if it.ev != nil {
		e := *it.ev
		switch {
		case p.json:
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			// The event's own JSON, with the stream it came from in front.
			_, err = fmt.Fprintf(w, "{\"stream\":%q,%s\n", streamEvents, b[1:])
			return err
		case p.tmpl != nil:
			return p.execTemplate(templateItem{Event: e, Stream: streamEvents})
		}
		return p.print(e)
	}
	n := *it.note
	switch {
	case p.json:
		b, err := json.Marshal(noteLine{Stream: streamNotifications, Type: kindNotification, Seq: n.Seq, Node: n.Node,
			Session: n.Session, Time: n.Time, Method: n.Method, Params: n.Params})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case p.tmpl != nil:
		return p.execTemplate(templateItem{Event: events.Event{Type: kindNotification, Seq: n.Seq, Node: n.Node,
			Session: n.Session, Time: n.Time}, Stream: streamNotifications, Method: n.Method, Params: n.Params})
	}
	params := string(n.Params)
	if len(params) > 120 {
		params = params[:117] + "..."
	}
	_, err := fmt.Fprintf(w, "%-7s %s  %-*s %4s  %s %s %s\n", "n"+strconv.FormatUint(n.Seq, 10),
		n.Time.Local().Format("2006-01-02 15:04:05.000"), p.sessionWidth, n.Session, "-",
		p.io.Color("35", fmt.Sprintf("%-17s", kindNotification)), n.Method, params)
	return err
}

func (p *eventPrinter) execTemplate(v any) error {
	if err := p.tmpl.Execute(p.io.Out, v); err != nil {
		return &clierr.Error{Code: clierr.ExitUsage, Err: fmt.Errorf("--format: %w", err)}
	}
	_, err := io.WriteString(p.io.Out, "\n")
	return err
}
