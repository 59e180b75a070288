package mcp

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
)

// serverSpecs are the requests about the server itself: ping, logging-set-level, complete.
func serverSpecs() []*mcpSpec {
	return []*mcpSpec{
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
			use: "complete @session (--prompt P | --resource URI) ARG [VALUE] [--context NAME=VALUE …]", short: "Ask the server to complete an argument",
			method: "completion/complete", nargs: 1, maxArgs: 2,
			example: `  mcpctl @s complete --prompt greet style fr
  mcpctl @s complete --prompt order dish t --context cuisine=japanese`,
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
				params := map[string]any{"ref": ref, "argument": map[string]string{"name": args[0], "value": value}}
				if len(o.context) > 0 {
					given, err := parseCompleteContext(o.context)
					if err != nil {
						return nil, err
					}
					params["context"] = map[string]any{"arguments": given}
				}
				return MustJSON(params), nil
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

// parseCompleteContext reads the --context NAME=VALUE flags of complete: the arguments
// already given, sent as context.arguments. A value may be empty or hold '='; a name may
// not be empty nor given twice.
func parseCompleteContext(flags []string) (map[string]string, error) {
	given := map[string]string{}
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return nil, clierr.WithHint(fmt.Errorf("complete: --context %q is not NAME=VALUE", kv), clierr.ExitUsage,
				"mcpctl @s complete --prompt order dish t --context cuisine=japanese")
		case k == "":
			return nil, clierr.WithHint(fmt.Errorf("complete: --context %q has an empty name", kv), clierr.ExitUsage,
				"mcpctl @s complete --prompt order dish t --context cuisine=japanese")
		}
		if _, dup := given[k]; dup {
			return nil, clierr.UsageErr("complete: --context %s given twice", k)
		}
		given[k] = v
	}
	return given, nil
}
