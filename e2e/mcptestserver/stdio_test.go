package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

func TestStdio_Tools(t *testing.T) {
	c, _ := startStdio(t, []string{"MCPTEST_TOKEN=s3cret", "OTHER_VAR=x"})

	t.Run("list names every tool", func(t *testing.T) {
		res, err := c.ListTools(testCtx(t), mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
		}
		sort.Strings(names)
		want := "add big count crash echo notify roots sleep stderr whoami"
		if got := strings.Join(names, " "); got != want {
			t.Errorf("tools = %q, want %q", got, want)
		}
	})
	t.Run("echo returns its text", func(t *testing.T) {
		if got := resultText(callTool(t, c, "echo", map[string]any{"text": "héllo\nworld"})); got != "héllo\nworld" {
			t.Errorf("echo = %q", got)
		}
	})
	t.Run("add returns the sum as text and structured content", func(t *testing.T) {
		res := callTool(t, c, "add", map[string]any{"a": 2, "b": 0.5})
		if got := resultText(res); got != "2.5" {
			t.Errorf("add(2, 0.5) text = %q, want 2.5", got)
		}
		b, _ := json.Marshal(res.StructuredContent)
		if string(b) != `{"sum":2.5}` {
			t.Errorf("add(2, 0.5) structured = %s, want {\"sum\":2.5}", b)
		}
	})
	t.Run("sleep returns slept N", func(t *testing.T) {
		if got := resultText(callTool(t, c, "sleep", map[string]any{"ms": 20})); got != "slept 20" {
			t.Errorf("sleep = %q", got)
		}
	})
	t.Run("big returns exactly that many bytes", func(t *testing.T) {
		for _, n := range []int{0, 1, 100000} {
			if got := len(resultText(callTool(t, c, "big", map[string]any{"bytes": n}))); got != n {
				t.Errorf("big(%d) length = %d", n, got)
			}
		}
	})
	t.Run("count counts per key", func(t *testing.T) {
		for i, tc := range []struct {
			args map[string]any
			want string
		}{
			{map[string]any{}, "1"},
			{map[string]any{}, "2"},
			{map[string]any{"key": "a"}, "1"},
			{map[string]any{}, "3"},
			{map[string]any{"key": "a"}, "2"},
		} {
			if got := resultText(callTool(t, c, "count", tc.args)); got != tc.want {
				t.Errorf("call %d count(%v) = %s, want %s", i, tc.args, got, tc.want)
			}
		}
	})
	t.Run("whoami hashes MCPTEST_ env values", func(t *testing.T) {
		var got whoamiResult
		if err := json.Unmarshal([]byte(resultText(callTool(t, c, "whoami", nil))), &got); err != nil {
			t.Fatal(err)
		}
		want := whoamiResult{Transport: "stdio", Env: map[string]string{"MCPTEST_TOKEN": sha256Hex("s3cret")}}
		if got.Transport != want.Transport || len(got.Env) != 1 || got.Env["MCPTEST_TOKEN"] != want.Env["MCPTEST_TOKEN"] {
			t.Errorf("whoami = %+v, want %+v", got, want)
		}
	})
}

func TestStdio_NotifySendsAllKindsAndResourceUpdates(t *testing.T) {
	c, got := startStdio(t, nil)
	ctx := testCtx(t)
	sub := mcp.SubscribeRequest{}
	sub.Params.URI = counterURI
	if err := c.Subscribe(ctx, sub); err != nil {
		t.Fatalf("subscribe: %v", err)
	}

	req := mcp.CallToolRequest{}
	req.Params.Name = "notify"
	req.Params.Arguments = map[string]any{"n": 3}
	req.Params.Meta = &mcp.Meta{ProgressToken: "tok-1"}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if text := resultText(res); text != "sent 3" {
		t.Errorf("notify(3) = %q, want sent 3", text)
	}

	msgs := got.waitCount(t, string(mcp.MethodNotificationMessage), 3)
	if lvl := msgs[0].Params.AdditionalFields["level"]; lvl != "info" {
		t.Errorf("message level = %v, want info", lvl)
	}
	for i, p := range got.waitCount(t, string(mcp.MethodNotificationProgress), 3) {
		f := p.Params.AdditionalFields
		if f["progressToken"] != "tok-1" || f["progress"] != float64(i+1) || f["total"] != float64(3) {
			t.Errorf("progress %d = %v, want token tok-1 progress %d total 3", i, f, i+1)
		}
	}
	for _, u := range got.waitCount(t, string(mcp.MethodNotificationResourceUpdated), 3) {
		if u.Params.AdditionalFields["uri"] != counterURI {
			t.Errorf("resources/updated uri = %v, want %s", u.Params.AdditionalFields["uri"], counterURI)
		}
	}
	got.waitCount(t, string(mcp.MethodNotificationToolsListChanged), 3)

	rr := mcp.ReadResourceRequest{}
	rr.Params.URI = counterURI
	read, err := c.ReadResource(ctx, rr)
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := read.Contents[0].(mcp.TextResourceContents); !ok || tc.Text != "3" {
		t.Errorf("read %s = %#v, want text 3", counterURI, read.Contents[0])
	}

	t.Run("unsubscribed session gets no resources/updated", func(t *testing.T) {
		uns := mcp.UnsubscribeRequest{}
		uns.Params.URI = counterURI
		if err := c.Unsubscribe(ctx, uns); err != nil {
			t.Fatal(err)
		}
		callTool(t, c, "notify", map[string]any{"n": 1})
		got.waitCount(t, string(mcp.MethodNotificationToolsListChanged), 4)
		if n := len(got.byMethod(string(mcp.MethodNotificationResourceUpdated))); n != 3 {
			t.Errorf("resources/updated after unsubscribe: %d in all, want still 3", n)
		}
	})
}

func TestStdio_SetLevelErrorSilencesInfo(t *testing.T) {
	c, got := startStdio(t, nil)
	req := mcp.SetLevelRequest{}
	req.Params.Level = mcp.LoggingLevelError
	if err := c.SetLevel(testCtx(t), req); err != nil {
		t.Fatalf("setLevel: %v", err)
	}
	callTool(t, c, "notify", map[string]any{"n": 2})
	// Notifications are written in order, so once the last list_changed is
	// here any info message would have arrived before it.
	got.waitCount(t, string(mcp.MethodNotificationToolsListChanged), 2)
	if n := len(got.byMethod(string(mcp.MethodNotificationMessage))); n != 0 {
		t.Errorf("after setLevel error: %d info messages, want 0", n)
	}

	req.Params.Level = mcp.LoggingLevelDebug
	if err := c.SetLevel(testCtx(t), req); err != nil {
		t.Fatal(err)
	}
	callTool(t, c, "notify", map[string]any{"n": 1})
	got.waitCount(t, string(mcp.MethodNotificationMessage), 1)
}

func TestStdio_PromptsResourcesAndCompletion(t *testing.T) {
	c, _ := startStdio(t, nil)
	ctx := testCtx(t)

	t.Run("prompts/get greet", func(t *testing.T) {
		req := mcp.GetPromptRequest{}
		req.Params.Name = "greet"
		req.Params.Arguments = map[string]string{"name": "Ada", "style": "formal"}
		res, err := c.GetPrompt(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		tc, ok := res.Messages[0].Content.(mcp.TextContent)
		if !ok || !strings.Contains(tc.Text, "Ada") || !strings.Contains(tc.Text, "formal") {
			t.Errorf("greet(Ada, formal) = %#v", res.Messages)
		}
		req.Params.Arguments = map[string]string{"style": "formal"}
		if _, err := c.GetPrompt(ctx, req); err == nil {
			t.Error("greet without name: no error")
		}
	})

	t.Run("completion/complete", func(t *testing.T) {
		for _, tc := range []struct {
			ref        any
			arg, value string
			want       string
		}{
			{mcp.PromptReference{Type: "ref/prompt", Name: "greet"}, "style", "", "formal friendly funny"},
			{mcp.PromptReference{Type: "ref/prompt", Name: "greet"}, "style", "f", "formal friendly funny"},
			{mcp.PromptReference{Type: "ref/prompt", Name: "greet"}, "style", "fr", "friendly"},
			{mcp.PromptReference{Type: "ref/prompt", Name: "greet"}, "style", "Fu", "funny"},
			{mcp.PromptReference{Type: "ref/prompt", Name: "greet"}, "style", "x", ""},
			{mcp.PromptReference{Type: "ref/prompt", Name: "greet"}, "name", "a", "Ada Alan"},
			{mcp.ResourceReference{Type: "ref/resource", URI: itemsTemplate}, "id", "4", "42"},
		} {
			req := mcp.CompleteRequest{}
			req.Params.Ref = tc.ref
			req.Params.Argument.Name = tc.arg
			req.Params.Argument.Value = tc.value
			res, err := c.Complete(ctx, req)
			if err != nil {
				t.Fatalf("complete %s=%q: %v", tc.arg, tc.value, err)
			}
			if got := strings.Join(res.Completion.Values, " "); got != tc.want {
				t.Errorf("complete %s=%q = %q, want %q", tc.arg, tc.value, got, tc.want)
			}
		}
	})

	t.Run("resource template test://items/{id}", func(t *testing.T) {
		tl, err := c.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(tl.ResourceTemplates) != 1 || tl.ResourceTemplates[0].URITemplate.Raw() != itemsTemplate {
			t.Errorf("templates = %+v, want one %s", tl.ResourceTemplates, itemsTemplate)
		}
		req := mcp.ReadResourceRequest{}
		req.Params.URI = "test://items/7"
		res, err := c.ReadResource(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if tc, ok := res.Contents[0].(mcp.TextResourceContents); !ok || tc.Text != "item 7" {
			t.Errorf("read test://items/7 = %#v", res.Contents)
		}
	})
}

func TestCallsLog_CountsAcrossRestarts(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "calls.jsonl")

	c1, _ := startStdio(t, nil, "--calls-log", logPath)
	for _, want := range []string{"1", "2"} {
		if got := resultText(callTool(t, c1, "count", map[string]any{"key": "k"})); got != want {
			t.Errorf("first server: count = %s, want %s", got, want)
		}
	}
	callTool(t, c1, "echo", map[string]any{"text": "x"})
	c1.Close()

	// The second server finds the log through the environment.
	c2, _ := startStdio(t, []string{callsLogEnv + "=" + logPath})
	if got := resultText(callTool(t, c2, "count", map[string]any{"key": "k"})); got != "3" {
		t.Errorf("after restart: count = %s, want 3", got)
	}
	if got := resultText(callTool(t, c2, "count", map[string]any{"key": "other"})); got != "1" {
		t.Errorf("after restart: count(other) = %s, want 1", got)
	}

	recs := readCalls(t, logPath)
	var tools []string
	pids := map[int]bool{}
	for _, r := range recs {
		tools = append(tools, r.Tool)
		pids[r.PID] = true
		if r.RequestID == nil || r.Time.IsZero() {
			t.Errorf("record %+v lacks request_id or time", r)
		}
	}
	if got, want := strings.Join(tools, " "), "count count echo count count"; got != want {
		t.Errorf("logged tools = %q, want %q", got, want)
	}
	if len(pids) != 2 {
		t.Errorf("logged pids = %v, want 2 distinct", pids)
	}
	if recs[2].Args["text"] != "x" {
		t.Errorf("echo record args = %v, want text x", recs[2].Args)
	}
}

// TestStdio_CrashExitsWithCode speaks raw JSON-RPC to the binary so the test
// owns the process and can read its exit status.
func TestStdio_CrashExitsWithCode(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "calls.jsonl")
	cmd := exec.Command(binPath, "--calls-log", logPath)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	out := bufio.NewScanner(stdout)
	send := func(msg string) { fmt.Fprintln(stdin, msg) }

	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`)
	if !out.Scan() || !strings.Contains(out.Text(), `"id":1`) {
		t.Fatalf("initialize reply = %q", out.Text())
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"crash","arguments":{"code":7}}}`)

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not exit after crash(7)")
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Fatalf("exit after crash(7): %v, want exit status 7", err)
	}
	if out.Scan() {
		t.Errorf("stdout after crash: %q, want nothing", out.Text())
	}
	recs := readCalls(t, logPath)
	if len(recs) != 1 || recs[0].Tool != "crash" || recs[0].RequestID != float64(2) {
		t.Errorf("calls log = %+v, want one crash record with request_id 2", recs)
	}
}

func TestGarbage_PrintsNonJSONAndExits1(t *testing.T) {
	out, err := exec.Command(binPath, "--garbage").Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("--garbage: %v, want exit status 1", err)
	}
	if len(out) == 0 || json.Valid(out) {
		t.Errorf("--garbage stdout = %q, want non-JSON junk", out)
	}
}

func TestStderrLines_StdoutStaysClean(t *testing.T) {
	cmd := exec.Command(binPath, "--stderr-lines", "3")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// stdin is empty: the server sees EOF and exits.
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v (stderr %q)", err, stderr.String())
	}
	if n := strings.Count(stderr.String(), "\n"); n != 3 {
		t.Errorf("stderr has %d lines, want 3: %q", n, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want empty", stdout.String())
	}
}

func TestSleep_HonorsCancellation(t *testing.T) {
	calls, _ := openCallLog("")
	ts := newTestServer(defaultName, false, pagingOptions{}, calls, func(int) { t.Fatal("exit called") })
	tool := ts.mcp.GetTool("sleep")
	ctx, cancel := context.WithCancel(context.Background())
	req := mcp.CallToolRequest{}
	req.Params.Name = "sleep"
	req.Params.Arguments = map[string]any{"ms": 60000}
	done := make(chan error, 1)
	go func() {
		_, err := tool.Handler(ctx, req)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("sleep after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sleep(60000) ignored cancellation")
	}
}

func TestOptions_Rejected(t *testing.T) {
	for _, args := range [][]string{
		{"--http", "0.0.0.0:0"},
		{"--http", "192.0.2.1:80"},
		{"--sse", "example.com:80"},
		{"--expire-mode", "500"},
		{"--require-header", "novalue"},
		{"--http", "127.0.0.1:0", "--sse", "127.0.0.1:0"},
		{"stray"},
	} {
		err := exec.Command(binPath, args...).Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitUsage {
			t.Errorf("%v: %v, want exit status %d", args, err, exitUsage)
		}
	}
}

func TestStdio_ProtocolNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"default offers only handshake versions", nil, mcp.LATEST_LEGACY_PROTOCOL_VERSION},
		{"--modern offers 2026-07-28", []string{"--modern"}, mcp.ProtocolVersion20260728},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An unpinned client tries server/discover first.
			c, err := client.NewStdioMCPClient(binPath, nil, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			req := mcp.InitializeRequest{}
			req.Params.ClientInfo = mcp.Implementation{Name: "unpinned", Version: "0"}
			res, err := c.Initialize(testCtx(t), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.ProtocolVersion != tc.want {
				t.Errorf("negotiated %q, want %q", res.ProtocolVersion, tc.want)
			}
			if text := resultText(callTool(t, c, "echo", map[string]any{"text": "hi"})); text != "hi" {
				t.Errorf("echo = %q", text)
			}
		})
	}
}

// Two server processes sharing one calls log hand out each count exactly once.
func TestCallsLog_CountIsExactAcrossConcurrentProcesses(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "calls.jsonl")
	const perServer = 10
	var mu sync.Mutex
	var got []int
	var wg sync.WaitGroup
	for range 2 {
		c, _ := startStdio(t, nil, "--calls-log", logPath)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perServer {
				res, err := callToolErr(context.Background(), c, "count", map[string]any{"key": "shared"})
				if err != nil {
					t.Error(err)
					return
				}
				n, err := strconv.Atoi(resultText(res))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Ints(got)
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("counts = %v, want 1..%d each once", got, 2*perServer)
		}
	}
	if recs := readCalls(t, logPath); len(recs) != 2*perServer {
		t.Errorf("calls log has %d records, want %d", len(recs), 2*perServer)
	}
}
