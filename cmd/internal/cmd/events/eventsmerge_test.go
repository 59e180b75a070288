package events

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

func TestMergeByTime_KeepsEachStreamsOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := func(seq uint64, ms int) logItem {
		return logItem{ev: &events.Event{Seq: seq, Time: t0.Add(time.Duration(ms) * time.Millisecond)}}
	}
	n := func(seq uint64, ms int) logItem {
		return logItem{note: &jetstream.Notification{Seq: seq, Time: t0.Add(time.Duration(ms) * time.Millisecond)}}
	}
	// Event 2's writer's clock is behind: it stays after event 1.
	got := mergeByTime([]logItem{e(1, 10), e(2, 5), e(3, 30)}, []logItem{n(1, 7), n(2, 20), n(3, 40)})
	var order []string
	for _, it := range got {
		if it.ev != nil {
			order = append(order, "e"+string(rune('0'+it.ev.Seq)))
		} else {
			order = append(order, "n"+string(rune('0'+it.note.Seq)))
		}
	}
	want := "[n1 e1 e2 n2 e3 n3]"
	if got := "[" + strings.Join(order, " ") + "]"; got != want {
		t.Fatalf("merged order %s, want %s", got, want)
	}
}
