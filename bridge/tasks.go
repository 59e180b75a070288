package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// Tasks: the bridge follows the MCP tasks created through it, whoever created them (the
// CLI, an MCP host behind `proxy`), and reports each change once (Config.OnTask), so that
// the event log says when a task was created, changed status and finished, without anybody
// polling. It is the natural writer: every CreateTaskResult, status notification and tasks/*
// answer passes through it, in both eras:
//
//   - 2025-11-25: tools/call with params.task answers {task: Task}; tasks/get and
//     tasks/cancel answer a Task; notifications/tasks/status carries one.
//   - 2026-07-28 (the io.modelcontextprotocol/tasks extension): tools/call answers a Task
//     with resultType "task"; tasks/get answers a DetailedTask (result or error inline);
//     notifications/tasks carries one.
//
// A task that is not terminal is also polled with tasks/get (at the server's pollInterval,
// within [minTaskPoll, maxTaskPoll]) until it is, so that a detached task's completion is
// recorded even when nobody asks. A tasks/get the server answers with -32602 (unknown task)
// makes the task lost: its server process died, or it expired.

// TaskRecord is one change of a task the bridge saw.
type TaskRecord struct {
	// Kind is TaskCreated, TaskChanged or TaskFinished.
	Kind          TaskChange
	TaskID        string
	Tool          string
	Status        string
	StatusMessage string
	// Error: why a failed task failed (the JSON-RPC error's message), or why a task is
	// lost (the server's answer to tasks/get).
	Error string
}

// TaskChange says what a TaskRecord records.
type TaskChange int

// The changes of a task.
const (
	TaskCreated TaskChange = iota
	TaskChanged
	TaskFinished
)

// TaskLost is the status of a task the server no longer knows (not an MCP status).
const TaskLost = "lost"

// Polling bounds for tasks the bridge follows.
const (
	minTaskPoll = 250 * time.Millisecond
	maxTaskPoll = 5 * time.Second
	// maxTaskMessage bounds a status message kept in a record.
	maxTaskMessage = 500
)

// TasksExtension is the 2026-07-28 Tasks extension's identifier.
const TasksExtension = "io.modelcontextprotocol/tasks"

// isTerminal reports whether an MCP task status is final.
func isTerminal(status string) bool {
	switch status {
	case "completed", "failed", "cancelled", TaskLost:
		return true
	}
	return false
}

// taskState is the part of a Task the tracker reads, in either era.
type taskState struct {
	TaskID         string          `json:"taskId"`
	Status         string          `json:"status"`
	StatusMessage  string          `json:"statusMessage"`
	LastUpdatedAt  string          `json:"lastUpdatedAt"`
	PollInterval   *int64          `json:"pollInterval"`
	PollIntervalMs *int64          `json:"pollIntervalMs"`
	ResultType     string          `json:"resultType"`
	Error          json.RawMessage `json:"error"`
}

func (t taskState) poll() time.Duration {
	d := time.Second
	switch {
	case t.PollIntervalMs != nil:
		d = time.Duration(*t.PollIntervalMs) * time.Millisecond
	case t.PollInterval != nil:
		d = time.Duration(*t.PollInterval) * time.Millisecond
	}
	return min(max(d, minTaskPoll), maxTaskPoll)
}

func (t taskState) errorText() string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(t.Error, &e) == nil && e.Message != "" {
		return e.Message
	}
	return ""
}

// createdTask finds the task in a tools/call result: {task: Task} (2025-11-25) or a Task
// with resultType "task" (2026-07-28).
func createdTask(result json.RawMessage) (taskState, bool) {
	var r struct {
		Task *taskState `json:"task"`
		taskState
	}
	if json.Unmarshal(result, &r) != nil {
		return taskState{}, false
	}
	if r.Task != nil && r.Task.TaskID != "" {
		return *r.Task, true
	}
	if r.ResultType == "task" && r.TaskID != "" {
		return r.taskState, true
	}
	return taskState{}, false
}

// trackedTask is what the tracker knows of one task.
type trackedTask struct {
	// lostWhy says why the task may be gone, for a task of an earlier generation.
	lostWhy string
	tool    string
	status  string
	message string
	updated string // lastUpdatedAt of the status known
	polling bool
}

// taskTracker follows the tasks of one bridge.
type taskTracker struct {
	up     Upstream
	report func(TaskRecord)
	ctx    context.Context
	wg     sync.WaitGroup

	mu    sync.Mutex
	tasks map[string]*trackedTask
}

func newTaskTracker(ctx context.Context, up Upstream, report func(TaskRecord)) *taskTracker {
	return &taskTracker{up: up, report: report, ctx: ctx, tasks: map[string]*trackedTask{}}
}

// wait waits for the pollers (after ctx ended).
func (t *taskTracker) wait() { t.wg.Wait() }

// observe looks at a request forwarded to the server and its answer.
func (t *taskTracker) observe(method string, params, result json.RawMessage, err error) {
	switch mcp.MCPMethod(method) {
	case mcp.MethodToolsCall:
		if err != nil {
			return
		}
		if st, ok := createdTask(result); ok {
			var p struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(params, &p)
			t.created(p.Name, st)
		}
	case mcp.MethodTasksGet, mcp.MethodTasksCancel:
		id := taskIDOf(params)
		if err != nil {
			var rpcErr *rpc.RPCError
			if errors.As(err, &rpcErr) && rpcErr.Code == mcp.INVALID_PARAMS && method == string(mcp.MethodTasksGet) {
				t.lost(id, rpcErr.Message)
			}
			return
		}
		var st taskState
		if json.Unmarshal(result, &st) == nil && st.Status != "" {
			if st.TaskID == "" {
				st.TaskID = id
			}
			t.update(st)
		}
	case mcp.MethodTasksResult:
		if err == nil {
			t.update(taskState{TaskID: taskIDOf(params), Status: "completed"})
		}
	}
}

// notified looks at a server notification.
func (t *taskTracker) notified(method string, params json.RawMessage) {
	if method != mcp.MethodNotificationTasksStatus && method != "notifications/tasks" {
		return
	}
	var st taskState
	if json.Unmarshal(params, &st) == nil && st.TaskID != "" && st.Status != "" {
		t.update(st)
	}
}

// olderTimestamp reports whether ISO 8601 time a is before b (both set and readable).
func olderTimestamp(a, b string) bool {
	ta, err1 := time.Parse(time.RFC3339Nano, a)
	tb, err2 := time.Parse(time.RFC3339Nano, b)
	return err1 == nil && err2 == nil && ta.Before(tb)
}

func taskIDOf(params json.RawMessage) string {
	var p struct {
		TaskID string `json:"taskId"`
	}
	_ = json.Unmarshal(params, &p)
	return p.TaskID
}

func truncateMessage(s string) string {
	if len(s) > maxTaskMessage {
		return s[:maxTaskMessage-3] + "..."
	}
	return s
}

func (t *taskTracker) created(tool string, st taskState) {
	t.mu.Lock()
	if _, ok := t.tasks[st.TaskID]; ok {
		t.mu.Unlock()
		return
	}
	tt := &trackedTask{tool: tool, status: st.Status, message: st.StatusMessage, updated: st.LastUpdatedAt}
	t.tasks[st.TaskID] = tt
	t.mu.Unlock()
	t.report(TaskRecord{Kind: TaskCreated, TaskID: st.TaskID, Tool: tool, Status: st.Status, StatusMessage: truncateMessage(st.StatusMessage)})
	if isTerminal(st.Status) {
		t.report(TaskRecord{Kind: TaskFinished, TaskID: st.TaskID, Tool: tool, Status: st.Status,
			StatusMessage: truncateMessage(st.StatusMessage), Error: st.errorText()})
		return
	}
	t.follow(st.TaskID, st.poll())
}

// Follow makes the tracker follow a task created before this bridge (by the session's
// previous generation), as the log recorded it. lostWhy is what a lost record says.
func (t *taskTracker) Follow(id, tool, status, lostWhy string) {
	t.mu.Lock()
	if _, ok := t.tasks[id]; ok || isTerminal(status) {
		t.mu.Unlock()
		return
	}
	t.tasks[id] = &trackedTask{tool: tool, status: status, lostWhy: lostWhy}
	t.mu.Unlock()
	t.follow(id, minTaskPoll)
}

// update records a status seen for a known task; a change is reported once.
func (t *taskTracker) update(st taskState) {
	t.mu.Lock()
	tt, ok := t.tasks[st.TaskID]
	if !ok || isTerminal(tt.status) || (tt.status == st.Status && tt.message == st.StatusMessage) ||
		(!isTerminal(st.Status) && olderTimestamp(st.LastUpdatedAt, tt.updated)) {
		// Unknown, finished, unchanged, or older than what is known: a poll's answer
		// overtaken by a notification.
		t.mu.Unlock()
		return
	}
	tt.status, tt.message = st.Status, st.StatusMessage
	if st.LastUpdatedAt != "" {
		tt.updated = st.LastUpdatedAt
	}
	tool := tt.tool
	t.mu.Unlock()
	kind := TaskChanged
	if isTerminal(st.Status) {
		kind = TaskFinished
	}
	t.report(TaskRecord{Kind: kind, TaskID: st.TaskID, Tool: tool, Status: st.Status,
		StatusMessage: truncateMessage(st.StatusMessage), Error: st.errorText()})
}

func (t *taskTracker) lost(id, why string) {
	t.mu.Lock()
	if tt := t.tasks[id]; tt != nil && tt.lostWhy != "" {
		why = tt.lostWhy + " (the server: " + why + ")"
	}
	t.mu.Unlock()
	t.update(taskState{TaskID: id, Status: TaskLost, Error: mustJSONError(why)})
}

func mustJSONError(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"message": msg})
	return b
}

func (t *taskTracker) follow(id string, every time.Duration) {
	t.mu.Lock()
	tt := t.tasks[id]
	if tt == nil || tt.polling {
		t.mu.Unlock()
		return
	}
	tt.polling = true
	t.mu.Unlock()
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		params, _ := json.Marshal(map[string]string{"taskId": id})
		timer := time.NewTimer(every)
		defer timer.Stop()
		for {
			select {
			case <-t.ctx.Done():
				return
			case <-t.up.Done():
				return
			case <-timer.C:
			}
			ctx, cancel := context.WithTimeout(t.ctx, DefaultPingTimeout)
			res, err := t.up.Call(ctx, string(mcp.MethodTasksGet), params)
			cancel()
			t.observe(string(mcp.MethodTasksGet), params, res, err)
			t.mu.Lock()
			done := isTerminal(t.tasks[id].status)
			t.mu.Unlock()
			if done {
				return
			}
			next := every
			var st taskState
			if err == nil && json.Unmarshal(res, &st) == nil {
				next = st.poll()
			} else if err != nil {
				next = maxTaskPoll
			}
			timer.Reset(next)
		}
	}()
}

// resultTypeTask is the resultType of a CreateTaskResult (2026-07-28 Tasks extension).
const resultTypeTask = "task"

func isTasksMethod(method string) bool {
	switch mcp.MCPMethod(method) {
	case mcp.MethodTasksGet, mcp.MethodTasksCancel, mcp.MethodTasksResult, mcp.MethodTasksList, "tasks/update":
		return true
	}
	return false
}

// modernTaskParams adapts a request to the 2026-07-28 Tasks extension: clients of the
// socket ask for a task the 2025-11-25 way (params.task on tools/call); on a modern
// connection that field is taken out and the extension declared on the request instead,
// as it is on every tasks/* request. Other requests do not declare it, so a server never
// answers a task to a client that did not ask for one.
func modernTaskParams(method string, params json.RawMessage) (json.RawMessage, bool) {
	if isTasksMethod(method) {
		return params, true
	}
	if mcp.MCPMethod(method) != mcp.MethodToolsCall {
		return params, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(params, &fields) != nil || fields["task"] == nil {
		return params, false
	}
	delete(fields, "task")
	b, err := json.Marshal(fields)
	if err != nil {
		return params, false
	}
	return b, true
}

// declareTasksExtension adds the Tasks extension to the client capabilities in params'
// _meta (which withMeta filled).
func declareTasksExtension(params json.RawMessage) json.RawMessage {
	var fields map[string]json.RawMessage
	if json.Unmarshal(params, &fields) != nil {
		return params
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(fields["_meta"], &meta) != nil || meta == nil {
		return params
	}
	var caps map[string]json.RawMessage
	if json.Unmarshal(meta[mcp.MetaKeyClientCapabilities], &caps) != nil || caps == nil {
		caps = map[string]json.RawMessage{}
	}
	var ext map[string]json.RawMessage
	if json.Unmarshal(caps["extensions"], &ext) != nil || ext == nil {
		ext = map[string]json.RawMessage{}
	}
	ext[TasksExtension] = json.RawMessage("{}")
	var err error
	if caps["extensions"], err = json.Marshal(ext); err != nil {
		return params
	}
	if meta[mcp.MetaKeyClientCapabilities], err = json.Marshal(caps); err != nil {
		return params
	}
	if fields["_meta"], err = json.Marshal(meta); err != nil {
		return params
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return params
	}
	return b
}
