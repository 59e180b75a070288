package mcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
)

// toolSpecs are the tools commands: tools-list, tools-get, tools-call.
func toolSpecs() []*mcpSpec {
	return []*mcpSpec{
		{
			use: "tools-list @session", short: "List the session's tools", method: "tools/list",
			params: noParams, listKey: "tools",
			human: func(o *mcpOptions, res json.RawMessage) error {
				var r struct{ Tools []ToolInfo }
				if err := json.Unmarshal(res, &r); err != nil {
					return err
				}
				tw := tabwriter.NewWriter(o.f.IO.Out, 0, 4, 2, ' ', 0)
				for _, t := range r.Tools {
					fmt.Fprintf(tw, "%s\t%s\n", o.f.IO.Color("1", t.Name), firstLine(sessioncall.FirstNonEmpty(t.Title, t.Description)))
				}
				return tw.Flush()
			},
		},
		{
			use: "tools-get @session TOOL", short: "Show one tool: description and input schema", method: "tools/list",
			nargs: 1, maxArgs: 1, listKey: "tools",
			params: func(o *mcpOptions, args []string) (json.RawMessage, error) {
				o.tool = args[0]
				return json.RawMessage("{}"), nil
			},
			post: func(o *mcpOptions, res json.RawMessage) (json.RawMessage, error) { return toolsGet(res, o.tool) },
			human: func(o *mcpOptions, res json.RawMessage) error {
				var t ToolInfo
				if err := json.Unmarshal(res, &t); err != nil {
					return err
				}
				fmt.Fprintf(o.f.IO.Out, "%s\n", o.f.IO.Color("1", t.Name))
				if t.Description != "" {
					fmt.Fprintf(o.f.IO.Out, "%s\n", strings.TrimSpace(t.Description))
				}
				fmt.Fprintln(o.f.IO.Out, "input schema:")
				return writeRawJSON(o.f.IO.Out, t.InputSchema)
			},
		},
		{
			use: "tools-call @session TOOL [k:=v …|'{json}'|-]", short: "Call a tool", method: "tools/call",
			nargs: 1, maxArgs: -1, progress: true,
			example: `  mcpctl @docs tools-call search query:=nats limit:=5
  mcpctl @docs tools-call search '{"query": "nats"}'
  echo '{"query": "nats"}' | mcpctl @docs tools-call search`,
			params: func(o *mcpOptions, args []string) (json.RawMessage, error) {
				a, err := parseToolArgs(args[1:], o.f.IO.In, stdinIsData(o.f.IO.In))
				if err != nil {
					return nil, err
				}
				return MustJSON(map[string]any{"name": args[0], "arguments": a}), nil
			},
			human: func(o *mcpOptions, res json.RawMessage) error {
				var r struct {
					Content           []content       `json:"content"`
					StructuredContent json.RawMessage `json:"structuredContent"`
				}
				if err := json.Unmarshal(res, &r); err != nil {
					return err
				}
				if len(r.Content) == 0 && len(r.StructuredContent) > 0 {
					return writeRawJSON(o.f.IO.Out, r.StructuredContent)
				}
				printContents(o.f.IO.Out, r.Content)
				return nil
			},
			check: func(res json.RawMessage) error {
				var r struct {
					IsError bool      `json:"isError"`
					Content []content `json:"content"`
				}
				if json.Unmarshal(res, &r) == nil && r.IsError {
					msg := "the tool reported an error"
					if len(r.Content) > 0 && r.Content[0].Text != "" {
						msg += ": " + firstLine(r.Content[0].Text)
					}
					return &clierr.Error{Code: clierr.ExitServer, Err: errors.New(msg)}
				}
				return nil
			},
		},
	}
}
