package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	eventscmd "github.com/mcpctl/mcpctl/cmd/internal/cmd/events"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
	"github.com/mcpctl/mcpctl/events"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/projector"
)

func NewCmdWait(f *cmdkit.Factory) *cobra.Command {
	var forWhat string
	cmd := sessionCmd("wait @session --for ready|exited|<event kind>", "Wait until the session is ready, its bridge exited, or an event of a kind arrives", 0,
		func(ctx context.Context, name string, _ []string) error {
			ctx, cancel := cmdkit.CommandContext(ctx, f)
			defer cancel()
			return runWait(ctx, f, name, forWhat)
		})
	cmd.Flags().StringVar(&forWhat, "for", "ready", "ready, exited, or an event kind ("+eventscmd.KindList()+")")
	return cmd
}

func runWait(ctx context.Context, f *cmdkit.Factory, name, forWhat string) error {
	if forWhat != "ready" && forWhat != "exited" && !events.Kind(forWhat).Known() {
		return clierr.WithHint(fmt.Errorf("--for %q: not ready, exited, nor an event kind", forWhat), clierr.ExitUsage, "one of: ready, exited, "+eventscmd.KindList())
	}
	hub, err := f.Hub(ctx)
	if err != nil {
		return err
	}
	target := name // @name or @name@node: what the user wrote, for messages
	remote := sessioncall.RemoteTarget(f, name)
	if remote {
		if _, err := sessioncall.CheckRemote(ctx, f, name, "wait"); err != nil {
			return err
		}
	}
	hub, name = hub.Target(name)
	s, err := sessioncall.LoadSession(ctx, hub, name)
	if err != nil {
		return err
	}
	if s.Status == "" {
		return sessioncall.NotFoundErr(target)
	}
	if forWhat == "ready" && remote {
		// Another node's bridge: settled and ready in the log is all this node can see.
		if s, err = sessioncall.WaitSettled(ctx, f, hub, s); err != nil {
			return err
		}
		if s.Status != projector.StatusReady {
			return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("@%s is %s: %s", target, s.Status, sessioncall.FirstNonEmpty(s.Error, s.Reason))}
		}
		return printWaited(f, target, forWhat, s, nil)
	}
	if forWhat == "ready" {
		c, s, err := sessioncall.ConnectBridge(ctx, f, name, "wait")
		if err != nil {
			return err
		}
		c.Close()
		return printWaited(f, target, forWhat, s, nil)
	}
	kind := events.Kind(forWhat)
	if forWhat == "exited" {
		kind = events.KindBridgeExited
		if s.Bridge == nil && !s.Status.Live() {
			return printWaited(f, target, forWhat, s, nil)
		}
	}
	var got *events.Event
	err = hub.Log.Follow(ctx, events.Query{Node: hub.Node, Session: name, AfterSeq: s.LastSeq}, func(e events.Event) error {
		s = projector.Apply(s, e)
		if e.Type == kind && (forWhat != "exited" || e.Generation >= s.Generation || s.Bridge == nil) {
			got = &e
			return errDone
		}
		return nil
	})
	if errors.Is(err, errDone) {
		return printWaited(f, target, forWhat, s, got)
	}
	if ctx.Err() != nil {
		return sessioncall.TimeoutErr(ctx, "waiting for "+forWhat+" on @"+target)
	}
	return err
}

var errDone = errors.New("done")

func printWaited(f *cmdkit.Factory, name, what string, s projector.Session, e *events.Event) error {
	if f.JSON {
		return cmdkit.WriteJSON(f.IO.Out, map[string]any{"session": name, "for": what, "state": s, "event": e})
	}
	if e != nil {
		fmt.Fprintf(f.IO.Out, "@%s: %s (seq %d, generation %d)\n", name, e.Type, e.Seq, e.Generation)
		return nil
	}
	fmt.Fprintf(f.IO.Out, "@%s: %s (generation %d)\n", name, s.Status, s.Generation)
	return nil
}
