package grep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/projector"
)

// searchParallel bounds how many sessions are searched at once.
const searchParallel = 4

type GrepOptions struct {
	F       *cmdkit.Factory
	Pattern string
	// Session, when set, is the one session to search (`mcpctl @s grep`); it is started
	// like any command's session would be. Otherwise every live session of this node is.
	Session string
}

// Result is what `grep --json` prints.
type Result struct {
	Matches  []Item    `json:"matches"`
	Searched []string  `json:"searched"`
	Skipped  []Skipped `json:"skipped"`
}

// Skipped is a session grep did not search: not live (its status), or its lists failed.
type Skipped struct {
	Session string `json:"session"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
}

func NewCmdGrep(f *cmdkit.Factory, runF func(context.Context, *GrepOptions) error) *cobra.Command {
	o := &GrepOptions{F: f}
	return &cobra.Command{
		Use:   "grep [@session] PATTERN",
		Short: "Search tools, resources, templates and prompts of every live session (or one) by name, title, description",
		Long: `grep searches the tools, resources, resource templates and prompts of every live session
on this node (or of one: mcpctl @s grep PATTERN) by name, title and description (and a
resource's URI). PATTERN is a Go regexp; it ignores case unless it has an upper-case letter.
Every list is read to its last page; sessions that are not live (crashed, starting, …) are
skipped with a note on stderr, without starting them. A session without prompts or
resources simply has none.`,
		Example: `  mcpctl grep search
  mcpctl grep '^page_tool_0[1-3]$' --json
  mcpctl @docs grep 'Issue|PR'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && strings.HasPrefix(args[0], "@") {
				args = args[1:]
			}
			if len(args) != 1 {
				return clierr.WithHint(fmt.Errorf("grep: want one PATTERN, got %d arguments", len(args)), clierr.ExitUsage, "mcpctl grep PATTERN   or   mcpctl @session grep PATTERN")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.HasPrefix(args[0], "@") {
				name, err := sessioncall.ParseSessionArg(args[0])
				if err != nil {
					return err
				}
				o.Session, args = name, args[1:]
			}
			o.Pattern = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return RunGrep(cmd.Context(), o)
		},
	}
}

func RunGrep(ctx context.Context, o *GrepOptions) error {
	f := o.F
	// The pattern is checked before anything is dialled: a bad one starts no hub.
	re, err := CompilePattern(o.Pattern)
	if err != nil {
		return err
	}
	ctx, cancel := cmdkit.CommandContext(ctx, f)
	defer cancel()
	res := Result{Matches: []Item{}, Searched: []string{}, Skipped: []Skipped{}}
	var targets []string
	if o.Session != "" {
		targets = []string{o.Session}
	} else {
		hub, err := f.Hub(ctx)
		if err != nil {
			return err
		}
		p, err := projector.LoadAll(ctx, hub.Store, hub.Node)
		if err != nil {
			return err
		}
		list := p.List(hub.Node)
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		for _, s := range list {
			if !s.IsOpen() {
				continue
			}
			if !live(s) {
				res.Skipped = append(res.Skipped, Skipped{Session: s.Name, Status: string(s.Status), Reason: "not live"})
				continue
			}
			targets = append(targets, s.Name)
		}
		if len(targets) == 0 && len(res.Skipped) == 0 {
			return clierr.WithHint(errors.New("grep: no sessions on this node to search"), clierr.ExitUsage, "open one: mcpctl connect <server> @name")
		}
	}

	type outcome struct {
		items []Item
		err   error
	}
	outcomes := make([]outcome, len(targets))
	var wg sync.WaitGroup
	sem := make(chan struct{}, searchParallel)
	for i, name := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			items, err := SessionItems(ctx, f, name)
			outcomes[i] = outcome{items, err}
		}()
	}
	wg.Wait()

	var failed []error
	for i, name := range targets {
		oc := outcomes[i]
		if oc.err != nil {
			if o.Session != "" {
				return oc.err // the one session asked for: its error, its exit code
			}
			failed = append(failed, oc.err)
			res.Skipped = append(res.Skipped, Skipped{Session: name, Status: "error", Reason: oc.err.Error()})
			continue
		}
		res.Searched = append(res.Searched, name)
		for _, it := range oc.items {
			if it.Match(re) {
				res.Matches = append(res.Matches, it)
			}
		}
	}
	for _, s := range res.Skipped {
		if s.Status == "error" {
			fmt.Fprintf(f.IO.ErrOut, "grep: could not search @%s: %s\n", s.Session, s.Reason)
		} else {
			fmt.Fprintf(f.IO.ErrOut, "grep: skipped @%s: %s, not live (mcpctl @%s grep PATTERN starts it)\n", s.Session, s.Status, s.Session)
		}
	}
	if f.JSON {
		if err := cmdkit.WriteJSON(f.IO.Out, res); err != nil {
			return err
		}
	} else if err := printMatches(f, res.Matches); err != nil {
		return err
	}
	switch {
	case len(failed) > 0:
		return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("grep: %d of %d sessions could not be searched: %w", len(failed), len(targets), errors.Join(failed...))}
	case len(res.Searched) == 0:
		return clierr.WithHint(errors.New("grep: no live session to search"), clierr.ExitNetwork, "start one: mcpctl @name wait --for ready   (or search it: mcpctl @name grep PATTERN)")
	}
	if len(res.Matches) == 0 && !f.JSON {
		fmt.Fprintf(f.IO.ErrOut, "grep: no match for %q in %d sessions\n", o.Pattern, len(res.Searched))
	}
	return nil
}

// live: ready, with a bridge that runs. grep of every session never starts one.
func live(s projector.Session) bool {
	return s.Status == projector.StatusReady && s.Bridge != nil && proc.Alive(s.Bridge.PID, s.Bridge.PIDStartTime)
}

func printMatches(f *cmdkit.Factory, matches []Item) error {
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	for _, m := range matches {
		text := sessioncall.FirstNonEmpty(m.Title, m.Description)
		if m.URI != "" {
			text = strings.TrimSpace(m.URI + "  " + firstLine(text, 80))
		}
		fmt.Fprintf(tw, "@%s\t%s\t%s\t%s\n", printable(m.Session), m.Kind, f.IO.Color("1", printable(m.Name)), printable(firstLine(text, 100)))
	}
	return tw.Flush()
}

// caller makes one MCP request on a session.
type caller func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)

// SessionItems reads every tool, resource, resource template and prompt of a session, each
// list to its last page (the bridge answers from its cache what the server let it cache).
// Only the lists the server declares a capability for are asked for.
func SessionItems(ctx context.Context, f *cmdkit.Factory, name string) ([]Item, error) {
	var call caller
	version := "2025-11-25"
	if sessioncall.RemoteTarget(f, name) {
		call = func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
			res, _, err := sessioncall.CallSession(ctx, f, name, method, params)
			return res, err
		}
	} else {
		c, s, err := sessioncall.ConnectBridge(ctx, f, name, "grep")
		version = sessioncall.FirstNonEmpty(s.ProtocolVersion, version)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		call = func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
			cctx, cancel := sessioncall.CallContext(ctx, f, s, name)
			defer cancel()
			res, err := c.Call(cctx, method, params)
			if err != nil {
				return nil, sessioncall.CallFailed(cctx, f, s, name, method, err)
			}
			return res, nil
		}
	}
	init, err := call(ctx, "initialize", mustJSON(map[string]any{"protocolVersion": version,
		"capabilities": map[string]any{}, "clientInfo": map[string]string{"name": "mcpctl", "version": cmdkit.Version}}))
	if err != nil {
		return nil, err
	}
	var caps struct {
		Capabilities map[string]json.RawMessage `json:"capabilities"`
	}
	_ = json.Unmarshal(init, &caps)
	var items []Item
	for _, l := range lists {
		if _, ok := caps.Capabilities[l.capability]; !ok {
			continue
		}
		res, err := sessioncall.ListAll(ctx, l.key, func(ctx context.Context, params json.RawMessage) (json.RawMessage, error) {
			return call(ctx, l.method, params)
		})
		var rerr *rpc.RPCError
		if l.optional && errors.As(err, &rerr) && rerr.Code == -32601 {
			continue // resources without templates: the server may not know the method
		}
		var pe *sessioncall.PageError
		if errors.As(err, &pe) {
			return nil, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%s on @%s: %w; stopped paging", l.method, name, err)}
		}
		if err != nil {
			var ce *clierr.Error
			if l.optional && errors.As(err, &ce) && ce.Code == clierr.ExitServer && strings.Contains(err.Error(), "-32601") {
				continue
			}
			return nil, err
		}
		var page map[string]json.RawMessage
		_ = json.Unmarshal(res, &page)
		var raws []json.RawMessage
		_ = json.Unmarshal(page[l.key], &raws)
		for _, raw := range raws {
			var x struct {
				Name        string `json:"name"`
				Title       string `json:"title"`
				Description string `json:"description"`
				URI         string `json:"uri"`
				URITemplate string `json:"uriTemplate"`
			}
			if json.Unmarshal(raw, &x) != nil {
				continue // an item not of the spec's shape has nothing to match
			}
			items = append(items, Item{Session: name, Kind: l.kind, Name: x.Name, Title: x.Title, Description: x.Description,
				URI: sessioncall.FirstNonEmpty(x.URI, x.URITemplate)})
		}
	}
	return items, nil
}

// lists are the lists grep reads, in the order it prints them.
var lists = []struct {
	kind, capability, method, key string
	optional                      bool
}{
	{KindTool, "tools", "tools/list", "tools", false},
	{KindResource, "resources", "resources/list", "resources", false},
	{KindTemplate, "resources", "resources/templates/list", "resourceTemplates", true},
	{KindPrompt, "prompts", "prompts/list", "prompts", false},
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
