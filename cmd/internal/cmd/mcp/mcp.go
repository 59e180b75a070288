package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"
)

// mcpSpec describes one command that is a single MCP request on a session.
type mcpSpec struct {
	use     string
	short   string
	method  string
	nargs   int // positional arguments after @session that are required
	maxArgs int // -1: any
	example string
	// params builds the request params from the arguments after @session.
	params func(o *mcpOptions, args []string) (json.RawMessage, error)
	// human prints the result for a person.
	human func(o *mcpOptions, res json.RawMessage) error
	// check inspects a result and may turn it into an error (tools-call isError).
	check func(res json.RawMessage) error
	// post transforms the result before it is printed (tools-get picks one tool).
	post func(o *mcpOptions, res json.RawMessage) (json.RawMessage, error)
	// listKey names the items array of a paginated list result ("tools", …): the command
	// follows nextCursor to the end (listAll) unless --cursor asks for one page.
	listKey string
}

// name is the command's name, the first word of its use line.
func (s *mcpSpec) name() string { return strings.Fields(s.use)[0] }

type mcpOptions struct {
	f       *cmdkit.Factory
	session string
	spec    *mcpSpec
	tool    string // tools-get
	// list commands: --cursor asks for one page, as the server sends it
	cursor    string
	cursorSet bool
	// complete
	prompt   string
	resource string
}

func newMCPCmd(f *cmdkit.Factory, spec *mcpSpec) (cmd *cobra.Command) {
	o := &mcpOptions{f: f, spec: spec}
	defer func() {
		if spec.method == "completion/complete" {
			cmd.Flags().StringVar(&o.prompt, "prompt", "", "complete an argument of this prompt")
			cmd.Flags().StringVar(&o.resource, "resource", "", "complete an argument of this resource template URI")
		}
		if spec.listKey != "" && spec.nargs == 0 {
			cmd.Flags().StringVar(&o.cursor, "cursor", "", "get one page, the one at this cursor (\"\": the first), with its nextCursor; default: every page")
		}
	}()
	cmd = &cobra.Command{
		Use:     spec.use,
		Short:   spec.short,
		Example: spec.example,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || !strings.HasPrefix(args[0], "@") {
				return clierr.WithHint(fmt.Errorf("%s needs a session (@name)", cmd.Name()), clierr.ExitUsage, "mcpctl @name "+cmd.Name()+" …")
			}
			n := len(args) - 1
			if n < spec.nargs || (spec.maxArgs >= 0 && n > spec.maxArgs) {
				return clierr.WithHint(fmt.Errorf("%s: wrong number of arguments (%d)", cmd.Name(), n), clierr.ExitUsage, "mcpctl "+spec.use)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := sessioncall.ParseSessionArg(args[0])
			if err != nil {
				return err
			}
			o.session = name
			o.cursorSet = cmd.Flags().Changed("cursor")
			params, err := spec.params(o, args[1:])
			if err != nil {
				return err
			}
			return runMCP(cmd.Context(), o, params)
		},
	}
	return cmd
}

func runMCP(ctx context.Context, o *mcpOptions, params json.RawMessage) error {
	var res json.RawMessage
	var err error
	switch {
	case o.spec.listKey != "" && !o.cursorSet:
		res, err = listAll(ctx, o, o.spec.method, o.spec.listKey)
	case o.cursorSet:
		res, _, err = sessioncall.CallSession(ctx, o.f, o.session, o.spec.method, cursorParams(o.cursor))
	default:
		res, _, err = sessioncall.CallSession(ctx, o.f, o.session, o.spec.method, params)
	}
	if err != nil {
		return err
	}
	if o.spec.post != nil {
		if res, err = o.spec.post(o, res); err != nil {
			return err
		}
	}
	var checkErr error
	if o.spec.check != nil {
		checkErr = o.spec.check(res)
	}
	if o.f.JSON {
		if err := writeRawJSON(o.f.IO.Out, res); err != nil {
			return err
		}
	} else if o.spec.human != nil {
		if err := o.spec.human(o, res); err != nil {
			return err
		}
		if o.cursorSet {
			if _, _, next, err := splitPage(res, o.spec.listKey); err == nil && next != "" {
				fmt.Fprintf(o.f.IO.ErrOut, "next page: mcpctl @%s %s --cursor %s\n", o.session, o.spec.name(), next)
			}
		}
	} else if err := writeRawJSON(o.f.IO.Out, res); err != nil {
		return err
	}
	return checkErr
}

func writeRawJSON(w io.Writer, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		_, err := fmt.Fprintf(w, "%s\n", raw)
		return err
	}
	return cmdkit.WriteJSON(w, v)
}

func noParams(o *mcpOptions, args []string) (json.RawMessage, error) {
	return json.RawMessage("{}"), nil
}

func MustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called on maps of strings and raw JSON
	}
	return b
}

// MCP result shapes, as much of them as the human output needs.
type ToolInfo struct {
	Name        string          `json:"name"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

type content struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	MimeType string          `json:"mimeType"`
	Data     string          `json:"data"`
	Resource json.RawMessage `json:"resource"`
	URI      string          `json:"uri"`
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

func printContents(w io.Writer, cs []content) {
	for _, c := range cs {
		switch c.Type {
		case "text":
			fmt.Fprintln(w, c.Text)
		case "image", "audio":
			fmt.Fprintf(w, "[%s %s, %d bytes base64]\n", c.Type, c.MimeType, len(c.Data))
		case "resource":
			fmt.Fprintf(w, "[resource %s]\n", c.Resource)
		case "resource_link":
			fmt.Fprintf(w, "[resource link %s]\n", c.URI)
		default:
			b, _ := json.Marshal(c)
			fmt.Fprintf(w, "%s\n", b)
		}
	}
}

func mcpSpecs() []*mcpSpec {
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
			nargs: 1, maxArgs: -1,
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
		{
			use: "resources-list @session", short: "List the session's resources", method: "resources/list",
			params: noParams, listKey: "resources",
			human: func(o *mcpOptions, res json.RawMessage) error {
				var r struct {
					Resources []struct{ URI, Name, MimeType, Description string }
				}
				if err := json.Unmarshal(res, &r); err != nil {
					return err
				}
				tw := tabwriter.NewWriter(o.f.IO.Out, 0, 4, 2, ' ', 0)
				for _, x := range r.Resources {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", x.URI, x.Name, x.MimeType)
				}
				return tw.Flush()
			},
		},
		{
			use: "resources-templates-list @session", short: "List the session's resource templates", method: "resources/templates/list",
			params: noParams, listKey: "resourceTemplates",
			human: func(o *mcpOptions, res json.RawMessage) error {
				var r struct {
					ResourceTemplates []struct{ URITemplate, Name, Description string }
				}
				if err := json.Unmarshal(res, &r); err != nil {
					return err
				}
				tw := tabwriter.NewWriter(o.f.IO.Out, 0, 4, 2, ' ', 0)
				for _, x := range r.ResourceTemplates {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", x.URITemplate, x.Name, firstLine(x.Description))
				}
				return tw.Flush()
			},
		},
		{
			use: "resources-read @session URI", short: "Read a resource", method: "resources/read", nargs: 1, maxArgs: 1,
			params: func(o *mcpOptions, args []string) (json.RawMessage, error) {
				return MustJSON(map[string]string{"uri": args[0]}), nil
			},
			human: func(o *mcpOptions, res json.RawMessage) error {
				var r struct {
					Contents []struct{ URI, MimeType, Text, Blob string }
				}
				if err := json.Unmarshal(res, &r); err != nil {
					return err
				}
				for _, c := range r.Contents {
					if c.Blob != "" {
						fmt.Fprintf(o.f.IO.Out, "[%s %s, %d bytes base64]\n", c.URI, c.MimeType, len(c.Blob))
						continue
					}
					fmt.Fprintln(o.f.IO.Out, c.Text)
				}
				return nil
			},
		},
		{
			use: "resources-subscribe @session URI", short: "Subscribe to a resource's updates (they appear in mcpctl events --notifications)",
			method: "resources/subscribe", nargs: 1, maxArgs: 1,
			params: func(o *mcpOptions, args []string) (json.RawMessage, error) {
				return MustJSON(map[string]string{"uri": args[0]}), nil
			},
			human: func(o *mcpOptions, res json.RawMessage) error {
				fmt.Fprintf(o.f.IO.Out, "subscribed\n")
				return nil
			},
		},
		{
			use: "resources-unsubscribe @session URI", short: "Stop a resource subscription",
			method: "resources/unsubscribe", nargs: 1, maxArgs: 1,
			params: func(o *mcpOptions, args []string) (json.RawMessage, error) {
				return MustJSON(map[string]string{"uri": args[0]}), nil
			},
			human: func(o *mcpOptions, res json.RawMessage) error {
				fmt.Fprintf(o.f.IO.Out, "unsubscribed\n")
				return nil
			},
		},
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
		{
			use: "ping @session", short: "Ping the server through the session's bridge", method: "ping",
			params: noParams,
			human: func(o *mcpOptions, res json.RawMessage) error {
				fmt.Fprintln(o.f.IO.Out, "pong")
				return nil
			},
		},
		{
			use: "logging-set-level @session LEVEL", short: "Set the server's log level (debug … emergency)",
			method: "logging/setLevel", nargs: 1, maxArgs: 1,
			params: func(o *mcpOptions, args []string) (json.RawMessage, error) {
				levels := []string{"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}
				for _, l := range levels {
					if args[0] == l {
						return MustJSON(map[string]string{"level": l}), nil
					}
				}
				return nil, clierr.WithHint(fmt.Errorf("unknown log level %q", args[0]), clierr.ExitUsage, "one of: "+strings.Join(levels, ", "))
			},
			human: func(o *mcpOptions, res json.RawMessage) error {
				fmt.Fprintln(o.f.IO.Out, "ok")
				return nil
			},
		},
		{
			use: "complete @session (--prompt P | --resource URI) ARG [VALUE]", short: "Ask the server to complete an argument",
			method: "completion/complete", nargs: 1, maxArgs: 2,
			example: `  mcpctl @s complete --prompt greet style fr`,
			params: func(o *mcpOptions, args []string) (json.RawMessage, error) {
				var ref map[string]string
				switch {
				case o.prompt != "" && o.resource != "":
					return nil, clierr.UsageErr("complete: give --prompt or --resource, not both")
				case o.prompt != "":
					ref = map[string]string{"type": "ref/prompt", "name": o.prompt}
				case o.resource != "":
					ref = map[string]string{"type": "ref/resource", "uri": o.resource}
				default:
					return nil, clierr.WithHint(fmt.Errorf("complete needs --prompt NAME or --resource URI"), clierr.ExitUsage,
						"mcpctl @s complete --prompt greet style fr")
				}
				value := ""
				if len(args) > 1 {
					value = args[1]
				}
				return MustJSON(map[string]any{"ref": ref, "argument": map[string]string{"name": args[0], "value": value}}), nil
			},
			human: func(o *mcpOptions, res json.RawMessage) error {
				var r struct {
					Completion struct{ Values []string }
				}
				if err := json.Unmarshal(res, &r); err != nil {
					return err
				}
				for _, v := range r.Completion.Values {
					fmt.Fprintln(o.f.IO.Out, v)
				}
				return nil
			},
		},
	}
}

func NewMCPCommands(f *cmdkit.Factory) []*cobra.Command {
	var cmds []*cobra.Command
	for _, spec := range mcpSpecs() {
		cmds = append(cmds, newMCPCmd(f, spec))
	}
	return cmds
}

// toolsGet filters tools/list for one tool.
func toolsGet(res json.RawMessage, name string) (json.RawMessage, error) {
	var r struct {
		Tools []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	var names []string
	for _, t := range r.Tools {
		var ti ToolInfo
		if json.Unmarshal(t, &ti) == nil {
			if ti.Name == name {
				return t, nil
			}
			names = append(names, ti.Name)
		}
	}
	sort.Strings(names)
	hint := "tools: " + strings.Join(names, ", ")
	if s := closest(name, names); s != "" {
		hint = "did you mean " + s + "?"
	}
	return nil, clierr.WithHint(fmt.Errorf("no tool %q", name), clierr.ExitUsage, hint)
}

// closest returns the candidate within edit distance 2 of s, if any.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
