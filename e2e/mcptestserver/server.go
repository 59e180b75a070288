package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Names of what the server offers.
const (
	counterURI       = "test://counter"
	itemsTemplate    = "test://items/{id}"
	itemsPrefix      = "test://items/"
	loggerName       = "mcptestserver"
	maxBigBytes      = 256 << 20
	requestIDMetaKey = "mcptestserver/requestId"
)

var (
	greetStyles = []string{"formal", "friendly", "funny"}
	greetNames  = []string{"Ada", "Alan", "Barbara", "Grace", "Linus"}
	itemIDs     = []string{"1", "2", "3", "42"}
)

// testServer is the MCP server and the state its tools share.
type testServer struct {
	mcp   *server.MCPServer
	calls *callLog
	exit  func(int)
	// stderr is the server's stderr (nil: discarded): the sleep tool says there that it was
	// cancelled, and the stderr tool floods it.
	stderr io.Writer

	counterMu sync.Mutex
	counter   int

	subsMu sync.Mutex
	subs   map[string]map[string]bool // session id → subscribed URIs

	// progressOut counts the progress notifications written on stdout (stdio only; steps.go).
	progressOut *progressLines
}

// newTestServer builds the server; paging says how it pages its lists. Unless modern, it answers server/discover
// with an error, as servers that predate protocol 2026-07-28 do, so clients
// fall back to the initialize handshake (sessions, logging/setLevel and
// resources/subscribe then work as with most servers in the wild).
func newTestServer(name string, modern bool, paging pagingOptions, calls *callLog, exit func(int)) *testServer {
	ts := &testServer{calls: calls, exit: exit, subs: make(map[string]map[string]bool)}

	hooks := &server.Hooks{}
	if !modern {
		hooks.AddOnRequestInitialization(func(_ context.Context, _ any, message any) error {
			var m struct {
				Method mcp.MCPMethod `json:"method"`
			}
			if raw, ok := message.(json.RawMessage); ok && json.Unmarshal(raw, &m) == nil &&
				(m.Method == mcp.MethodServerDiscover || m.Method == mcp.MethodSubscriptionsListen) {
				return fmt.Errorf("method %s not supported: this server speaks protocol %s and earlier", m.Method, mcp.LATEST_LEGACY_PROTOCOL_VERSION)
			}
			return nil
		})
	}
	// The JSON-RPC id is not visible to tool handlers; the hook sees it and the
	// request it is about to hand to the handler, so it leaves it in _meta for
	// the recording middleware.
	hooks.AddBeforeCallTool(func(_ context.Context, id any, req *mcp.CallToolRequest) {
		if req.Params.Meta == nil {
			req.Params.Meta = &mcp.Meta{}
		}
		if req.Params.Meta.AdditionalFields == nil {
			req.Params.Meta.AdditionalFields = map[string]any{}
		}
		req.Params.Meta.AdditionalFields[requestIDMetaKey] = id
	})
	// mcp-go starts sessions at level "error"; this server chooses "info"
	// until the client says otherwise with logging/setLevel.
	hooks.AddAfterInitialize(func(ctx context.Context, _ any, _ *mcp.InitializeRequest, _ *mcp.InitializeResult) {
		if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithLogging); ok {
			s.SetLogLevel(mcp.LoggingLevelInfo)
		}
	})
	hooks.AddAfterSubscribe(func(ctx context.Context, _ any, req *mcp.SubscribeRequest, _ *mcp.EmptyResult) {
		if s := server.ClientSessionFromContext(ctx); s != nil {
			ts.setSubscribed(s.SessionID(), req.Params.URI, true)
		}
	})
	hooks.AddAfterUnsubscribe(func(ctx context.Context, _ any, req *mcp.UnsubscribeRequest, _ *mcp.EmptyResult) {
		if s := server.ClientSessionFromContext(ctx); s != nil {
			ts.setSubscribed(s.SessionID(), req.Params.URI, false)
		}
	})
	hooks.AddOnUnregisterSession(func(_ context.Context, s server.ClientSession) {
		ts.subsMu.Lock()
		delete(ts.subs, s.SessionID())
		ts.subsMu.Unlock()
	})

	paging.addHooks(hooks)
	opts := append([]server.ServerOption{
		server.WithHooks(hooks),
		server.WithToolCapabilities(true),
		server.WithResourceCapabilities(true, false),
		server.WithPromptCapabilities(false),
		server.WithLogging(),
		server.WithCompletions(),
		server.WithPromptCompletionProvider(completer{}),
		server.WithResourceCompletionProvider(completer{}),
		server.WithToolHandlerMiddleware(ts.recordCalls),
		server.WithRecovery(),
	}, paging.serverOptions()...)
	ts.mcp = server.NewMCPServer(name, serverVersion, opts...)
	ts.addTools()
	ts.addResources()
	ts.addPrompts()
	ts.addPaged(paging)
	return ts
}

func (ts *testServer) setSubscribed(session, uri string, on bool) {
	ts.subsMu.Lock()
	defer ts.subsMu.Unlock()
	if on {
		if ts.subs[session] == nil {
			ts.subs[session] = make(map[string]bool)
		}
		ts.subs[session][uri] = true
		return
	}
	delete(ts.subs[session], uri)
}

func (ts *testServer) subscribers(uri string) []string {
	ts.subsMu.Lock()
	defer ts.subsMu.Unlock()
	var out []string
	for session, uris := range ts.subs {
		if uris[uri] {
			out = append(out, session)
		}
	}
	sort.Strings(out)
	return out
}

// seqKeyCtx carries the call's sequence number (see callLog.Record) to the
// count tool.
type seqKeyCtx struct{}

// recordCalls writes every tool call to the calls log before running it, so a
// call that crashes the process or is cancelled is still recorded.
func (ts *testServer) recordCalls(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var id any
		if req.Params.Meta != nil {
			id = req.Params.Meta.AdditionalFields[requestIDMetaKey]
		}
		args := req.GetArguments()
		key, _ := args["key"].(string)
		n, err := ts.calls.Record(callRecord{
			Tool:      req.Params.Name,
			Args:      args,
			PID:       os.Getpid(),
			Time:      time.Now().UTC(),
			RequestID: id,
		}, key, req.Params.Name == "count")
		if err != nil {
			return nil, err
		}
		return next(context.WithValue(ctx, seqKeyCtx{}, n), req)
	}
}

func (ts *testServer) addTools() {
	s := ts.mcp
	s.AddTool(mcp.NewTool("echo",
		mcp.WithDescription("Returns text unchanged."),
		mcp.WithString("text", mcp.Required()),
	), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		text, err := req.RequireString("text")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		return mcp.NewToolResultText(text), nil
	})

	s.AddTool(mcp.NewTool("add",
		mcp.WithDescription("Returns a+b, as text and as structured content {\"sum\": n}."),
		mcp.WithNumber("a", mcp.Required()),
		mcp.WithNumber("b", mcp.Required()),
		mcp.WithOutputSchema[sumResult](),
	), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		a, err := req.RequireFloat("a")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		b, err := req.RequireFloat("b")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		sum := a + b
		return mcp.NewToolResultStructured(sumResult{Sum: sum}, strconv.FormatFloat(sum, 'f', -1, 64)), nil
	})

	s.AddTool(mcp.NewTool("sleep",
		mcp.WithDescription("Sleeps ms milliseconds unless cancelled; returns \"slept N\"."),
		mcp.WithInteger("ms", mcp.Required()),
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ms, err := req.RequireInt("ms")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			return mcp.NewToolResultText(fmt.Sprintf("slept %d", ms)), nil
		case <-ctx.Done():
			fmt.Fprintf(ts.stderrOrDiscard(), "mcptestserver: sleep cancelled: %v\n", context.Cause(ctx))
			return nil, fmt.Errorf("sleep cancelled: %w", context.Cause(ctx))
		}
	})

	s.AddTool(mcp.NewTool("stderr",
		mcp.WithDescription("Writes bytes bytes of numbered lines to the server's stderr; returns \"wrote N\"."),
		mcp.WithInteger("bytes", mcp.Required()),
	), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		n, err := req.RequireInt("bytes")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		w := bufio.NewWriterSize(ts.stderrOrDiscard(), 64<<10)
		written := 0
		for i := 1; written < n; i++ {
			line := fmt.Sprintf("mcptestserver stderr flood line %d %s\n", i, strings.Repeat("x", 60))
			if written+len(line) > n {
				line = line[:n-written-1] + "\n"
			}
			k, _ := io.WriteString(w, line)
			written += k
		}
		if err := w.Flush(); err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		return mcp.NewToolResultText(fmt.Sprintf("wrote %d", written)), nil
	})

	s.AddTool(mcp.NewTool("crash",
		mcp.WithDescription("Ends the server process at once with the given exit code."),
		mcp.WithInteger("code", mcp.Required()),
	), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		code := req.GetInt("code", 1)
		ts.exit(code)
		return mcp.NewToolResultError("crash: exit returned"), nil
	})

	s.AddTool(mcp.NewTool("count",
		mcp.WithDescription("Returns how many times count was called with this key (across restarts when --calls-log is set)."),
		mcp.WithString("key"),
	), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		n, _ := ctx.Value(seqKeyCtx{}).(int)
		return mcp.NewToolResultText(strconv.Itoa(n)), nil
	})

	s.AddTool(mcp.NewTool("notify",
		mcp.WithDescription("Sends n rounds of notifications: message, progress, resources/updated, tools/list_changed."),
		mcp.WithInteger("n", mcp.Required()),
	), ts.notify)

	s.AddTool(mcp.NewTool("whoami",
		mcp.WithDescription("Returns the HTTP request headers (stdio: MCPTEST_* env vars); Authorization and X-Secret* values as sha256 hex."),
	), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		b, err := json.Marshal(whoami(req.Header, os.Environ()))
		if err != nil {
			return nil, err
		}
		return mcp.NewToolResultText(string(b)), nil
	})

	s.AddTool(mcp.NewTool("roots",
		mcp.WithDescription("Asks the client for its roots (roots/list) and returns their URIs, one per line."),
	), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := s.RequestRoots(ctx, mcp.ListRootsRequest{})
		if err != nil {
			return mcp.NewToolResultError("roots/list: " + err.Error()), nil
		}
		var uris []string
		for _, r := range res.Roots {
			uris = append(uris, r.URI)
		}
		return mcp.NewToolResultText(strings.Join(uris, "\n")), nil
	})
	// A client telling the server its roots changed is recorded in the calls log like a
	// tool call, so a test can count the notifications.
	s.AddNotificationHandler(string(mcp.MethodNotificationRootsListChanged), func(context.Context, mcp.JSONRPCNotification) {
		_, _ = ts.calls.Record(callRecord{Tool: string(mcp.MethodNotificationRootsListChanged), PID: os.Getpid(), Time: time.Now().UTC()}, "", false)
	})

	s.AddTool(mcp.NewTool("big",
		mcp.WithDescription("Returns a text result of exactly bytes bytes."),
		mcp.WithInteger("bytes", mcp.Required()),
	), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		n, err := req.RequireInt("bytes")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		if n < 0 || n > maxBigBytes {
			return mcp.NewToolResultError(fmt.Sprintf("bytes must be in [0, %d]", maxBigBytes)), nil
		}
		return mcp.NewToolResultText(strings.Repeat("x", n)), nil
	})
}

type sumResult struct {
	Sum float64 `json:"sum"`
}

// notify sends n rounds of four notifications to the calling session (and
// resources/updated to every session subscribed to the counter).
func (ts *testServer) notify(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	n, err := req.RequireInt("n")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	var token mcp.ProgressToken
	if req.Params.Meta != nil {
		token = req.Params.Meta.ProgressToken
	}
	for i := 1; i <= n; i++ {
		msg := mcp.NewLoggingMessageNotification(mcp.LoggingLevelInfo, loggerName, fmt.Sprintf("notify %d/%d", i, n))
		if err := retryBlocked(ctx, func() error { return ts.mcp.SendLogMessageToClient(ctx, msg) }); err != nil {
			return nil, fmt.Errorf("send log message: %w", err)
		}
		if token != nil {
			params := map[string]any{"progressToken": token, "progress": i, "total": n, "message": fmt.Sprintf("notify %d/%d", i, n)}
			if err := retryBlocked(ctx, func() error {
				return ts.mcp.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), params)
			}); err != nil {
				return nil, fmt.Errorf("send progress: %w", err)
			}
		}
		ts.counterMu.Lock()
		ts.counter++
		ts.counterMu.Unlock()
		for _, session := range ts.subscribers(counterURI) {
			params := map[string]any{"uri": counterURI}
			err := retryBlocked(ctx, func() error {
				return ts.mcp.SendNotificationToSpecificClient(session, string(mcp.MethodNotificationResourceUpdated), params)
			})
			if err != nil && !errors.Is(err, server.ErrSessionNotFound) {
				return nil, fmt.Errorf("send resources/updated: %w", err)
			}
		}
		if err := retryBlocked(ctx, func() error {
			return ts.mcp.SendNotificationToClient(ctx, string(mcp.MethodNotificationToolsListChanged), nil)
		}); err != nil {
			return nil, fmt.Errorf("send tools/list_changed: %w", err)
		}
	}
	// On stdio, notifications are written by another goroutine than the
	// response; let the queue drain so progress does not trail the result.
	if session := server.ClientSessionFromContext(ctx); session != nil {
		for len(session.NotificationChannel()) > 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
	}
	return mcp.NewToolResultText(fmt.Sprintf("sent %d", n)), nil
}

// retryBlocked retries send while the session's notification queue is full,
// so notify(n) with a large n delivers everything instead of dropping.
func retryBlocked(ctx context.Context, send func() error) error {
	for {
		err := send()
		if !errors.Is(err, server.ErrNotificationChannelBlocked) {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(time.Millisecond):
		}
	}
}

// whoamiResult is what the whoami tool returns, as JSON.
type whoamiResult struct {
	Transport string            `json:"transport"`
	Headers   map[string]string `json:"headers,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// whoami describes the caller: the HTTP headers when there are any (mcp-go
// hands stdio handlers an empty header), otherwise the MCPTEST_* environment
// variables (all env values hashed).
func whoami(h http.Header, environ []string) whoamiResult {
	if len(h) > 0 {
		out := whoamiResult{Transport: "http", Headers: make(map[string]string, len(h))}
		for name, values := range h {
			v := strings.Join(values, ", ")
			if isSecretHeader(name) {
				v = sha256Hex(v)
			}
			out.Headers[http.CanonicalHeaderKey(name)] = v
		}
		return out
	}
	out := whoamiResult{Transport: "stdio", Env: map[string]string{}}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "MCPTEST_") {
			out.Env[name] = sha256Hex(value)
		}
	}
	return out
}

func isSecretHeader(name string) bool {
	n := strings.ToLower(name)
	return n == "authorization" || strings.HasPrefix(n, "x-secret")
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (ts *testServer) addResources() {
	ts.mcp.AddResource(mcp.NewResource(counterURI, "counter",
		mcp.WithResourceDescription("How many resources/updated rounds notify has sent; subscribe to hear changes."),
		mcp.WithMIMEType("text/plain"),
	), func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		ts.counterMu.Lock()
		n := ts.counter
		ts.counterMu.Unlock()
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: counterURI, MIMEType: "text/plain", Text: strconv.Itoa(n)}}, nil
	})
	ts.mcp.AddResourceTemplate(mcp.NewResourceTemplate(itemsTemplate, "item",
		mcp.WithTemplateDescription("Item id, as text."),
		mcp.WithTemplateMIMEType("text/plain"),
	), func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		id := strings.TrimPrefix(req.Params.URI, itemsPrefix)
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: "text/plain", Text: "item " + id}}, nil
	})
}

func (ts *testServer) addPrompts() {
	ts.mcp.AddPrompt(mcp.NewPrompt("greet",
		mcp.WithPromptDescription("Greets someone."),
		mcp.WithArgument("name", mcp.RequiredArgument(), mcp.ArgumentDescription("who to greet")),
		mcp.WithArgument("style", mcp.ArgumentDescription("formal, friendly or funny")),
	), func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		name := req.Params.Arguments["name"]
		if name == "" {
			return nil, errors.New("argument name is required")
		}
		style := req.Params.Arguments["style"]
		if style == "" {
			style = "friendly"
		}
		text := fmt.Sprintf("Please greet %s in a %s way.", name, style)
		return mcp.NewGetPromptResult("A greeting",
			[]mcp.PromptMessage{mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text))}), nil
	})
}

// completer answers completion/complete for the greet prompt's arguments and
// the items template's id.
type completer struct{}

func (completer) CompletePromptArgument(_ context.Context, prompt string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	if c, ok := completeMenu(arg, cc); ok && prompt == "order" {
		return c, nil
	}
	if prompt != "greet" {
		return &mcp.Completion{Values: []string{}}, nil
	}
	switch arg.Name {
	case "style":
		return completeFrom(greetStyles, arg.Value), nil
	case "name":
		return completeFrom(greetNames, arg.Value), nil
	}
	return &mcp.Completion{Values: []string{}}, nil
}

func (completer) CompleteResourceArgument(_ context.Context, uri string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	if c, ok := completeMenu(arg, cc); ok && uri == menuTemplate {
		return c, nil
	}
	if uri != itemsTemplate || arg.Name != "id" {
		return &mcp.Completion{Values: []string{}}, nil
	}
	return completeFrom(itemIDs, arg.Value), nil
}

// completeFrom returns the candidates that start with prefix, ignoring case.
func completeFrom(candidates []string, prefix string) *mcp.Completion {
	values := []string{}
	for _, c := range candidates {
		if strings.HasPrefix(strings.ToLower(c), strings.ToLower(prefix)) {
			values = append(values, c)
		}
	}
	return &mcp.Completion{Values: values, Total: len(values)}
}

func (ts *testServer) stderrOrDiscard() io.Writer {
	if ts.stderr == nil {
		return io.Discard
	}
	return ts.stderr
}
