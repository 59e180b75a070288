package session

import (
	"context"
	"fmt"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/projector"
)

type restartResult struct {
	Session    string `json:"session"`
	Started    bool   `json:"started"` // false: joined a restart already under way
	Generation uint64 `json:"generation"`
	Status     string `json:"status"`
	PID        int    `json:"pid,omitempty"`
}

func NewCmdRestart(f *cmdkit.Factory) *cobra.Command {
	var cmd *cobra.Command
	cmd = sessionCmd("restart @session", "Restart a session's bridge (parallel callers join one restart)", 0,
		func(ctx context.Context, name string, _ []string) error {
			since := sessioncall.LaunchedTogetherAt(sessioncall.InvokedAt(), cmd.Root().PersistentFlags())
			ctx, cancel := cmdkit.CommandContext(ctx, f)
			defer cancel()
			a, s, err := sessioncall.Load(ctx, f, name)
			if err != nil {
				return err
			}
			hub, name, target, remote := a.Hub, a.Name, a.As, a.Remote
			if s.Status == "" || s.Cleaned {
				return sessioncall.NotFoundErr(target)
			}
			s, started, err := sessioncall.RequestRestartOpts(ctx, hub, s, projector.RestartOptions{
				Reason: "explicit: mcpctl restart", Since: since, Fresh: true})
			if err != nil {
				return sessioncall.Retarget(err, name, target)
			}
			// Wait for the requested generation itself: the KV may still list the previous
			// one as ready, and its bridge answers until it notices it was superseded.
			if s, err = sessioncall.WaitSettled(ctx, f, hub, s); err != nil {
				return err
			}
			var c *rpc.Client
			if remote {
				// Another node's bridge: its pid and socket are that machine's. Settled is
				// all this node can see.
				if s.Status != projector.StatusReady {
					return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("@%s is %s after the restart: %s", target, s.Status, sessioncall.FirstNonEmpty(s.Error, s.Reason))}
				}
			} else if s.Status == projector.StatusReady && s.Bridge != nil && proc.Alive(s.Bridge.PID, s.Bridge.PIDStartTime) {
				c, _ = rpc.Dial(ctx, s.Bridge.Socket)
			}
			if c == nil && !remote {
				if c, s, err = sessioncall.ConnectBridge(ctx, f, name, "restart"); err != nil {
					return err
				}
			}
			if c != nil {
				c.Close()
			}
			r := restartResult{Session: name, Started: started, Generation: s.Generation, Status: string(s.Status)}
			if s.Bridge != nil {
				r.PID = s.Bridge.PID
			}
			if f.JSON {
				return cmdkit.WriteJSON(f.IO.Out, r)
			}
			verb := "joined the restart to"
			if started {
				verb = "restarted to"
			}
			fmt.Fprintf(f.IO.Out, "@%s %s generation %d (bridge pid %d)\n", target, verb, r.Generation, r.PID)
			return nil
		})
	return cmd
}
