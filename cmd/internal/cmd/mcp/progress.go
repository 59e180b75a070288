package mcp

import (
	"context"
	"encoding/json"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
)

// progressSink is where a long call's progress goes: a bar (or a spinner, without a total)
// with the server's message on stderr when it is a terminal, nothing otherwise. While asks
// puts a question on the terminal, the bar is cleared and waits. done clears it; call it
// before printing the result.
func (o *mcpOptions) progressSink(asks *sessioncall.Asks) (sink sessioncall.ProgressSink, done func()) {
	p := cmdkit.NewProgress(o.f.IO, "")
	if asks != nil {
		if handle := asks.Handle; handle != nil {
			asks.Handle = func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
				release := p.Hold()
				defer release()
				return handle(ctx, method, params)
			}
		}
		if urlRequired := asks.URLRequired; urlRequired != nil {
			asks.URLRequired = func(ctx context.Context, data json.RawMessage) bool {
				release := p.Hold()
				defer release()
				return urlRequired(ctx, data)
			}
		}
	}
	return p.Report, p.Done
}
