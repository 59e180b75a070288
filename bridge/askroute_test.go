package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// asksRecorded collects a bridge's ask records.
type asksRecorded struct {
	mu   sync.Mutex
	recs []AskRecord
}

func (a *asksRecorded) add(r AskRecord) { a.mu.Lock(); a.recs = append(a.recs, r); a.mu.Unlock() }

func (a *asksRecorded) last() AskRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.recs) == 0 {
		return AskRecord{}
	}
	return a.recs[len(a.recs)-1]
}

// callAs is a tools/call whose _meta declares caps (a ClientCapabilities object), as the
// CLI does on a terminal.
func callAs(t *testing.T, c *rpc.Client, tool, caps string, args map[string]any) string {
	t.Helper()
	params, _ := json.Marshal(map[string]any{"name": tool, "arguments": args,
		"_meta": map[string]json.RawMessage{mcp.MetaKeyClientCapabilities: json.RawMessage(caps)}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Call(ctx, "tools/call", params)
	if err != nil {
		t.Fatalf("tools/call %s: %v", tool, err)
	}
	return toolText(t, res)
}

// answering is a socket client whose handler answers asks, counting what it saw.
func answering(t *testing.T, path string, answer func(method string, params json.RawMessage) (json.RawMessage, error)) (*rpc.Client, *atomic.Int64) {
	c := dial(t, path)
	var n atomic.Int64
	c.HandleRequests(func(_ context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		n.Add(1)
		return answer(method, params)
	})
	return c, &n
}

func TestBridge_RoutesAsksToTheCaller(t *testing.T) {
	const formCaps = `{"elicitation":{"form":{}}}`
	accept := func(method string, params json.RawMessage) (json.RawMessage, error) {
		if method != string(mcp.MethodElicitationCreate) || !strings.Contains(string(params), "please") {
			return nil, &rpc.RPCError{Code: rpc.CodeInvalidParams, Message: "unexpected ask " + method}
		}
		return json.RawMessage(`{"action":"accept","content":{"name":"from the caller"}}`), nil
	}
	const accepted = `{"action":"accept","content":{"name":"from the caller"}}`

	for _, tr := range []string{"http", "stdio"} {
		t.Run("2025-11-25 over "+tr+": the caller that declared elicitation answers it, others get the policy", func(t *testing.T) {
			var recs asksRecorded
			var cfg Config
			if tr == "http" {
				var caps atomic.Pointer[mcp.ClientCapabilities]
				cfg = httpConfig(t, startHTTPServerWith(t, askServer(&caps), nil, mcp.LegacyProtocolVersions()...).URL)
			} else {
				cfg = stdioConfig(t)
				cfg.Env = map[string]string{envTestServer: "asks"}
				cfg.Protocol = "2025-11-25" // server requests; the test server speaks both eras
			}
			cfg.Asks = AskPolicy{Elicit: events.ElicitCancel, OnAsk: recs.add}
			b := openBridge(t, cfg)
			c, n := answering(t, b.SocketPath(), accept)
			if got := callAs(t, c, "elicit", formCaps, nil); compactJSON(t, []byte(got)) != accepted {
				t.Errorf("elicit answered %s, want the caller's %s", got, accepted)
			}
			if n.Load() != 1 {
				t.Errorf("the caller saw %d asks, want 1", n.Load())
			}
			if r := recs.last(); r.By != AskByCaller || r.Action != "accept" {
				t.Errorf("recorded %+v, want accept by the caller", r)
			}
			// The same connection, a call without the declaration: the policy answers.
			if got := toolText(t, call(t, c, "tools/call", map[string]any{"name": "elicit"})); got != `{"action":"cancel"}` {
				t.Errorf("an undeclared call: elicit answered %s, want the policy's cancel", got)
			}
			if n.Load() != 1 {
				t.Errorf("the caller saw %d asks, want still 1", n.Load())
			}
			// A nested schema is refused by the bridge before any client sees it.
			got := callAs(t, c, "elicit", formCaps, map[string]any{"schema": `{"type":"object","properties":{"a":{"type":"object"}}}`})
			if !strings.Contains(got, "cannot be asked for") || n.Load() != 1 {
				t.Errorf("a nested schema: answered %q after %d asks to the caller, want the bridge's -32602 and no ask", got, n.Load())
			}
			// A caller that declared only URL mode is not asked for a form.
			if got := callAs(t, c, "elicit", `{"elicitation":{"url":{}}}`, nil); got != `{"action":"cancel"}` || n.Load() != 1 {
				t.Errorf("URL-only caller: answered %s after %d asks, want the policy's cancel", got, n.Load())
			}
		})
	}

	t.Run("2025-11-25: a host declares at initialize; its error is the answer", func(t *testing.T) {
		sampler := filepath.Join(t.TempDir(), "sampler.sh")
		if err := os.WriteFile(sampler, []byte("#!/bin/sh\ncat >/dev/null\necho '{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":\"policy\"},\"model\":\"cmd\"}'\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		var caps atomic.Pointer[mcp.ClientCapabilities]
		cfg := httpConfig(t, startHTTPServerWith(t, askServer(&caps), nil, mcp.LegacyProtocolVersions()...).URL)
		cfg.Asks = AskPolicy{SamplingCommand: sampler}
		b := openBridge(t, cfg)
		c, _ := answering(t, b.SocketPath(), func(method string, _ json.RawMessage) (json.RawMessage, error) {
			if method == string(mcp.MethodSamplingCreateMessage) {
				return json.RawMessage(`{"role":"assistant","content":{"type":"text","text":"host"},"model":"host-llm"}`), nil
			}
			return nil, &rpc.RPCError{Code: -1, Message: "the user closed the dialog"}
		})
		call(t, c, "initialize", map[string]any{"protocolVersion": "2025-11-25", "clientInfo": map[string]any{"name": "host", "version": "1"},
			"capabilities": map[string]any{"sampling": map[string]any{}, "elicitation": map[string]any{}}})
		if got := toolText(t, call(t, c, "tools/call", map[string]any{"name": "sample"})); got != "host-llm: host" {
			t.Errorf("sample answered %q, want the host's answer, not the command's", got)
		}
		if got := toolText(t, call(t, c, "tools/call", map[string]any{"name": "elicit"})); !strings.Contains(got, "the user closed the dialog") {
			t.Errorf("elicit answered %q, want the host's error", got)
		}
		// Another connection, no declaration: the session's command samples.
		if got := toolText(t, call(t, dial(t, b.SocketPath()), "tools/call", map[string]any{"name": "sample"})); got != "cmd: policy" {
			t.Errorf("sample without a host answered %q, want the command's", got)
		}
	})

	t.Run("2026-07-28 input_required: the caller answers the round", func(t *testing.T) {
		var recs asksRecorded
		cfg := httpConfig(t, startHTTPServerWith(t, newMRTRServer, nil).URL)
		cfg.Asks = AskPolicy{OnAsk: recs.add}
		b := openBridge(t, cfg)
		if b.ProtocolVersion() != "2026-07-28" {
			t.Fatalf("ProtocolVersion = %q, want 2026-07-28", b.ProtocolVersion())
		}
		c, n := answering(t, b.SocketPath(), func(string, json.RawMessage) (json.RawMessage, error) {
			return json.RawMessage(`{"action":"accept","content":{"confirmed":true}}`), nil
		})
		got := callAs(t, c, "confirm", formCaps, map[string]any{})
		if want := `state=state-1 responses={"confirm":{"action":"accept","content":{"confirmed":true}}}`; got != want || n.Load() != 1 {
			t.Errorf("confirm = %q after %d asks, want %q after 1", got, n.Load(), want)
		}
		if r := recs.last(); r.By != AskByCaller || r.Action != "accept" {
			t.Errorf("recorded %+v, want accept by the caller", r)
		}
	})

	t.Run("a caller that goes away mid-ask: the policy answers and the bridge keeps serving", func(t *testing.T) {
		var recs asksRecorded
		var caps atomic.Pointer[mcp.ClientCapabilities]
		cfg := httpConfig(t, startHTTPServerWith(t, askServer(&caps), nil, mcp.LegacyProtocolVersions()...).URL)
		cfg.Asks = AskPolicy{OnAsk: recs.add}
		b := openBridge(t, cfg)
		c := dial(t, b.SocketPath())
		asked := make(chan struct{})
		c.HandleRequests(func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
			close(asked)
			<-ctx.Done() // never answers: the connection is closed under it
			return nil, ctx.Err()
		})
		params, _ := json.Marshal(map[string]any{"name": "elicit",
			"_meta": map[string]json.RawMessage{mcp.MetaKeyClientCapabilities: json.RawMessage(formCaps)}})
		go func() { _, _ = c.Call(context.Background(), "tools/call", params) }()
		<-asked
		_ = c.Close()
		testwait.For(t, 10*time.Second, func() error {
			if r := recs.last(); r.Method == "" || r.By != "" || r.Action != "decline" {
				return fmt.Errorf("recorded %+v, want the policy's decline", r)
			}
			return nil
		})
		if got := toolText(t, call(t, dial(t, b.SocketPath()), "tools/call", map[string]any{"name": "elicit"})); got != `{"action":"decline"}` {
			t.Errorf("after the caller left: elicit answered %s, want decline", got)
		}
	})
}
