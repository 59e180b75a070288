package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
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
	// As in notify: on stdio the notifications are written by another goroutine than the
	// response; let the queue drain so progress does not trail the result.
	if session := server.ClientSessionFromContext(ctx); session != nil {
		for len(session.NotificationChannel()) > 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
	}
	return mcp.NewToolResultText(fmt.Sprintf("took %d steps", n)), nil
}
