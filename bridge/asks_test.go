package bridge

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcpctl/mcpctl/events"
)

// conformanceSchema is the requested schema of the conformance suite's
// elicitation-sep1034-client-defaults scenario.
const conformanceSchema = `{"type":"object","properties":{
	"name":{"type":"string","description":"User name","default":"John Doe"},
	"age":{"type":"integer","description":"User age","default":30},
	"score":{"type":"number","description":"User score","default":95.5},
	"status":{"type":"string","description":"User status","enum":["active","inactive","pending"],"default":"active"},
	"verified":{"type":"boolean","description":"Verification status","default":true}},"required":[]}`

func elicitParams(schema string) json.RawMessage {
	return json.RawMessage(`{"message":"m","requestedSchema":` + schema + `}`)
}

func TestAskPolicy_ElicitFormAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy AskPolicy
		schema string
		want   string // the result, as compact JSON
	}{
		{"defaults: every default of the conformance scenario (string, integer, number, enum, boolean)",
			AskPolicy{Elicit: events.ElicitDefaults}, conformanceSchema,
			`{"action":"accept","content":{"age":30,"name":"John Doe","score":95.5,"status":"active","verified":true}}`},
		{"defaults: titled single select (oneOf) and multi select (items enum, items anyOf)",
			AskPolicy{Elicit: events.ElicitDefaults}, `{"type":"object","properties":{
				"color":{"type":"string","oneOf":[{"const":"r","title":"Red"},{"const":"g","title":"Green"}],"default":"g"},
				"tags":{"type":"array","items":{"type":"string","enum":["a","b","c"]},"default":["a","c"]},
				"sizes":{"type":"array","items":{"anyOf":[{"const":"s","title":"S"},{"const":"m","title":"M"}]},"default":["m"]},
				"legacy":{"type":"string","enum":["x","y"],"enumNames":["X","Y"],"default":"y"}}}`,
			`{"action":"accept","content":{"color":"g","legacy":"y","sizes":["m"],"tags":["a","c"]}}`},
		{"defaults: an optional field without a default is left out",
			AskPolicy{Elicit: events.ElicitDefaults}, `{"type":"object","properties":{"a":{"type":"string","default":"x"},"b":{"type":"number"}}}`,
			`{"action":"accept","content":{"a":"x"}}`},
		{"defaults: a required field without a default declines",
			AskPolicy{Elicit: events.ElicitDefaults}, `{"type":"object","properties":{"a":{"type":"string","default":"x"},"b":{"type":"string"}},"required":["b"]}`,
			`{"action":"decline"}`},
		{"the zero policy declines", AskPolicy{}, conformanceSchema, `{"action":"decline"}`},
		{"decline declines", AskPolicy{Elicit: events.ElicitDecline}, conformanceSchema, `{"action":"decline"}`},
		{"cancel cancels", AskPolicy{Elicit: events.ElicitCancel}, conformanceSchema, `{"action":"cancel"}`},
		{"content accepts with the content given at connect",
			AskPolicy{Elicit: events.ElicitContent, ElicitContent: json.RawMessage(`{"name":"Ann"}`)}, conformanceSchema,
			`{"action":"accept","content":{"name":"Ann"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, rec, rerr := tc.policy.elicit(elicitParams(tc.schema))
			if rerr != nil {
				t.Fatalf("elicit: error %v, want %s", rerr, tc.want)
			}
			if got := compactJSON(t, res); got != compactJSON(t, json.RawMessage(tc.want)) {
				t.Errorf("elicit = %s, want %s", got, tc.want)
			}
			var action struct{ Action string }
			_ = json.Unmarshal(res, &action)
			if rec.Action != action.Action {
				t.Errorf("record action %q, want %q", rec.Action, action.Action)
			}
		})
	}
}

func TestAskPolicy_ElicitBadInputIsRefusedWithInvalidParams(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params string
		want   string // in the error message
	}{
		{"a nested object", `{"message":"m","requestedSchema":{"type":"object","properties":{"addr":{"type":"object","properties":{"x":{"type":"string"}}}}}}`, `property "addr": type "object" cannot be asked for`},
		{"an unknown type", `{"message":"m","requestedSchema":{"type":"object","properties":{"x":{"type":"file"}}}}`, `type "file" cannot be asked for`},
		{"a property without a type", `{"message":"m","requestedSchema":{"type":"object","properties":{"x":{}}}}`, `type (none)`},
		{"an array of free strings", `{"message":"m","requestedSchema":{"type":"object","properties":{"x":{"type":"array","items":{"type":"string"}}}}}`, "enum of strings"},
		{"a schema that is no object schema", `{"message":"m","requestedSchema":{"type":"string"}}`, "must be object"},
		{"no schema", `{"message":"m"}`, "requestedSchema: missing"},
		{"a default of the wrong type", `{"message":"m","requestedSchema":{"type":"object","properties":{"n":{"type":"integer","default":1.5}}}}`, "default: not an integer"},
		{"an enum default that is not a member", `{"message":"m","requestedSchema":{"type":"object","properties":{"s":{"type":"string","enum":["a"],"default":"b"}}}}`, "not one of the values"},
		{"a required name that is no property", `{"message":"m","requestedSchema":{"type":"object","properties":{},"required":["x"]}}`, `required "x" is not a property`},
		{"an unknown mode", `{"mode":"telepathy","message":"m"}`, `unknown mode "telepathy"`},
		{"a URL that is not https", `{"mode":"url","message":"m","elicitationId":"e","url":"http://example.com/x"}`, "only https"},
		{"a URL with credentials", `{"mode":"url","message":"m","elicitationId":"e","url":"https://user:pw@example.com/x"}`, "carries credentials"},
		{"a URL without an elicitationId", `{"mode":"url","message":"m","url":"https://example.com/x"}`, "needs url and elicitationId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []AskPolicy{{}, {Elicit: events.ElicitDefaults}} {
				res, rec, rerr := p.elicit(json.RawMessage(tc.params))
				if rerr == nil || rerr.Code != mcp.INVALID_PARAMS || !strings.Contains(rerr.Message, tc.want) {
					t.Errorf("policy %q: elicit = %s, %v; want -32602 containing %q", p.Elicit, res, rerr, tc.want)
				}
				if rec.Action != "" {
					t.Errorf("policy %q: record action %q for a refused request", p.Elicit, rec.Action)
				}
			}
		})
	}
}

func TestAskPolicy_ElicitURLModeIsNeverAccepted(t *testing.T) {
	params := json.RawMessage(`{"mode":"url","message":"m","elicitationId":"e1","url":"https://auth.example.com/connect?x=1"}`)
	for policy, want := range map[events.ElicitPolicy]string{
		"": "decline", events.ElicitDefaults: "decline", events.ElicitContent: "decline", events.ElicitCancel: "cancel",
	} {
		res, _, rerr := AskPolicy{Elicit: policy, ElicitContent: json.RawMessage(`{}`)}.elicit(params)
		if rerr != nil || compactJSON(t, res) != `{"action":"`+want+`"}` {
			t.Errorf("policy %q: URL elicitation = %s, %v; want %s", policy, res, rerr, want)
		}
	}
}

func TestAskPolicy_Roots(t *testing.T) {
	res, rec, rerr := AskPolicy{Roots: []string{"/srv/my docs", "/home/u/proj"}}.roots()
	if rerr != nil || rec.Action != AskAnswered {
		t.Fatalf("roots = %v, %+v", rerr, rec)
	}
	want := `{"roots":[{"name":"my docs","uri":"file:///srv/my%20docs"},{"name":"proj","uri":"file:///home/u/proj"}]}`
	if got := compactJSON(t, res); got != want {
		t.Errorf("roots = %s, want %s", got, want)
	}
	_, rec, rerr = AskPolicy{}.roots()
	if rerr == nil || rerr.Code != errAskDeclined || !strings.Contains(rerr.Message, "--root") || rec.Action != "decline" {
		t.Errorf("roots without --root = %v (%+v), want a declining error naming --root", rerr, rec)
	}
}

func TestAskPolicy_Sampling(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	params := json.RawMessage(`{"messages":[{"role":"user","content":{"type":"text","text":"hi"}}],"maxTokens":10}`)
	ctx := context.Background()

	t.Run("the request on stdin, the JSON on stdout is the result, stderr to the log", func(t *testing.T) {
		got := filepath.Join(dir, "stdin.json")
		cmd := script("ok.sh", `cat > '`+got+`'; echo "thinking" >&2; echo '{"role":"assistant","content":{"type":"text","text":"hello"},"model":"local"}'`)
		var stderr lockedBuffer
		res, rec, rerr := AskPolicy{SamplingCommand: cmd, Stderr: &stderr}.sample(ctx, params)
		if rerr != nil || rec.Action != AskAnswered {
			t.Fatalf("sample = %v, %+v", rerr, rec)
		}
		if !strings.Contains(string(res), `"hello"`) || !strings.Contains(string(res), `"model":"local"`) {
			t.Errorf("result = %s, want the command's JSON", res)
		}
		if b, _ := os.ReadFile(got); compactJSON(t, b) != compactJSON(t, params) {
			t.Errorf("stdin = %s, want the request params %s", b, params)
		}
		if !strings.Contains(stderr.String(), "thinking") {
			t.Errorf("stderr = %q, want the command's stderr", stderr.String())
		}
	})

	for _, tc := range []struct {
		name, body string
		timeout    time.Duration
		want       string
	}{
		{"a non-zero exit", "echo oops >&2; exit 3", 0, "the sampling command failed: exit status 3"},
		{"output that is not JSON", "echo 'I am a model'", 0, "did not print a JSON object"},
		{"a JSON result without content", `echo '{"model":"m"}'`, 0, "has no content"},
		{"a command that hangs", "sleep 30", 300 * time.Millisecond, "timed out after 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, _, rerr := AskPolicy{SamplingCommand: script(strings.ReplaceAll(tc.name, " ", "-")+".sh", tc.body),
				SamplingTimeout: tc.timeout}.sample(ctx, params)
			if rerr == nil || rerr.Code != mcp.INTERNAL_ERROR || !strings.Contains(rerr.Message, tc.want) {
				t.Errorf("sample = %v, want -32603 containing %q", rerr, tc.want)
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("sample took %s", time.Since(start))
			}
		})
	}

	t.Run("no command: declined naming --sampling-command", func(t *testing.T) {
		_, rec, rerr := AskPolicy{}.sample(ctx, params)
		if rerr == nil || rerr.Code != errAskDeclined || !strings.Contains(rerr.Message, "--sampling-command") || rec.Action != "decline" {
			t.Errorf("sample = %v (%+v)", rerr, rec)
		}
	})
}

func TestAskPolicy_Capabilities(t *testing.T) {
	for _, tc := range []struct {
		policy AskPolicy
		want   string
	}{
		{AskPolicy{}, `{"elicitation":{"form":{},"url":{}}}`},
		{AskPolicy{Roots: []string{"/a"}, SamplingCommand: "x"}, `{"roots":{"listChanged":true},"sampling":{},"elicitation":{"form":{},"url":{}}}`},
	} {
		b, _ := json.Marshal(tc.policy.capabilities())
		if string(b) != tc.want {
			t.Errorf("capabilities of %+v = %s, want %s", tc.policy, b, tc.want)
		}
	}
	// 2026-07-28: the same capabilities in every request's _meta.
	u := &rawUpstream{version: mcp.LATEST_PROTOCOL_VERSION}
	SetAsks(u, AskPolicy{Roots: []string{"/a"}})
	params, err := u.withMeta(json.RawMessage(`{"name":"t"}`))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	_ = json.Unmarshal(params, &p)
	if got := string(p.Meta[mcp.MetaKeyClientCapabilities]); got != `{"roots":{"listChanged":true},"elicitation":{"form":{},"url":{}}}` {
		t.Errorf("_meta clientCapabilities = %s", got)
	}
}

// askServer is an MCP server whose tools ask the client back: elicit (the conformance
// scenario's schema, or schema when given), roots and sample; it records the client
// capabilities it was initialized with.
func askServer(caps *atomic.Pointer[mcp.ClientCapabilities]) func(*atomic.Int64, bool) *server.MCPServer {
	return func(*atomic.Int64, bool) *server.MCPServer {
		hooks := &server.Hooks{}
		hooks.AddBeforeInitialize(func(_ context.Context, _ any, r *mcp.InitializeRequest) {
			c := r.Params.Capabilities
			caps.Store(&c)
		})
		s := server.NewMCPServer("ask-test", "1.0.0", server.WithToolCapabilities(true), server.WithHooks(hooks))
		s.AddTool(mcp.NewTool("elicit", mcp.WithString("schema")), func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var schema any
			if err := json.Unmarshal([]byte(r.GetString("schema", conformanceSchema)), &schema); err != nil {
				return nil, err
			}
			res, err := s.RequestElicitation(ctx, mcp.ElicitationRequest{Params: mcp.ElicitationParams{Message: "please", RequestedSchema: schema}})
			if err != nil {
				return mcp.NewToolResultError(err.Error()), nil
			}
			b, _ := json.Marshal(res.ElicitationResponse)
			return mcp.NewToolResultText(string(b)), nil
		})
		s.AddTool(mcp.NewTool("roots"), func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := s.RequestRoots(ctx, mcp.ListRootsRequest{})
			if err != nil {
				return mcp.NewToolResultError(err.Error()), nil
			}
			b, _ := json.Marshal(res.Roots)
			return mcp.NewToolResultText(string(b)), nil
		})
		s.AddTool(mcp.NewTool("sample"), func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := s.RequestSampling(ctx, mcp.CreateMessageRequest{CreateMessageParams: mcp.CreateMessageParams{
				Messages:  []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent("hi")}},
				MaxTokens: 5}})
			if err != nil {
				return mcp.NewToolResultError(err.Error()), nil
			}
			return mcp.NewToolResultText(res.Model + ": " + mcp.GetTextFromContent(res.Content)), nil
		})
		return s
	}
}

// TestBridge_AnswersServerAsksByPolicy runs a bridge against a 2025-11-25 Streamable HTTP
// server that asks back during tool calls.
func TestBridge_AnswersServerAsksByPolicy(t *testing.T) {
	sampler := filepath.Join(t.TempDir(), "sampler.sh")
	if err := os.WriteFile(sampler, []byte("#!/bin/sh\ncat >/dev/null\necho '{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":\"42\"},\"model\":\"stub\"}'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()

	t.Run("with a policy: capabilities declared, defaults accepted, roots and sampling answered, each ask recorded", func(t *testing.T) {
		var caps atomic.Pointer[mcp.ClientCapabilities]
		ts := startHTTPServerWith(t, askServer(&caps), nil, mcp.LegacyProtocolVersions()...)
		var mu sync.Mutex
		var recs []AskRecord
		cfg := httpConfig(t, ts.URL)
		cfg.Asks = AskPolicy{Elicit: events.ElicitDefaults, Roots: []string{root}, SamplingCommand: sampler,
			OnAsk: func(r AskRecord) { mu.Lock(); recs = append(recs, r); mu.Unlock() }}
		b := openBridge(t, cfg)
		c := dial(t, b.SocketPath())

		got := caps.Load()
		if got == nil || got.Elicitation == nil || got.Elicitation.Form == nil || got.Elicitation.URL == nil ||
			got.Roots == nil || !got.Roots.ListChanged || got.Sampling == nil {
			b, _ := json.Marshal(got)
			t.Fatalf("initialize capabilities = %s, want elicitation form+url, roots listChanged, sampling", b)
		}
		if text := toolText(t, call(t, c, "tools/call", map[string]any{"name": "elicit"})); compactJSON(t, []byte(text)) !=
			`{"action":"accept","content":{"age":30,"name":"John Doe","score":95.5,"status":"active","verified":true}}` {
			t.Errorf("elicit answered %s, want accept with every default", text)
		}
		if text := toolText(t, call(t, c, "tools/call", map[string]any{"name": "roots"})); !strings.Contains(text, `"uri":"file://`+root+`"`) {
			t.Errorf("roots answered %s, want file://%s", text, root)
		}
		if text := toolText(t, call(t, c, "tools/call", map[string]any{"name": "sample"})); text != "stub: 42" {
			t.Errorf("sample answered %q, want the command's result", text)
		}
		res := call(t, c, "tools/call", map[string]any{"name": "elicit",
			"arguments": map[string]any{"schema": `{"type":"object","properties":{"a":{"type":"object"}}}`}})
		if text := toolText(t, res); !strings.Contains(text, "cannot be asked for") {
			t.Errorf("a nested schema answered %s, want the -32602 reason to reach the server", text)
		}
		mu.Lock()
		defer mu.Unlock()
		var summary []string
		for _, r := range recs {
			summary = append(summary, r.Method+" "+r.Action)
			if r.Duration <= 0 {
				t.Errorf("record %+v has no duration", r)
			}
		}
		want := []string{"elicitation/create accept", "roots/list answered", "sampling/createMessage answered", "elicitation/create error"}
		if !slices.Equal(summary, want) {
			t.Errorf("asks recorded = %q, want %q", summary, want)
		}
	})

	t.Run("without a policy: elicitation declared and declined, sampling declined, never -32601", func(t *testing.T) {
		var caps atomic.Pointer[mcp.ClientCapabilities]
		ts := startHTTPServerWith(t, askServer(&caps), nil, mcp.LegacyProtocolVersions()...)
		b := openBridge(t, httpConfig(t, ts.URL))
		c := dial(t, b.SocketPath())
		if got := caps.Load(); got == nil || got.Elicitation == nil || got.Roots != nil || got.Sampling != nil {
			b, _ := json.Marshal(got)
			t.Errorf("initialize capabilities = %s, want elicitation only", b)
		}
		if text := toolText(t, call(t, c, "tools/call", map[string]any{"name": "elicit"})); text != `{"action":"decline"}` {
			t.Errorf("elicit answered %s, want decline", text)
		}
		text := toolText(t, call(t, c, "tools/call", map[string]any{"name": "sample"}))
		if !strings.Contains(text, "--sampling-command") || strings.Contains(text, "-32601") {
			t.Errorf("sample answered %q, want a decline naming --sampling-command", text)
		}
	})
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
