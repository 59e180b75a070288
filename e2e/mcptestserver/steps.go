package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// maxSteps bounds the steps tool: a test needs a few, never thousands.
const maxSteps = 1000

// addSteps adds the steps tool: a long call that reports its progress.
func (ts *testServer) addSteps() {
	ts.mcp.AddTool(mcp.NewTool("steps",
		mcp.WithDescription("Takes n steps of ms milliseconds, sending notifications/progress after each (progress i, total n unless total is false, message \"step i of n\") when the call has a progress token."),
		mcp.WithInteger("n", mcp.Required()),
		mcp.WithInteger("ms"),
		mcp.WithBoolean("total"),
	), ts.steps)
}

func (ts *testServer) steps(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	n, err := req.RequireInt("n")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	if n < 0 || n > maxSteps {
		return mcp.NewToolResultError(fmt.Sprintf("n must be in [0, %d]", maxSteps)), nil
	}
	ms := req.GetInt("ms", 0)
	if ms < 0 || ms > 60_000 {
		return mcp.NewToolResultError("ms must be in [0, 60000]"), nil
	}
	withTotal := req.GetBool("total", true)
	var token mcp.ProgressToken
	if req.Params.Meta != nil {
		token = req.Params.Meta.ProgressToken
	}
	key, _ := json.Marshal(token)
	before := ts.progressOut.written(string(key))
	for i := 1; i <= n; i++ {
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(time.Duration(ms) * time.Millisecond):
		}
		if token == nil {
			continue
		}
		params := map[string]any{"progressToken": token, "progress": i, "message": fmt.Sprintf("step %d of %d", i, n)}
		if withTotal {
			params["total"] = n
		}
		if err := retryBlocked(ctx, func() error {
			return ts.mcp.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), params)
		}); err != nil {
			return nil, fmt.Errorf("send progress: %w", err)
		}
	}
	// On stdio mcp-go writes notifications from another goroutine than the response: the
	// result waits until the last progress is out, or a client that stops listening at the
	// result would miss it.
	for token != nil && ts.progressOut != nil && ts.progressOut.written(string(key)) < before+n && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	return mcp.NewToolResultText(fmt.Sprintf("took %d steps", n)), nil
}

// progressLines is the server's stdout, counting the progress notifications written on
// it by token (the token's JSON).
type progressLines struct {
	w io.Writer

	mu sync.Mutex
	n  map[string]int
}

// Write writes one message: mcp-go writes each with one call.
func (p *progressLines) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err == nil && bytes.Contains(b, []byte(`"notifications/progress"`)) {
		var m struct {
			Params struct {
				Token json.RawMessage `json:"progressToken"`
			} `json:"params"`
		}
		if json.Unmarshal(b, &m) == nil {
			p.mu.Lock()
			p.n[string(m.Params.Token)]++
			p.mu.Unlock()
		}
	}
	return n, err
}

// written is how many progress notifications with this token were written (nil: not
// counted, over HTTP, where a request's stream is in order anyway).
func (p *progressLines) written(token string) int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[token]
}
