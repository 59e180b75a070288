package mcp

import (
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
)

// progressSink is where a long call's progress goes: a bar (or a spinner, without a total)
// with the server's message on stderr when it is a terminal, nothing otherwise. done clears
// it; call it before printing the result.
func (o *mcpOptions) progressSink() (sink sessioncall.ProgressSink, done func()) {
	p := cmdkit.NewProgress(o.f.IO, "")
	return p.Report, p.Done
}
