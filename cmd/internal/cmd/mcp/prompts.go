package mcp

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
)

// promptSpecs are the prompts commands: prompts-list, prompts-get.
func promptSpecs() []*mcpSpec {
	return []*mcpSpec{
		{
			use: "prompts-list @session", short: "List the session's prompts", method: "prompts/list",
			params: noParams, listKey: "prompts",
			human: func(o *mcpOptions, res json.RawMessage) error {
				var r struct {
					Prompts []struct {
						Name, Description string
						Arguments         []struct {
							Name     string
							Required bool
						}
					}
				}
				if err := json.Unmarshal(res, &r); err != nil {
					return err
				}
				tw := tabwriter.NewWriter(o.f.IO.Out, 0, 4, 2, ' ', 0)
				for _, p := range r.Prompts {
					var as []string
					for _, a := range p.Arguments {
						if a.Required {
							as = append(as, a.Name)
						} else {
							as = append(as, "["+a.Name+"]")
						}
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", o.f.IO.Color("1", p.Name), strings.Join(as, " "), firstLine(p.Description))
				}
				return tw.Flush()
			},
		},
		{
			use: "prompts-get @session PROMPT [k:=v …]", short: "Get a prompt with arguments", method: "prompts/get",
			nargs: 1, maxArgs: -1,
			params: func(o *mcpOptions, args []string) (json.RawMessage, error) {
				raw, err := parseToolArgs(args[1:], o.f.IO.In, stdinIsData(o.f.IO.In))
				if err != nil {
					return nil, err
				}
				// Prompt arguments are strings in MCP: numbers and booleans are sent as text.
				var m map[string]json.RawMessage
				if err := json.Unmarshal(raw, &m); err != nil {
					return nil, err
				}
				strs := map[string]string{}
				for k, v := range m {
					var s string
					if json.Unmarshal(v, &s) != nil {
						s = string(v)
					}
					strs[k] = s
				}
				return MustJSON(map[string]any{"name": args[0], "arguments": strs}), nil
			},
			human: func(o *mcpOptions, res json.RawMessage) error {
				var r struct {
					Description string
					Messages    []struct {
						Role    string
						Content content
					}
				}
				if err := json.Unmarshal(res, &r); err != nil {
					return err
				}
				for _, m := range r.Messages {
					fmt.Fprintf(o.f.IO.Out, "%s: ", o.f.IO.Color("1", m.Role))
					printContents(o.f.IO.Out, []content{m.Content})
				}
				return nil
			},
		},
	}
}
