package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// newMRTRServer is a server whose tools ask for input in 2026-07-28 input_required rounds
// and, once asked again, say what came back:
//
//	confirm → asks for an elicitation under "confirm", with requestState "state-1"
//	nostate → asks for an elicitation under "confirm", without a requestState
//	roots   → asks for the roots under "r"
//	sample  → asks for a sampling under "s"
//
// The answer is the text "state=<requestState> responses=<inputResponses as JSON>".
func newMRTRServer(_ *atomic.Int64, _ bool) *server.MCPServer {
	s := server.NewMCPServer("mrtr-test", "1.0.0", server.WithToolCapabilities(true))
	ask := func(name, state string, req mcp.InputRequest) {
		s.AddTool(mcp.NewTool(name), func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if len(r.Params.InputResponses) == 0 {
				res := &mcp.CallToolResult{}
				res.ResultType = mcp.ResultTypeInputRequired
				res.InputRequests = mcp.InputRequests{"confirm": req}
				if name == "roots" {
					res.InputRequests = mcp.InputRequests{"r": req}
				}
				if name == "sample" {
					res.InputRequests = mcp.InputRequests{"s": req}
				}
				res.RequestState = state
				return res, nil
			}
			responses, _ := json.Marshal(r.Params.InputResponses)
			return mcp.NewToolResultText(fmt.Sprintf("state=%s responses=%s", r.Params.RequestState, responses)), nil
		})
	}
	elicit := mcp.NewElicitationInputRequest(mcp.ElicitationParams{Message: "Confirm?",
		RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"confirmed": map[string]any{"type": "boolean"}}}})
	ask("confirm", "state-1", elicit)
	ask("nostate", "", elicit)
	ask("roots", "", mcp.NewRootsInputRequest())
	ask("sample", "", mcp.NewSamplingInputRequest(mcp.CreateMessageParams{MaxTokens: 5}))
	// Bad servers: one that asks again whatever it is answered, one whose state is too big.
	s.AddTool(mcp.NewTool("forever"), func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res := &mcp.CallToolResult{}
		res.ResultType = mcp.ResultTypeInputRequired
		res.InputRequests = mcp.InputRequests{"again": elicit}
		res.RequestState = "round-" + fmt.Sprint(len(r.Params.RequestState))
		return res, nil
	})
	s.AddTool(mcp.NewTool("hugestate"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res := &mcp.CallToolResult{}
		res.ResultType = mcp.ResultTypeInputRequired
		res.RequestState = strings.Repeat("s", maxRequestState+1)
		return res, nil
	})
	return s
}

func TestMultiRoundTrip_HTTP(t *testing.T) {
	rec := &recorder{}
	ts := startHTTPServerWith(t, newMRTRServer, rec.wrap)
	var asked atomic.Pointer[InputRequest]
	cfg := httpConfig(t, ts.URL)
	cfg.AnswerInput = func(ctx context.Context, req InputRequest) (json.RawMessage, error) {
		asked.Store(&req)
		if req.Method == string(mcp.MethodListRoots) {
			return json.RawMessage(`{"roots":[{"uri":"file:///work"}]}`), nil
		}
		return nil, ErrNoAnswer
	}
	b := openBridge(t, cfg)
	if b.ProtocolVersion() != "2026-07-28" {
		t.Fatalf("ProtocolVersion = %q, want 2026-07-28", b.ProtocolVersion())
	}
	c := dial(t, b.SocketPath())
	text := func(tool string) string {
		t.Helper()
		return toolText(t, call(t, c, "tools/call", map[string]any{"name": tool, "arguments": map[string]any{}}))
	}
	t.Run("an unanswered elicitation is declined and the state echoed", func(t *testing.T) {
		got := text("confirm")
		if want := `state=state-1 responses={"confirm":{"action":"decline"}}`; got != want {
			t.Errorf("confirm = %q, want %q", got, want)
		}
		if a := asked.Load(); a == nil || a.Key != "confirm" || a.Method != "elicitation/create" || !strings.Contains(string(a.Params), "Confirm?") {
			t.Errorf("AnswerInput saw %+v, want the elicitation under confirm with its params", a)
		}
		seen, _ := rec.last("tools/call")
		assertModernRequest(t, seen, "tools/call", "confirm")
	})
	t.Run("no requestState is sent back when the server sent none", func(t *testing.T) {
		if got, want := text("nostate"), `state= responses={"confirm":{"action":"decline"}}`; got != want {
			t.Errorf("nostate = %q, want %q", got, want)
		}
		seen, _ := rec.last("tools/call")
		if strings.Contains(string(seen.Params), "requestState") {
			t.Errorf("retry carries a requestState: %s", seen.Params)
		}
	})
	t.Run("an ask the hook answers goes back verbatim", func(t *testing.T) {
		if got, want := text("roots"), `state= responses={"r":{"roots":[{"uri":"file:///work"}]}}`; got != want {
			t.Errorf("roots = %q, want %q", got, want)
		}
	})
	t.Run("an ask nobody answers and that cannot be declined fails the call, not the bridge", func(t *testing.T) {
		_, err := callErr(c, "tools/call", map[string]any{"name": "sample", "arguments": map[string]any{}})
		if err == nil || !strings.Contains(err.Error(), "sampling/createMessage") {
			t.Errorf("sample = %v, want an error naming sampling/createMessage", err)
		}
		if got := text("nostate"); !strings.HasPrefix(got, "state=") {
			t.Errorf("after the failed ask: %q", got)
		}
	})
	t.Run("an input_required loop that never ends and an oversized requestState fail the call, not the bridge", func(t *testing.T) {
		rec.mu.Lock()
		n := len(rec.seen)
		rec.mu.Unlock()
		_, err := callErr(c, "tools/call", map[string]any{"name": "forever", "arguments": map[string]any{}})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("still input_required after %d rounds", maxInputRounds)) {
			t.Errorf("forever = %v, want the round limit", err)
		}
		rec.mu.Lock()
		sent := len(rec.seen) - n
		rec.mu.Unlock()
		if sent != maxInputRounds+1 {
			t.Errorf("the bridge sent %d requests for forever, want %d (the first and one per round)", sent, maxInputRounds+1)
		}
		_, err = callErr(c, "tools/call", map[string]any{"name": "hugestate", "arguments": map[string]any{}})
		if err == nil || !strings.Contains(err.Error(), "over the bridge's limit") {
			t.Errorf("hugestate = %v, want the requestState limit", err)
		}
		if got := text("nostate"); !strings.HasPrefix(got, "state=") {
			t.Errorf("after the bad servers' calls: %q", got)
		}
	})
	t.Run("a client's notification carries the standard headers too", func(t *testing.T) {
		if err := c.Notify(context.Background(), "notifications/roots/list_changed", nil); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, func() error {
			seen, ok := rec.last("notifications/roots/list_changed")
			if !ok {
				return fmt.Errorf("the server has not seen the notification")
			}
			if got := seen.Header.Get("Mcp-Method"); got != "notifications/roots/list_changed" {
				t.Fatalf("Mcp-Method = %q on the notification's POST", got)
			}
			return nil
		})
	})
	t.Run("nothing of a round leaks into the next request", func(t *testing.T) {
		text("confirm")
		rec.mu.Lock()
		n := len(rec.seen)
		rec.mu.Unlock()
		call(t, c, "tools/list", nil)
		rec.mu.Lock()
		after := rec.seen[n:]
		rec.mu.Unlock()
		for _, s := range after {
			if strings.Contains(string(s.Params), "inputResponses") || strings.Contains(string(s.Params), "requestState") {
				t.Errorf("%s carries another request's round: %s", s.Method, s.Params)
			}
		}
	})
}
