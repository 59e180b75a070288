package mcp

// MCP tasks: `tools-call --task/--detach` (and a tool whose execution.taskSupport is
// "required", called as a task by itself), tasks-list, tasks-get, tasks-result,
// tasks-cancel. Both eras:
//
//   - 2025-11-25 (experimental tasks): tools/call with params.task answers {task: Task};
//     tasks/result blocks until the task ends and answers the tool's result; tasks/list.
//   - 2026-07-28 (the io.modelcontextprotocol/tasks extension): the bridge turns
//     params.task into the extension's per-request capability; tools/call answers a Task
//     with resultType "task"; tasks/get answers it with the result or error inline; there
//     is no tasks/result nor tasks/list (the list then comes from the event log).
//
// The bridge records every task's creation, status changes and end as events (task_*), so
// a task is also found, and its end waited for, through the log: `mcpctl @s wait --for
// task:ID`. The log also says whose a task id is (a foreign one is refused before anything
// is sent) and why a task is gone (lost with its stdio server: exit 3).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
	"github.com/spf13/pflag"
)

const tasksExtension = "io.modelcontextprotocol/tasks"

// JSON-RPC error codes the tasks commands branch on (the CLI links no MCP library).
const (
	codeInvalidParams  = -32602 // tasks/*: no such task
	codeMethodNotFound = -32601
)

// modernProtocol reports whether a revision is 2026-07-28 or later (revisions are dates).
func modernProtocol(v string) bool { return v >= "2026-07-28" }

// toolResultHuman and toolResultCheck print and check a tool's result as tools-call does.
func toolResultHuman(o *mcpOptions, res json.RawMessage) error { return toolCallSpec().human(o, res) }
func toolResultCheck(res json.RawMessage) error                { return toolCallSpec().check(res) }

func toolCallSpec() *mcpSpec {
	for _, s := range toolSpecs() {
		if s.method == "tools/call" {
			return s
		}
	}
	panic("no tools-call")
}

// taskFlags are tools-call's task flags.
func taskFlags(o *mcpOptions, fl *pflag.FlagSet) {
	fl.BoolVar(&o.task, "task", false, "call the tool as a task and wait for its result (status on a terminal); a tool that requires it is called so anyway")
	fl.BoolVar(&o.detach, "detach", false, "call the tool as a task, print its id and return at once (collect it with tasks-result)")
}

// serverTasks is what the server's capabilities say of tasks.
type serverTasks struct {
	modern   bool // 2026-07-28 or later: the Tasks extension
	toolCall bool // task-augmented tools/call
	list     bool // tasks/list
	name     string
}

// taskCaller is a connection to the session's bridge for task requests: several requests,
// concurrently, with the JSON-RPC error kept for the caller to branch on.
type taskCaller struct {
	o *mcpOptions
	c *rpc.Client
	s projector.Session
	// gone: the bridge went away during a request
	gone bool
}

// dialTasks connects to the session's bridge and reads the server's task capabilities
// (the bridge's cached initialize result: nothing reaches the server). A bridge that went
// away under that first request (killed a moment ago, its socket still there) is dialed
// again, once: the session's next bridge answers.
func dialTasks(ctx context.Context, o *mcpOptions, method string) (*taskCaller, serverTasks, error) {
	for attempt := 0; ; attempt++ {
		c, s, err := sessioncall.ConnectBridge(ctx, o.f, o.session, method)
		if err != nil {
			return nil, serverTasks{}, err
		}
		tc := &taskCaller{o: o, c: c, s: s}
		st, err := tc.tasks(ctx)
		if err == nil {
			return tc, st, nil
		}
		tc.Close()
		if attempt > 0 || !tc.gone {
			return nil, serverTasks{}, err
		}
	}
}

func (t *taskCaller) Close() { t.c.Close() }

// call makes one request. A JSON-RPC error of the server comes back as rpcErr (err nil);
// any other failure as err, mapped to an exit code.
func (t *taskCaller) call(ctx context.Context, method string, params json.RawMessage) (res json.RawMessage, rpcErr *rpc.RPCError, err error) {
	res, err = t.c.Call(ctx, method, params)
	if errors.As(err, &rpcErr) && rpcErr.Code != rpc.CodeUpstreamUnavailable && !errors.Is(err, rpc.ErrDisconnected) &&
		!errors.Is(err, rpc.ErrServerLost) && !errors.Is(err, rpc.ErrExpired) && !errors.Is(err, rpc.ErrUnauthorized) {
		return nil, rpcErr, nil
	}
	if err != nil {
		t.gone = errors.Is(err, rpc.ErrDisconnected)
		return nil, nil, sessioncall.CallFailed(ctx, t.o.f, t.s, t.o.session, method, err)
	}
	return res, nil, nil
}

// tasks reads the server's capabilities from the bridge (its cached initialize result).
func (t *taskCaller) tasks(ctx context.Context) (serverTasks, error) {
	res, rerr, err := t.call(ctx, "initialize", MustJSON(map[string]any{"protocolVersion": sessioncall.FirstNonEmpty(t.s.ProtocolVersion, "2025-11-25"),
		"capabilities": map[string]any{}, "clientInfo": map[string]string{"name": "mcpctl", "version": cmdkit.Version}}))
	if err == nil && rerr != nil {
		err = &clierr.Error{Code: clierr.ExitServer, Err: fmt.Errorf("initialize on @%s: %s", t.o.session, rerr.Message)}
	}
	if err != nil {
		return serverTasks{}, err
	}
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
		ServerInfo      struct {
			Name string `json:"name"`
		} `json:"serverInfo"`
		Capabilities struct {
			Tasks *struct {
				List     json.RawMessage `json:"list"`
				Requests struct {
					Tools struct {
						Call json.RawMessage `json:"call"`
					} `json:"tools"`
				} `json:"requests"`
			} `json:"tasks"`
			Extensions map[string]json.RawMessage `json:"extensions"`
		} `json:"capabilities"`
	}
	_ = json.Unmarshal(res, &r)
	st := serverTasks{modern: modernProtocol(r.ProtocolVersion), name: sessioncall.FirstNonEmpty(r.ServerInfo.Name, "the server")}
	if st.modern {
		st.toolCall = r.Capabilities.Extensions[tasksExtension] != nil
	} else if r.Capabilities.Tasks != nil {
		st.toolCall = r.Capabilities.Tasks.Requests.Tools.Call != nil
		st.list = r.Capabilities.Tasks.List != nil
	}
	return st, nil
}

func (o *mcpOptions) noTasksErr(st serverTasks) error {
	what := "the tasks capability (tasks.requests.tools.call)"
	if st.modern {
		what = "the " + tasksExtension + " extension"
	}
	return clierr.WithHint(fmt.Errorf("@%s: %s does not support tasks: its capabilities have no %s", o.session, st.name, what),
		clierr.ExitUsage, "call it without --task/--detach: mcpctl @"+o.session+" tools-call …")
}

// createdTask is the task in a tools/call answer, in either era (ok false: a plain result).
func createdTask(res json.RawMessage) (taskInfo, bool) {
	var r struct {
		Task *taskInfo `json:"task"`
		taskInfo
		ResultType string `json:"resultType"`
	}
	if json.Unmarshal(res, &r) != nil {
		return taskInfo{}, false
	}
	if r.Task != nil && r.Task.TaskID != "" {
		return *r.Task, true
	}
	if r.ResultType == "task" && r.TaskID != "" {
		return r.taskInfo, true
	}
	return taskInfo{}, false
}

// taskInfo is a Task, in either era (2026-07-28 inlines result and error).
type taskInfo struct {
	TaskID         string          `json:"taskId"`
	Status         string          `json:"status"`
	StatusMessage  string          `json:"statusMessage,omitempty"`
	PollInterval   *int64          `json:"pollInterval,omitempty"`
	PollIntervalMs *int64          `json:"pollIntervalMs,omitempty"`
	Result         json.RawMessage `json:"result,omitempty"`
	Error          *rpc.RPCError   `json:"error,omitempty"`
}

func (t taskInfo) poll() time.Duration {
	d := time.Second
	switch {
	case t.PollIntervalMs != nil:
		d = time.Duration(*t.PollIntervalMs) * time.Millisecond
	case t.PollInterval != nil:
		d = time.Duration(*t.PollInterval) * time.Millisecond
	}
	return min(max(d, 200*time.Millisecond), 5*time.Second)
}

func terminal(status string) bool {
	return status == "completed" || status == "failed" || status == "cancelled"
}

// callTool is tools-call: a plain call, or a task (--task, --detach, or a tool that
// requires it). done: the answer is printed already (--detach).
func callTool(ctx context.Context, o *mcpOptions, params json.RawMessage, call sessioncall.CallOptions) (res json.RawMessage, done bool, err error) {
	asks := call.Asks
	asTask := o.task || o.detach
	if !asTask {
		res, _, err = sessioncall.CallSessionWith(ctx, o.f, o.session, "tools/call", params, call)
		if err == nil {
			if _, ok := createdTask(res); !ok && !refusedForTask(res) {
				return res, false, nil
			}
		} else if !strings.Contains(err.Error(), "server error -32021") {
			return nil, false, err
		}
		// Refused: is it a tool that must be called as a task? Then it did not run, and is
		// called again, as one.
		var tool struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(params, &tool)
		if required, lerr := taskRequired(ctx, o, tool.Name); lerr != nil || !required {
			return res, false, err
		}
	}
	ctx, cancel := cmdkit.CommandContext(ctx, o.f)
	defer cancel()
	tc, st, err := dialTasks(ctx, o, "tools/call")
	if err != nil {
		return nil, false, err
	}
	defer tc.Close()
	if !st.toolCall {
		return nil, false, o.noTasksErr(st)
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(params, &fields)
	fields["task"] = json.RawMessage("{}")
	params = MustJSON(fields)
	if asks != nil {
		tc.c.HandleRequests(asks.Handle)
	}
	res, rerr, err := tc.call(ctx, "tools/call", params)
	if err != nil {
		return nil, false, err
	}
	if rerr != nil {
		return nil, false, &clierr.Error{Code: clierr.ExitServer, Err: fmt.Errorf("tools/call on @%s: server error %d: %s", o.session, rerr.Code, rerr.Message)}
	}
	t, ok := createdTask(res)
	if !ok {
		return res, false, nil // the server answered at once, without a task
	}
	if o.detach {
		return nil, true, printDetached(o, res, t)
	}
	res, err = waitTask(ctx, o, tc, st, t)
	return res, false, err
}

// refusedForTask reports whether a tool result is a refusal to run without a task (as the
// TypeScript SDK answers: isError, "requires task augmentation").
func refusedForTask(res json.RawMessage) bool {
	var r struct {
		IsError bool      `json:"isError"`
		Content []content `json:"content"`
	}
	return json.Unmarshal(res, &r) == nil && r.IsError && len(r.Content) > 0 && strings.Contains(r.Content[0].Text, "task")
}

// taskRequired reports whether the tool's execution.taskSupport is "required".
func taskRequired(ctx context.Context, o *mcpOptions, name string) (bool, error) {
	res, err := listAll(ctx, o, "tools/list", "tools")
	if err != nil {
		return false, err
	}
	var r struct {
		Tools []struct {
			Name      string `json:"name"`
			Execution struct {
				TaskSupport string `json:"taskSupport"`
			} `json:"execution"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return false, err
	}
	for _, t := range r.Tools {
		if t.Name == name {
			return t.Execution.TaskSupport == "required", nil
		}
	}
	return false, nil
}

func printDetached(o *mcpOptions, res json.RawMessage, t taskInfo) error {
	if o.f.JSON {
		return writeRawJSON(o.f.IO.Out, res)
	}
	fmt.Fprintln(o.f.IO.Out, t.TaskID)
	fmt.Fprintf(o.f.IO.ErrOut, "task %s %s; collect it with: mcpctl @%s tasks-result %s\n", t.TaskID, t.Status, o.session, t.TaskID)
	return nil
}

// waitTask waits for a task's end and returns the tool's result: 2025-11-25 with
// tasks/result (which blocks), 2026-07-28 by polling tasks/get. On a terminal the status
// message is shown on the progress line meanwhile.
func waitTask(ctx context.Context, o *mcpOptions, tc *taskCaller, st serverTasks, t taskInfo) (json.RawMessage, error) {
	p := cmdkit.NewProgress(o.f.IO, taskLine(t))
	defer p.Done()
	id := MustJSON(map[string]string{"taskId": t.TaskID})
	if !st.modern {
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		if o.f.IO.ErrTTY {
			go func() {
				for every := t.poll(); ; {
					select {
					case <-pctx.Done():
						return
					case <-time.After(every):
					}
					if res, rerr, err := tc.call(pctx, "tasks/get", id); err == nil && rerr == nil {
						var cur taskInfo
						if json.Unmarshal(res, &cur) == nil {
							p.Update(taskLine(cur))
							every = cur.poll()
						}
					}
				}
			}()
		}
		res, rerr, err := tc.call(ctx, "tasks/result", id)
		if err != nil {
			return nil, err
		}
		if rerr == nil {
			return res, nil
		}
		// Why no result: the task's status says (cancelled, failed), else the log (lost,
		// unknown).
		stop()
		gres, grerr, err := tc.call(ctx, "tasks/get", id)
		if err != nil {
			return nil, err
		}
		if grerr != nil {
			return nil, o.taskGone(ctx, tc.s, t.TaskID, grerr)
		}
		var cur taskInfo
		_ = json.Unmarshal(gres, &cur)
		if e := endedErr(o, cur); e != nil {
			return nil, e
		}
		return nil, &clierr.Error{Code: clierr.ExitServer, Err: fmt.Errorf("tasks/result %s on @%s: server error %d: %s", t.TaskID, o.session, rerr.Code, rerr.Message)}
	}
	for cur := t; ; {
		if cur.Status == "input_required" {
			// The extension's inputRequests are answered with tasks/update, which mcpctl
			// does not send yet: say so rather than wait for ever.
			return nil, clierr.WithHint(fmt.Errorf("task %s on @%s needs input (its inputRequests), which mcpctl cannot give over tasks/update yet; it is still waiting",
				t.TaskID, o.session), clierr.ExitServer, "mcpctl @"+o.session+" tasks-cancel "+t.TaskID)
		}
		if terminal(cur.Status) {
			if e := endedErr(o, cur); e != nil {
				return nil, e
			}
			return cur.Result, nil
		}
		select {
		case <-ctx.Done():
			return nil, sessioncall.TimeoutErr(ctx, "waiting for task "+t.TaskID+" on @"+o.session)
		case <-time.After(cur.poll()):
		}
		res, rerr, err := tc.call(ctx, "tasks/get", id)
		if err != nil {
			return nil, err
		}
		if rerr != nil {
			return nil, o.taskGone(ctx, tc.s, t.TaskID, rerr)
		}
		if err := json.Unmarshal(res, &cur); err != nil {
			return nil, &clierr.Error{Code: clierr.ExitServer, Err: fmt.Errorf("tasks/get %s on @%s: undecodable answer: %w", t.TaskID, o.session, err)}
		}
		p.Update(taskLine(cur))
	}
}

func taskLine(t taskInfo) string {
	return "task " + t.TaskID + ": " + sessioncall.FirstNonEmpty(t.StatusMessage, t.Status)
}

// endedErr is the error of a task that ended without a result: cancelled or failed (exit 2).
func endedErr(o *mcpOptions, t taskInfo) error {
	switch t.Status {
	case "cancelled":
		return &clierr.Error{Code: clierr.ExitServer, Err: fmt.Errorf("task %s on @%s was cancelled%s; it has no result", t.TaskID, o.session, parenMsg(t.StatusMessage))}
	case "failed":
		msg := t.StatusMessage
		if t.Error != nil {
			msg = fmt.Sprintf("server error %d: %s", t.Error.Code, t.Error.Message)
		}
		return &clierr.Error{Code: clierr.ExitServer, Err: fmt.Errorf("task %s on @%s failed%s", t.TaskID, o.session, colonMsg(msg))}
	}
	return nil
}

func parenMsg(s string) string {
	if s == "" {
		return ""
	}
	return " (" + strings.TrimSuffix(s, ".") + ")"
}

func colonMsg(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// taskLog is what the event log says of a task id on this node.
type taskLog struct {
	here    *events.Task   // this session's
	foreign []*events.Task // other sessions'
}

func (o *mcpOptions) readTaskLog(ctx context.Context, id string) (taskLog, error) {
	var out taskLog
	a, _, err := sessioncall.Load(ctx, o.f, o.session)
	if err != nil {
		return out, err
	}
	tasks := map[events.TaskKey]*events.Task{}
	err = a.Hub.Log.Read(ctx, events.Query{Node: a.Hub.Node, Kinds: []events.Kind{events.KindTaskCreated, events.KindTaskStatus, events.KindTaskFinished}},
		func(e events.Event) error {
			if e.TaskID == id {
				events.FoldTask(tasks, e)
			}
			return nil
		})
	for _, t := range tasks {
		if t.Session == a.Name {
			out.here = t
		} else {
			out.foreign = append(out.foreign, t)
		}
	}
	return out, err
}

// checkTaskID refuses a task id the log knows only on other sessions, before anything is
// sent: a server's ids are its own, and another session's task is not this one's.
func (o *mcpOptions) checkTaskID(ctx context.Context, id string) error {
	if id == "" {
		return clierr.UsageErr("a task id is empty")
	}
	if sessioncall.RemoteTarget(o.f, o.session) {
		return nil
	}
	tl, err := o.readTaskLog(ctx, id)
	if err != nil || tl.here != nil || len(tl.foreign) == 0 {
		return nil // the log cannot say: the server will
	}
	return clierr.WithHint(fmt.Errorf("task %s is not @%s's: it is @%s's", id, o.session, tl.foreign[0].Session),
		clierr.ExitUsage, "mcpctl @"+tl.foreign[0].Session+" tasks-get "+id)
}

// taskGone explains a task id the server does not know (-32602): lost with the server
// that ran it (exit 3, as the log says), or unknown (exit 1).
func (o *mcpOptions) taskGone(ctx context.Context, s projector.Session, id string, rerr *rpc.RPCError) error {
	tl, _ := o.readTaskLog(ctx, id)
	if t := tl.here; t != nil {
		why := t.Error
		if t.Status != events.TaskLost || why == "" {
			why = fmt.Sprintf("the server no longer knows it (%s)", rerr.Message)
			if t.Generation < s.Generation {
				why = fmt.Sprintf("created by generation %d, whose server connection ended with its bridge (now generation %d); the server no longer knows it", t.Generation, s.Generation)
				if s.Server.Transport == events.TransportStdio {
					why = fmt.Sprintf("created by generation %d, whose stdio server process exited with its bridge (now generation %d): its tasks went with it", t.Generation, s.Generation)
				}
			}
		}
		return clierr.WithHint(fmt.Errorf("task %s on @%s is lost: %s", id, o.session, why), clierr.ExitNetwork,
			"mcpctl events --session "+o.session+" --type 'task_*'")
	}
	return clierr.WithHint(fmt.Errorf("no task %s on @%s: %s", id, o.session, rerr.Message), clierr.ExitUsage, "mcpctl @"+o.session+" tasks-list")
}

// taskSpecs are the tasks commands.
func taskSpecs() []*mcpSpec {
	idParams := func(o *mcpOptions, args []string) (json.RawMessage, error) {
		o.tool = args[0] // the task id
		return MustJSON(map[string]string{"taskId": args[0]}), nil
	}
	return []*mcpSpec{
		{
			use: "tasks-list @session", short: "List the session's tasks (the server's list, else the event log's)", method: "tasks/list",
			params: noParams, call: tasksList,
			human: printTaskList,
		},
		{
			use: "tasks-get @session TASK", short: "Show a task's status", method: "tasks/get", nargs: 1, maxArgs: 1,
			params: idParams, call: tasksGet,
			human: func(o *mcpOptions, res json.RawMessage) error {
				var t taskInfo
				if err := json.Unmarshal(res, &t); err != nil {
					return err
				}
				fmt.Fprintf(o.f.IO.Out, "%s\t%s\t%s\n", t.TaskID, o.f.IO.Color(statusColor(t.Status), t.Status), t.StatusMessage)
				return nil
			},
		},
		{
			use: "tasks-result @session TASK", short: "Wait for a task's end and print its result", method: "tasks/result", nargs: 1, maxArgs: 1,
			params: idParams, call: tasksResult,
			human: toolResultHuman, check: toolResultCheck,
		},
		{
			use: "tasks-cancel @session TASK", short: "Cancel a task", method: "tasks/cancel", nargs: 1, maxArgs: 1,
			params: idParams, call: tasksCancel,
			human: func(o *mcpOptions, res json.RawMessage) error {
				var t taskInfo
				_ = json.Unmarshal(res, &t)
				fmt.Fprintf(o.f.IO.Out, "%s\t%s\n", sessioncall.FirstNonEmpty(t.TaskID, o.tool), sessioncall.FirstNonEmpty(t.Status, "cancel requested"))
				return nil
			},
		},
	}
}

func statusColor(s string) string {
	switch s {
	case "completed":
		return "32"
	case "failed", events.TaskLost:
		return "31"
	case "cancelled", "input_required":
		return "33"
	}
	return "36"
}

func tasksGet(ctx context.Context, o *mcpOptions, params json.RawMessage, _ sessioncall.CallOptions) (json.RawMessage, bool, error) {
	ctx, cancel := cmdkit.CommandContext(ctx, o.f)
	defer cancel()
	if err := o.checkTaskID(ctx, o.tool); err != nil {
		return nil, false, err
	}
	tc, _, err := dialTasks(ctx, o, "tasks/get")
	if err != nil {
		return nil, false, err
	}
	defer tc.Close()
	res, rerr, err := tc.call(ctx, "tasks/get", params)
	if err != nil {
		return nil, false, err
	}
	if rerr != nil {
		return nil, false, o.taskErr(ctx, tc.s, "tasks/get", rerr)
	}
	return res, false, nil
}

// taskErr maps a server's error to a tasks request: an unknown task (-32602) is lost or
// unknown (taskGone); any other is a server error.
func (o *mcpOptions) taskErr(ctx context.Context, s projector.Session, method string, rerr *rpc.RPCError) error {
	if rerr.Code == codeInvalidParams {
		return o.taskGone(ctx, s, o.tool, rerr)
	}
	if rerr.Code == codeMethodNotFound {
		return clierr.WithHint(fmt.Errorf("%s on @%s: the server does not support tasks (%s)", method, o.session, rerr.Message), clierr.ExitUsage, "mcpctl @"+o.session)
	}
	return &clierr.Error{Code: clierr.ExitServer, Err: fmt.Errorf("%s %s on @%s: server error %d: %s", method, o.tool, o.session, rerr.Code, rerr.Message)}
}

func tasksResult(ctx context.Context, o *mcpOptions, params json.RawMessage, _ sessioncall.CallOptions) (json.RawMessage, bool, error) {
	ctx, cancel := cmdkit.CommandContext(ctx, o.f)
	defer cancel()
	if err := o.checkTaskID(ctx, o.tool); err != nil {
		return nil, false, err
	}
	tc, st, err := dialTasks(ctx, o, "tasks/result")
	if err != nil {
		return nil, false, err
	}
	defer tc.Close()
	// Its state first: an unknown or lost task is said so, and a finished one at once.
	res, rerr, err := tc.call(ctx, "tasks/get", params)
	if err != nil {
		return nil, false, err
	}
	if rerr != nil {
		return nil, false, o.taskErr(ctx, tc.s, "tasks/get", rerr)
	}
	var t taskInfo
	if err := json.Unmarshal(res, &t); err != nil || t.Status == "" {
		return nil, false, &clierr.Error{Code: clierr.ExitServer, Err: fmt.Errorf("tasks/get %s on @%s: not a task: %s", o.tool, o.session, res)}
	}
	if t.TaskID == "" {
		t.TaskID = o.tool
	}
	if e := endedErr(o, t); e != nil {
		return nil, false, e
	}
	res, err = waitTask(ctx, o, tc, st, t)
	return res, false, err
}

func tasksCancel(ctx context.Context, o *mcpOptions, params json.RawMessage, _ sessioncall.CallOptions) (json.RawMessage, bool, error) {
	ctx, cancel := cmdkit.CommandContext(ctx, o.f)
	defer cancel()
	if err := o.checkTaskID(ctx, o.tool); err != nil {
		return nil, false, err
	}
	tc, _, err := dialTasks(ctx, o, "tasks/cancel")
	if err != nil {
		return nil, false, err
	}
	defer tc.Close()
	// A finished task cannot be cancelled: said as such, and nothing is sent.
	res, rerr, err := tc.call(ctx, "tasks/get", params)
	if err != nil {
		return nil, false, err
	}
	if rerr != nil {
		return nil, false, o.taskErr(ctx, tc.s, "tasks/get", rerr)
	}
	var t taskInfo
	_ = json.Unmarshal(res, &t)
	if terminal(t.Status) {
		return nil, false, clierr.WithHint(fmt.Errorf("task %s on @%s is %s already: nothing to cancel", o.tool, o.session, t.Status), clierr.ExitUsage,
			"mcpctl @"+o.session+" tasks-result "+o.tool)
	}
	res, rerr, err = tc.call(ctx, "tasks/cancel", params)
	if err != nil {
		return nil, false, err
	}
	if rerr != nil {
		return nil, false, o.taskErr(ctx, tc.s, "tasks/cancel", rerr)
	}
	return res, false, nil
}

// tasksList is the server's tasks/list, every page, with each task's tool from the log,
// then the tasks the log knows and the server does not list (lost with a stdio server, or
// forgotten), as the log last saw them; a server without tasks/list (the 2026-07-28
// extension has none) gets the log's list alone.
func tasksList(ctx context.Context, o *mcpOptions, params json.RawMessage, _ sessioncall.CallOptions) (json.RawMessage, bool, error) {
	ctx, cancel := cmdkit.CommandContext(ctx, o.f)
	defer cancel()
	tc, st, err := dialTasks(ctx, o, "tasks/list")
	if err != nil {
		return nil, false, err
	}
	tc.Close()
	logged := map[string]*events.Task{}
	if !sessioncall.RemoteTarget(o.f, o.session) {
		if a, _, err := sessioncall.Load(ctx, o.f, o.session); err == nil {
			tasks := map[events.TaskKey]*events.Task{}
			_ = a.Hub.Log.Read(ctx, events.Query{Node: a.Hub.Node, Session: a.Name,
				Kinds: []events.Kind{events.KindTaskCreated, events.KindTaskStatus, events.KindTaskFinished}},
				func(e events.Event) error { events.FoldTask(tasks, e); return nil })
			for _, t := range tasks {
				logged[t.TaskID] = t
			}
		}
	}
	type listed struct {
		taskInfo
		Tool string `json:"tool,omitempty"`
		// Source: "server" (its tasks/list) or "log" (the event log's last word).
		Source string `json:"source"`
	}
	var out []listed
	if st.list {
		res, err := listAll(ctx, o, "tasks/list", "tasks")
		if err != nil {
			return nil, false, err
		}
		var r struct {
			Tasks []taskInfo `json:"tasks"`
		}
		if err := json.Unmarshal(res, &r); err != nil {
			return nil, false, err
		}
		for _, t := range r.Tasks {
			l := listed{taskInfo: t, Source: "server"}
			if lt := logged[t.TaskID]; lt != nil {
				l.Tool = lt.Tool
				delete(logged, t.TaskID)
			}
			out = append(out, l)
		}
	}
	{
		// The log's tasks the server does not list (all of them without tasks/list): lost
		// ones, with why, and the ones it forgot.
		ts := make([]*events.Task, 0, len(logged))
		for _, t := range logged {
			ts = append(ts, t)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].CreatedSeq < ts[j].CreatedSeq })
		for _, t := range ts {
			out = append(out, listed{taskInfo: taskInfo{TaskID: t.TaskID, Status: t.Status, StatusMessage: sessioncall.FirstNonEmpty(t.Error, t.StatusMessage)},
				Tool: t.Tool, Source: "log"})
		}
	}
	if out == nil {
		out = []listed{}
	}
	return MustJSON(map[string]any{"tasks": out}), false, nil
}

func printTaskList(o *mcpOptions, res json.RawMessage) error {
	var r struct {
		Tasks []struct {
			taskInfo
			Tool string `json:"tool"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(o.f.IO.Out, 0, 4, 2, ' ', 0)
	for _, t := range r.Tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.TaskID, o.f.IO.Color(statusColor(t.Status), t.Status), sessioncall.FirstNonEmpty(t.Tool, "-"), firstLine(t.StatusMessage))
	}
	return tw.Flush()
}
