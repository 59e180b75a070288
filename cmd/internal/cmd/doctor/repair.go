package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/projector"
)

// addressCheck reads hub.json as it is before anything looks for the hub: a half-written or
// damaged file is reported even though the CLI finds the hub again and rewrites it.
func addressCheck(home homedir.Home) (check, bool) {
	c := check{Name: "hub.json"}
	if _, err := os.Stat(home.AddressFile()); errors.Is(err, os.ErrNotExist) {
		return c, false // no hub yet: the hub check says so
	}
	if _, err := jetstream.ReadAddress(home.AddressFile()); err != nil {
		c.Detail = fmt.Sprintf("%s is unreadable (%v): the hub is looked for again and the file rewritten", home.AddressFile(), err)
		return c, true
	}
	return c, false
}

// integrityCheck looks at the log itself: events missing from the middle of the sequence
// (a damaged store block that the server dropped on recovery), and events the fold cannot
// apply (an unknown kind, a newer schema version: written by a newer mcpctl).
func integrityCheck(ctx context.Context, hub *hubclient.HubConn) check {
	c := check{Name: "integrity"}
	info, err := hub.Admin.Stream(ctx, events.EventsStream)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	var problems []string
	if info.Msgs > 0 && info.LastSeq >= info.FirstSeq {
		if span := info.LastSeq - info.FirstSeq + 1; info.Msgs < span {
			problems = append(problems, fmt.Sprintf("%d event(s) missing between seq %d and %d (deleted, or lost to a damaged store block)",
				span-info.Msgs, info.FirstSeq, info.LastSeq))
		}
	}
	if hub.Store != nil {
		if pos, err := projector.NodePosition(ctx, hub.Store, hub.Node); err == nil && pos > info.LastSeq {
			problems = append(problems, fmt.Sprintf("the log ends at seq %d but the session state was built from events up to seq %d: events %d..%d were lost (a damaged store block?); run mcpctl doctor --repair",
				info.LastSeq, pos, info.LastSeq+1, pos))
		}
	}
	var skipped, damaged []string
	nDamaged := 0
	p := projector.NewProjection()
	// A stored event whose bytes are damaged can be left out by the server's reader while
	// the stream's counts still include it: compare what was read with what is stored.
	var unread []string
	nUnread, next := uint64(0), info.FirstSeq
	err = hub.Log.Read(ctx, events.Query{}, func(e events.Event) error {
		if e.Seq > next && next > 0 {
			if nUnread += e.Seq - next; len(unread) < 5 {
				unread = append(unread, seqRange(next, e.Seq-1))
			}
		}
		next = e.Seq + 1
		if e.Type == "" { // the reader could not decode its payload
			if nDamaged++; len(damaged) < 5 {
				damaged = append(damaged, fmt.Sprintf("seq %d", e.Seq))
			}
			return nil
		}
		before := p.Skipped
		p.Apply(e)
		if p.Skipped > before && len(skipped) < 5 {
			skipped = append(skipped, fmt.Sprintf("seq %d %q v%d", e.Seq, e.Type, e.V))
		}
		return nil
	})
	if err != nil {
		problems = append(problems, "reading the log: "+err.Error())
	}
	if err == nil && info.Msgs > 0 && next <= info.LastSeq {
		if nUnread += info.LastSeq - next + 1; len(unread) < 5 {
			unread = append(unread, seqRange(next, info.LastSeq))
		}
	}
	if nUnread > 0 && info.Msgs == info.LastSeq-info.FirstSeq+1 {
		problems = append(problems, fmt.Sprintf("%d stored event(s) cannot be read (%s): their stored bytes are damaged (a damaged store block?); run mcpctl doctor --repair",
			nUnread, strings.Join(unread, ", ")))
	}
	if nDamaged > 0 {
		problems = append(problems, fmt.Sprintf("%d event(s) cannot be decoded (%s): their stored bytes are damaged (a damaged store block?); run mcpctl doctor --repair",
			nDamaged, strings.Join(damaged, ", ")))
	}
	if p.Skipped > 0 {
		problems = append(problems, fmt.Sprintf("%d event(s) of an unknown kind or a newer schema version were skipped (%s): a newer mcpctl wrote them; upgrade this one",
			p.Skipped, strings.Join(skipped, ", ")))
	}
	if len(problems) > 0 {
		c.Detail = strings.Join(problems, "; ")
		return c
	}
	c.OK, c.Detail = true, fmt.Sprintf("%d events, no gaps, every event applicable", info.Msgs)
	return c
}

// repairProjection rebuilds the session bucket from the log: it deletes the bucket (when it
// is still there), creates it again and folds the whole log into it. What the log cannot
// explain any more — sessions the old bucket had but whose events are gone — is named.
func repairProjection(ctx context.Context, hub *hubclient.HubConn) check {
	c := check{Name: "repair"}
	var old *projector.Projection
	if hub.Store != nil {
		old, _ = projector.LoadAll(ctx, hub.Store, "")
	}
	replicas := 1
	if st, err := hub.Admin.Stream(ctx, events.EventsStream); err == nil {
		replicas = max(1, st.Replicas)
	}
	if err := hub.Admin.ResetBucket(ctx, replicas); err != nil {
		c.Detail = err.Error()
		return c
	}
	store := hub.Store
	// Every node's sessions (a cluster's hubs share the bucket); the position is written
	// under the shared key and, below, under this node's key too.
	fol := &projector.Follower{Log: hub.Log, Store: store}
	if err := fol.Open(ctx); err != nil {
		c.Detail = err.Error()
		return c
	}
	defer fol.Close()
	if err := fol.Sync(ctx); err != nil {
		c.Detail = "refold: " + err.Error()
		return c
	}
	if hub.Node != "" {
		if err := store.Put(ctx, projector.PositionKeyFor(hub.Node), strconv.AppendUint(nil, fol.Pos(), 10)); err != nil {
			c.Detail = err.Error()
			return c
		}
	}
	rebuilt := fol.List("")
	var lost []string
	if old != nil {
		have := map[string]bool{}
		for _, s := range rebuilt {
			have[projector.Key(s.Node, s.Name)] = true
		}
		for k, s := range old.Sessions {
			if !have[k] && !s.Cleaned {
				lost = append(lost, "@"+s.Name)
			}
		}
		sort.Strings(lost)
	}
	c.Detail = fmt.Sprintf("rebuilt %s from the log up to seq %d: %d session(s)", events.SessionBucket, fol.Pos(), len(rebuilt))
	if len(lost) > 0 {
		c.Detail += fmt.Sprintf("; could not recover %s: their events are no longer in the log",
			strings.Join(lost, ", "))
		return c
	}
	if old == nil {
		c.Detail += " (the old bucket was unreadable: sessions whose events were lost cannot be named)"
	}
	c.OK = true
	return c
}

// restartHubAfterRepair stops the hub so that the next command starts one whose projector
// loads the rebuilt bucket (the running one holds its position in memory, and after a log
// that went backwards it would skip the new events). Bridges keep running and are adopted.
func restartHubAfterRepair(ctx context.Context, hub *hubclient.HubConn, c *check) {
	if err := hubclient.StopHubProcess(ctx, hub.Addr, 10*time.Second); err != nil && !errors.Is(err, hubclient.ErrNotAHub) {
		c.OK = false
		c.Detail += fmt.Sprintf("; stopping the hub to reload the state failed: %v (run mcpctl hub stop)", err)
		return
	}
	c.Detail += "; the hub was stopped to reload it (the next command starts it, bridges are adopted)"
}

func seqRange(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("seq %d", from)
	}
	return fmt.Sprintf("seq %d..%d", from, to)
}
