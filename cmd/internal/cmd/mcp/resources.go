package mcp

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
)

// resourceSpecs are the resources commands: list, templates-list, read, subscribe, unsubscribe.
func resourceSpecs() []*mcpSpec {
	return []*mcpSpec{
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
	}
}
