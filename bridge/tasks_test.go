package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events/testwait"
)

func TestCreatedTask_BothEras(t *testing.T) {
	for _, c := range []struct {
		name, result, id string
		ok               bool
	}{
		{"2025-11-25", `{"task":{"taskId":"a","status":"working","pollInterval":1000}}`, "a", true},
		{"2026-07-28", `{"resultType":"task","taskId":"b","status":"working","pollIntervalMs":500}`, "b", true},
		{"a plain result", `{"content":[{"type":"text","text":"hi"}]}`, "", false},
		{"a Task without resultType task", `{"taskId":"c","status":"working"}`, "", false},
		{"garbage", `[1,2]`, "", false},
	} {
		st, ok := createdTask(json.RawMessage(c.result))
		if ok != c.ok || st.TaskID != c.id {
			t.Errorf("%s: createdTask(%s) = %q, %v; want %q, %v", c.name, c.result, st.TaskID, ok, c.id, c.ok)
		}
	}
}

func TestModernTaskParams_TaskFieldBecomesTheExtension(t *testing.T) {
	p, tasks := modernTaskParams("tools/call", json.RawMessage(`{"name":"x","arguments":{},"task":{}}`))
	if !tasks || string(p) != `{"arguments":{},"name":"x"}` {
		t.Fatalf("tools/call with task: %s, %v", p, tasks)
	}
	if p, tasks := modernTaskParams("tools/call", json.RawMessage(`{"name":"x"}`)); tasks || string(p) != `{"name":"x"}` {
		t.Fatalf("tools/call without task: %s, %v", p, tasks)
	}
	if _, tasks := modernTaskParams("tasks/get", json.RawMessage(`{"taskId":"a"}`)); !tasks {
		t.Fatal("tasks/get does not declare the extension")
	}
	withMeta := json.RawMessage(`{"name":"x","_meta":{"io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}`)
	var got struct {
		Meta map[string]struct {
			Elicitation json.RawMessage            `json:"elicitation"`
			Extensions  map[string]json.RawMessage `json:"extensions"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal(declareTasksExtension(withMeta), &got); err != nil {
		t.Fatal(err)
	}
	caps := got.Meta["io.modelcontextprotocol/clientCapabilities"]
	if caps.Extensions[TasksExtension] == nil || caps.Elicitation == nil {
		t.Fatalf("declareTasksExtension: %+v, want the extension added and elicitation kept", caps)
	}
}

// recorded collects a tracker's records.
type recorded struct {
	mu   sync.Mutex
	recs []TaskRecord
}

func (r *recorded) add(t TaskRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, t)
}

func (r *recorded) statuses() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, t := range r.recs {
		out = append(out, fmt.Sprintf("%d:%s", t.Kind, t.Status))
	}
	return out
}

func TestTaskTracker_FollowsACreatedTaskToItsEndOnce(t *testing.T) {
	var mu sync.Mutex
	polls := 0
	up := newFuncUpstream(func(_ context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		if method != "tasks/get" {
			return nil, fmt.Errorf("unexpected %s", method)
		}
		mu.Lock()
		defer mu.Unlock()
		polls++
		status := map[int]string{1: "working", 2: "input_required"}[polls]
		if status == "" {
			status = "completed"
		}
		return json.RawMessage(`{"taskId":"t1","status":"` + status + `","pollInterval":1}`), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rec recorded
	tr := newTaskTracker(ctx, up, rec.add)
	tr.observe("tools/call", json.RawMessage(`{"name":"job","task":{}}`), json.RawMessage(`{"task":{"taskId":"t1","status":"working","pollInterval":1}}`), nil)
	// The same status from a notification: no record.
	tr.notified("notifications/tasks/status", json.RawMessage(`{"taskId":"t1","status":"working"}`))
	testwait.For(t, 5*time.Second, func() error {
		if got := rec.statuses(); !slices.Equal(got, []string{"0:working", "1:input_required", "2:completed"}) {
			return fmt.Errorf("records %v", got)
		}
		return nil
	})
	cancel()
	tr.wait()
	// Finished: later answers change nothing.
	tr.notified("notifications/tasks/status", json.RawMessage(`{"taskId":"t1","status":"failed"}`))
	if got := rec.statuses(); len(got) != 3 {
		t.Fatalf("after the end: %v", got)
	}
	if rec.recs[0].Tool != "job" || rec.recs[2].Tool != "job" {
		t.Fatalf("records without the tool: %+v", rec.recs)
	}
}

func TestTaskTracker_AnUnknownTaskOfAnEarlierGenerationIsLostWithWhy(t *testing.T) {
	up := newFuncUpstream(func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
		return nil, &rpc.RPCError{Code: -32602, Message: "Task not found"}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rec recorded
	tr := newTaskTracker(ctx, up, rec.add)
	tr.Follow("old", "job", "working", "created by generation 1, whose stdio server process exited")
	testwait.For(t, 5*time.Second, func() error {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.recs) != 1 || rec.recs[0].Kind != TaskFinished || rec.recs[0].Status != TaskLost ||
			rec.recs[0].Error != "created by generation 1, whose stdio server process exited (the server: Task not found)" {
			return fmt.Errorf("records %+v", rec.recs)
		}
		return nil
	})
	// A task id nobody created through this bridge: the server's "unknown" records nothing.
	tr.observe("tasks/get", json.RawMessage(`{"taskId":"foreign"}`), nil, &rpc.RPCError{Code: -32602, Message: "Task not found"})
	cancel()
	tr.wait()
	if n := len(rec.statuses()); n != 1 {
		t.Fatalf("an unknown task id recorded something: %v", rec.statuses())
	}
}
