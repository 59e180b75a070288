package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/projector"
)

func newCmdClose(f *Factory) *cobra.Command {
	return sessionCmd("close @session", "Close a session: its bridge exits and its secrets are deleted", 0,
		func(ctx context.Context, name string, _ []string) error {
			ctx, cancel := commandContext(ctx, f)
			defer cancel()
			hub, err := f.Hub(ctx)
			if err != nil {
				return err
			}
			remote := remoteTarget(f, name)
			target := name // @name or @name@node: what the user wrote, for messages
			hub, name = hub.target(name)
			s, err := loadSession(ctx, hub, name)
			if err != nil {
				return err
			}
			s, closedNow, err := projector.RequestClose(ctx, hub.Log, s, "explicit: mcpctl close")
			if err != nil {
				return err
			}
			if s.Status == "" || (s.Cleaned && !closedNow) {
				return notFoundErr(target)
			}
			if !remote { // another node's secrets are on that machine
				removeSecrets(hub.Home, s.Server.Secrets)
			}
			if f.JSON {
				return writeJSON(f.IO.Out, map[string]any{"session": name, "closed": true, "already_closed": !closedNow})
			}
			if closedNow {
				fmt.Fprintf(f.IO.Out, "@%s closed\n", target)
			} else {
				fmt.Fprintf(f.IO.Out, "@%s was already closed\n", target)
			}
			return nil
		})
}

// ---- clean
