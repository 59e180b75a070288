package bridgeproc

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/bridge"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/events"
)

func TestAskRecorder_AppendsServerAskedWithoutValues(t *testing.T) {
	log := events.NewMemLog()
	r := newAskRecorder(log, "n", "s", 2, slog.New(slog.DiscardHandler))
	r.Record(bridge.AskRecord{Method: "elicitation/create", Action: "accept", Duration: 1500 * time.Millisecond})
	r.Record(bridge.AskRecord{Method: "sampling/createMessage", Action: bridge.AskError, Duration: time.Microsecond,
		Error: "sampling/createMessage: the sampling command failed: exit status 3"})
	r.Close()
	var got []events.Event
	if err := log.Read(context.Background(), events.Query{}, func(e events.Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("log = %v, want two server_asked events", got)
	}
	for _, e := range got {
		if err := e.Validate(); err != nil || e.Type != events.KindServerAsked || e.Session != "s" || e.Generation != 2 {
			t.Errorf("event %+v (%v), want a valid server_asked of @s generation 2", e, err)
		}
	}
	if got[0].Method != "elicitation/create" || got[0].Action != "accept" || got[0].DurationMS != 1500 {
		t.Errorf("first = %s %s %dms, want elicitation/create accept 1500ms", got[0].Method, got[0].Action, got[0].DurationMS)
	}
	if got[1].Action != "error" || got[1].DurationMS != 1 || !strings.Contains(got[1].Error, "exit status 3") {
		t.Errorf("second = %s %dms %q, want error, at least 1ms, the cause", got[1].Action, got[1].DurationMS, got[1].Error)
	}
}

// blockingLog never answers an append: the recorder must not make the answer wait for it.
type blockingLog struct {
	events.Log
	release chan struct{}
}

func (b blockingLog) Append(ctx context.Context, e events.Event, x events.Expect) (uint64, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return 0, ctx.Err()
}

func TestAskRecorder_NeverBlocksTheAnswer(t *testing.T) {
	bl := blockingLog{Log: events.NewMemLog(), release: make(chan struct{})}
	r := newAskRecorder(bl, "n", "s", 1, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() {
		for range askQueue * 3 {
			r.Record(bridge.AskRecord{Method: "roots/list", Action: bridge.AskAnswered})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Record blocked on a log that does not answer")
	}
	if r.dropped.Load() == 0 {
		t.Error("nothing counted as dropped with a full queue")
	}
	close(bl.release)
	r.Close()
}

func TestAskPolicy_FromTheSessionAndItsSecrets(t *testing.T) {
	sec := homedir.Secrets{ElicitContent: json.RawMessage(`{"a":1}`)}
	p := askPolicy(&events.AskPolicy{Elicit: events.ElicitContent, Roots: []string{"/r"}, SamplingCommand: "cmd"}, sec)
	if p.Elicit != events.ElicitContent || string(p.ElicitContent) != `{"a":1}` || p.Roots[0] != "/r" || p.SamplingCommand != "cmd" {
		t.Errorf("policy = %+v", p)
	}
	if p := askPolicy(&events.AskPolicy{Elicit: events.ElicitDefaults}, sec); p.ElicitContent != nil {
		t.Errorf("defaults policy carries content %s", p.ElicitContent)
	}
	if p := askPolicy(nil, sec); p.Elicit != "" || p.ElicitContent != nil || p.Roots != nil {
		t.Errorf("no policy = %+v, want the zero policy", p)
	}
}
