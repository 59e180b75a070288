package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/mcp"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/sessions"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/projector"
)

type infoResult struct {
	Session    projector.Session `json:"session"`
	Initialize json.RawMessage   `json:"initialize"`
	Tools      []string          `json:"tools"`
}

func NewCmdInfo(f *cmdkit.Factory) *cobra.Command {
	return sessionCmd("info @session", "Show a session: server, capabilities, tool names (also: mcpctl @session)", 0,
		func(ctx context.Context, name string, _ []string) error {
			ctx, cancel := cmdkit.CommandContext(ctx, f)
			defer cancel()
			var s projector.Session
			var call func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)
			if sessioncall.RemoteTarget(f, name) {
				// Another node's session: its bridge answers over NATS (connect --remote).
				var err error
				if s, err = sessioncall.CheckRemote(ctx, f, name, "info"); err != nil {
					return err
				}
				call = func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
					res, rs, err := sessioncall.CallRemote(ctx, f, name, method, params)
					if rs.Status != "" {
						s = rs
					}
					return res, err
				}
			} else {
				c, ls, err := sessioncall.ConnectBridge(ctx, f, name, "info")
				if err != nil {
					return err
				}
				defer c.Close()
				s = ls
				var ccancel context.CancelFunc
				ctx, ccancel = sessioncall.CallContext(ctx, f, s, name)
				defer ccancel()
				call = func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
					res, err := c.Call(ctx, method, params)
					if err != nil {
						return nil, sessioncall.CallFailed(ctx, f, s, name, method, err)
					}
					return res, nil
				}
			}
			init, err := call(ctx, "initialize", mcp.MustJSON(map[string]any{"protocolVersion": sessioncall.FirstNonEmpty(s.ProtocolVersion, "2025-11-25"),
				"capabilities": map[string]any{}, "clientInfo": map[string]string{"name": "mcpctl", "version": cmdkit.Version}}))
			if err != nil {
				return err
			}
			r := infoResult{Session: s, Initialize: init, Tools: []string{}}
			var caps struct {
				Capabilities map[string]json.RawMessage `json:"capabilities"`
				Instructions string                     `json:"instructions"`
			}
			_ = json.Unmarshal(init, &caps)
			if _, ok := caps.Capabilities["tools"]; ok {
				res, err := sessioncall.ListAll(ctx, "tools", func(ctx context.Context, params json.RawMessage) (json.RawMessage, error) {
					return call(ctx, "tools/list", params)
				})
				var pe *sessioncall.PageError
				if errors.As(err, &pe) {
					return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("tools/list on @%s: %w", name, err)}
				} else if err != nil {
					return err
				}
				var tl struct{ Tools []mcp.ToolInfo }
				_ = json.Unmarshal(res, &tl)
				for _, t := range tl.Tools {
					r.Tools = append(r.Tools, t.Name)
				}
			}
			if f.JSON {
				return cmdkit.WriteJSON(f.IO.Out, r)
			}
			w := f.IO.Out
			fmt.Fprintf(w, "session:   @%s (%s, generation %d, bridge pid %s)\n", name, s.Status, s.Generation, bridgePID(s))
			fmt.Fprintf(w, "server:    %s %s — %s\n", s.ServerName, s.ServerVersion, sessions.ServerLabel(s.Server))
			fmt.Fprintf(w, "protocol:  %s\n", s.ProtocolVersion)
			var capNames []string
			for k := range caps.Capabilities {
				capNames = append(capNames, k)
			}
			fmt.Fprintf(w, "supports:  %s\n", strings.Join(sortedStrings(capNames), ", "))
			if len(r.Tools) > 0 {
				fmt.Fprintf(w, "tools:     %s\n", strings.Join(r.Tools, ", "))
			}
			if caps.Instructions != "" {
				fmt.Fprintf(w, "instructions:\n  %s\n", strings.ReplaceAll(strings.TrimSpace(caps.Instructions), "\n", "\n  "))
			}
			return nil
		})
}

func bridgePID(s projector.Session) string {
	if s.Bridge == nil {
		return "-"
	}
	return strconv.Itoa(s.Bridge.PID)
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
