package mcp

import (
	"encoding/json"
	"errors"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"

	"github.com/spf13/pflag"
)

// toolSpecs are the tools commands: tools-list, tools-get, tools-call.
func toolSpecs() []*mcpSpec {
	return []*mcpSpec{
		{
			use: "tools-list @session", short: "List the session's tools: signatures and annotation hints (--full: descriptions, schemas)", method: "tools/list",
			params: noParams, listKey: "tools",
			flags: func(o *mcpOptions, fl *pflag.FlagSet) {
				fl.BoolVar(&o.full, "full", false, "each tool's description, annotations, task support, input and output schemas")
			},
			human: func(o *mcpOptions, res json.RawMessage) error { return printToolsList(o.f.IO.Out, o.f.IO, res, o.full) },
		},
		{
			use: "tools-get @session TOOL", short: "Show one tool: signature, description, annotations, task support, input and output schemas", method: "tools/list",
			nargs: 1, maxArgs: 1, listKey: "tools",
			params: func(o *mcpOptions, args []string) (json.RawMessage, error) {
				o.tool = args[0]
				return json.RawMessage("{}"), nil
			},
			post:  func(o *mcpOptions, res json.RawMessage) (json.RawMessage, error) { return toolsGet(res, o.tool) },
			human: func(o *mcpOptions, res json.RawMessage) error { return printTool(o.f.IO.Out, o.f.IO, res) },
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
