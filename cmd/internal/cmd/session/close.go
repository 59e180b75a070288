package session

import (
	"context"
	"fmt"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/projector"
)

func NewCmdClose(f *cmdkit.Factory) *cobra.Command {
	return sessionCmd("close @session", "Close a session: its bridge exits and its secrets are deleted", 0,
		func(ctx context.Context, name string, _ []string) error {
			ctx, cancel := cmdkit.CommandContext(ctx, f)
			defer cancel()
			a, s, err := sessioncall.Load(ctx, f, name)
			if err != nil {
				return err
			}
			hub, name, target, remote := a.Hub, a.Name, a.As, a.Remote
			s, closedNow, err := projector.RequestClose(ctx, hub.Log, s, "explicit: mcpctl close")
			if err != nil {
				return err
			}
			if s.Status == "" || (s.Cleaned && !closedNow) {
				return sessioncall.NotFoundErr(target)
			}
			if !remote { // another node's secrets are on that machine
				homedir.RemoveSecrets(hub.Home, s.Server.Secrets)
			}
			if f.JSON {
				return cmdkit.WriteJSON(f.IO.Out, map[string]any{"session": name, "closed": true, "already_closed": !closedNow})
			}
			if closedNow {
				fmt.Fprintf(f.IO.Out, "@%s closed\n", target)
			} else {
				fmt.Fprintf(f.IO.Out, "@%s was already closed\n", target)
			}
			return nil
		})
}
