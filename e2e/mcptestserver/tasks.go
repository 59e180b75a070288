package main

// --tasks-ext: the 2026-07-28 Tasks extension (io.modelcontextprotocol/tasks), which mcp-go
// v1.2.1 does not serve (it has the 2025-11-25 experimental tasks only). Like
// --protocol-only it sits in front of the server, on stdio: a filter answers the
// extension's requests itself and passes the rest to mcp-go, and server/discover's answer
// gets the extension in its capabilities.
//
//	job {ms, fail, text}   execution.taskSupport "required". Called without the extension
//	                       declared on the request: -32021 with requiredCapabilities. With
//	                       it: a CreateTaskResult (resultType "task", pollIntervalMs 100);
//	                       after ms (default 1500) the task is completed with "job done:
//	                       TEXT", or failed with -32603 when fail is true.
//	tasks/get              the DetailedTask (result or error inline); -32602 for an unknown
//	                       id; -32021 without the extension.
//	tasks/cancel           an acknowledgement; a working task becomes cancelled; -32602
//	                       for an unknown id.
//
// There is no tasks/list nor tasks/result in the extension.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

const tasksExtension = "io.modelcontextprotocol/tasks"

// addJobTool registers job so that tools/list shows it; its calls never reach mcp-go.
func addJobTool(s *server.MCPServer) {
	s.AddTool(mcp.NewTool("job", mcp.WithDescription("a task (--tasks-ext): waits ms, then completes, or fails when fail is true"),
		mcp.WithNumber("ms"), mcp.WithBoolean("fail"), mcp.WithString("text"),
		mcp.WithTaskSupport(mcp.TaskSupportRequired)),
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultError("job runs only as a task"), nil
		})
}

// extTask is one task of the extension.
type extTask struct {
	ID            string          `json:"taskId"`
	Status        string          `json:"status"`
	StatusMessage string          `json:"statusMessage,omitempty"`
	CreatedAt     string          `json:"createdAt"`
	LastUpdatedAt string          `json:"lastUpdatedAt"`
	TTLMs         int64           `json:"ttlMs"`
	PollIntervalM int64           `json:"pollIntervalMs"`
	Result        json.RawMessage `json:"result,omitempty"`
	Error         json.RawMessage `json:"error,omitempty"`
	stop          chan struct{}
}

type extTasks struct {
	mu    sync.Mutex
	tasks map[string]*extTask
}

// extRequest is what the filter reads of a request.
type extRequest struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name      string `json:"name"`
		TaskID    string `json:"taskId"`
		Arguments struct {
			MS   *int64 `json:"ms"`
			Fail bool   `json:"fail"`
			Text string `json:"text"`
		} `json:"arguments"`
		Meta map[string]json.RawMessage `json:"_meta"`
	} `json:"params"`
}

func (r extRequest) declared() bool {
	var caps struct {
		Extensions map[string]json.RawMessage `json:"extensions"`
	}
	_ = json.Unmarshal(r.Params.Meta[mcp.MetaKeyClientCapabilities], &caps)
	return caps.Extensions[tasksExtension] != nil
}

func rpcResult(id json.RawMessage, result any) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": mcp.JSONRPC_VERSION, "id": id, "result": result})
	return append(b, '\n')
}

func rpcError(id json.RawMessage, code int, msg string, data any) []byte {
	e := map[string]any{"code": code, "message": msg}
	if data != nil {
		e["data"] = data
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": mcp.JSONRPC_VERSION, "id": id, "error": e})
	return append(b, '\n')
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// answer answers a request the extension owns (ok false: mcp-go's).
func (x *extTasks) answer(r extRequest, out io.Writer) bool {
	switch {
	case r.Method == string(mcp.MethodToolsCall) && r.Params.Name == "job":
	case r.Method == string(mcp.MethodTasksGet) || r.Method == string(mcp.MethodTasksCancel):
	default:
		return false
	}
	if !r.declared() {
		_, _ = out.Write(rpcError(r.ID, -32021, "Missing required client capability",
			map[string]any{"requiredCapabilities": map[string]any{"extensions": map[string]any{tasksExtension: map[string]any{}}}}))
		return true
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if r.Method == string(mcp.MethodToolsCall) {
		var b [16]byte
		_, _ = rand.Read(b[:])
		t := &extTask{ID: hex.EncodeToString(b[:]), Status: "working", StatusMessage: "working on it", CreatedAt: now(),
			TTLMs: 60000, PollIntervalM: 100, stop: make(chan struct{})}
		t.LastUpdatedAt = t.CreatedAt
		x.tasks[t.ID] = t
		ms, fail, text := int64(1500), r.Params.Arguments.Fail, r.Params.Arguments.Text
		if r.Params.Arguments.MS != nil {
			ms = *r.Params.Arguments.MS
		}
		go x.run(t, time.Duration(ms)*time.Millisecond, fail, text)
		created := *t
		_, _ = out.Write(rpcResult(r.ID, struct {
			ResultType string `json:"resultType"`
			extTask
		}{"task", created}))
		return true
	}
	t := x.tasks[r.Params.TaskID]
	if t == nil {
		_, _ = out.Write(rpcError(r.ID, mcp.INVALID_PARAMS, "Failed to retrieve task: Task not found", nil))
		return true
	}
	if r.Method == string(mcp.MethodTasksCancel) {
		if t.Status == "working" {
			t.Status, t.StatusMessage, t.LastUpdatedAt = "cancelled", "cancelled by the client", now()
			close(t.stop)
		}
		_, _ = out.Write(rpcResult(r.ID, map[string]string{"resultType": "complete"}))
		return true
	}
	_, _ = out.Write(rpcResult(r.ID, struct {
		ResultType string `json:"resultType"`
		extTask
	}{"complete", *t}))
	return true
}

func (x *extTasks) run(t *extTask, d time.Duration, fail bool, text string) {
	select {
	case <-t.stop:
		return
	case <-time.After(d):
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if t.Status != "working" {
		return
	}
	t.LastUpdatedAt = now()
	if fail {
		t.Status, t.StatusMessage = "failed", "job failed on purpose"
		t.Error, _ = json.Marshal(map[string]any{"code": mcp.INTERNAL_ERROR, "message": "job failed on purpose"})
		return
	}
	t.Status, t.StatusMessage = "completed", "done"
	t.Result, _ = json.Marshal(mcp.NewToolResultText("job done: " + text))
}

// discoverPatcher adds the extension to the capabilities of server/discover answers.
type discoverPatcher struct {
	w   io.Writer
	mu  sync.Mutex
	ids map[string]bool
}

func (d *discoverPatcher) expect(id json.RawMessage) {
	d.mu.Lock()
	d.ids[string(id)] = true
	d.mu.Unlock()
}

func (d *discoverPatcher) Write(b []byte) (int, error) {
	var m struct {
		ID     json.RawMessage            `json:"id"`
		Result map[string]json.RawMessage `json:"result"`
	}
	if json.Unmarshal(b, &m) == nil && m.Result != nil {
		d.mu.Lock()
		ok := d.ids[string(m.ID)]
		delete(d.ids, string(m.ID))
		d.mu.Unlock()
		if ok {
			var caps map[string]json.RawMessage
			if json.Unmarshal(m.Result["capabilities"], &caps) == nil && caps != nil {
				var ext map[string]json.RawMessage
				_ = json.Unmarshal(caps["extensions"], &ext)
				if ext == nil {
					ext = map[string]json.RawMessage{}
				}
				ext[tasksExtension] = json.RawMessage("{}")
				caps["extensions"], _ = json.Marshal(ext)
				m.Result["capabilities"], _ = json.Marshal(caps)
				nb, err := json.Marshal(map[string]any{"jsonrpc": mcp.JSONRPC_VERSION, "id": m.ID, "result": m.Result})
				if err == nil {
					if _, err := d.w.Write(append(nb, '\n')); err != nil {
						return 0, err
					}
					return len(b), nil
				}
			}
		}
	}
	return d.w.Write(b)
}

// serveTasksExt serves stdio with the Tasks extension in front of mcp-go.
func serveTasksExt(ctx context.Context, ts *testServer, stdin io.Reader, stdout, stderr io.Writer) error {
	addJobTool(ts.mcp)
	out := &lockedWriter{w: stdout}
	patch := &discoverPatcher{w: out, ids: map[string]bool{}}
	x := &extTasks{tasks: map[string]*extTask{}}
	inr, inw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			line := append(bytes.TrimSpace(sc.Bytes()), '\n')
			var r extRequest
			if json.Unmarshal(line, &r) == nil && r.Method != "" && len(r.ID) > 0 {
				if r.Method == string(mcp.MethodServerDiscover) {
					patch.expect(r.ID)
				} else if x.answer(r, out) {
					continue
				}
			}
			if _, err := inw.Write(line); err != nil {
				return
			}
		}
		_ = inw.Close()
	}()
	ss := server.NewStdioServer(ts.mcp)
	ss.SetErrorLogger(log.New(stderr, "mcptestserver: ", log.LstdFlags))
	err := ss.Listen(ctx, inr, patch)
	if err == nil || err == context.Canceled || err == io.EOF {
		return nil
	}
	return err
}
