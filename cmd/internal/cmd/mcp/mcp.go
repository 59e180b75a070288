package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/mcpctl/mcpctl/cmd/internal/ask"
	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	// flags adds the command's own flags.
	flags func(o *mcpOptions, fl *pflag.FlagSet)
	// listKey names the items array of a paginated list result ("tools", …): the command
	// follows nextCursor to the end (listAll) unless --cursor asks for one page.
	listKey string
	// progress asks the server for progress notifications and shows them (tools-call).
	progress bool
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
	context  []string // --context k=v: arguments already given, for dependent completions
	// requests that may make the server ask back: --elicit answers without asking
	elicit string
	// tools-list --full
	full bool
}

func newMCPCmd(f *cmdkit.Factory, spec *mcpSpec) (cmd *cobra.Command) {
	o := &mcpOptions{f: f, spec: spec}
	defer func() {
		if spec.flags != nil {
			spec.flags(o, cmd.Flags())
		}
		if spec.method == "completion/complete" {
			cmd.Flags().StringVar(&o.prompt, "prompt", "", "complete an argument of this prompt")
			cmd.Flags().StringVar(&o.resource, "resource", "", "complete an argument of this resource template URI")
			cmd.Flags().StringArrayVar(&o.context, "context", nil, "an argument already given, `NAME=VALUE`, which completions may depend on (repeatable)")
		}
		if spec.listKey != "" && spec.nargs == 0 {
			cmd.Flags().StringVar(&o.cursor, "cursor", "", "get one page, the one at this cursor (\"\": the first), with its nextCursor; default: every page")
		}
		if spec.listKey == "" && spec.method != "ping" {
			cmd.Flags().StringVar(&o.elicit, "elicit", "", "answer the server's elicitations during this call without asking: "+ask.ElicitFlagUsage+
				" (default: a form on the terminal, else the session's --elicit)")
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
		res, _, err = sessioncall.CallSession(ctx, o.f, o.session, o.spec.method, sessioncall.CursorParams(o.cursor))
	default:
		var asks *sessioncall.Asks
		if asks, err = o.asks(); err != nil {
			return err
		}
		call, done := sessioncall.CallOptions{Asks: asks}, func() {}
		if o.spec.progress {
			call.Progress, done = o.progressSink(asks)
		}
		res, _, err = sessioncall.CallSessionWith(ctx, o.f, o.session, o.spec.method, params, call)
		done() // the progress line goes before the result is printed
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
			if _, _, next, err := sessioncall.SplitPage(res, o.spec.listKey); err == nil && next != "" {
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

// mcpSpecs is every MCP request command, one file per noun (tools.go, resources.go, …).
func mcpSpecs() []*mcpSpec {
	return slices.Concat(toolSpecs(), resourceSpecs(), promptSpecs(), serverSpecs())
}

// NewMCPCommands makes the MCP request commands.
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

// asks is who answers the server's elicitations during the call: the --elicit flag, else
// the person at the terminal (stdin and stderr both terminals), else nobody here (the
// session's policy, in the bridge).
func (o *mcpOptions) asks() (*sessioncall.Asks, error) {
	a := &ask.Answerer{Session: o.session}
	switch {
	case o.elicit != "":
		policy, content, err := ask.ParseElicitFlag(o.elicit)
		if err != nil {
			return nil, err
		}
		a.Policy, a.Content = policy, content
	case o.f.IO.CanPrompt:
		a.In, a.Out = o.f.IO.In, o.f.IO.ErrOut
	default:
		return nil, nil
	}
	asks := &sessioncall.Asks{Caps: json.RawMessage(ask.Capabilities), Handle: a.Handle}
	if a.Policy == "" {
		asks.URLRequired = a.URLRequired // a person can open the URLs the server needs first
	}
	return asks, nil
}
