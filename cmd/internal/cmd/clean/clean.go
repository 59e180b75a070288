package clean

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/orphans"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

type cleanOptions struct {
	f   *cmdkit.Factory
	all bool
}

func NewCmdClean(f *cmdkit.Factory) *cobra.Command {
	o := &cleanOptions{f: f}
	cmd := &cobra.Command{
		Use:   "clean [--all]",
		Short: "Forget closed and dead sessions and remove their leftovers (never a live bridge's socket)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClean(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "close every session first, then clean them all")
	return cmd
}

func runClean(ctx context.Context, o *cleanOptions) error {
	f := o.f
	ctx, cancel := cmdkit.CommandContext(ctx, f)
	defer cancel()
	hub, err := f.Hub(ctx)
	if err != nil {
		return err
	}
	p, err := projector.LoadAll(ctx, hub.Store, hub.Node)
	if err != nil {
		return err
	}
	var cleaned []string
	for _, s := range p.List(hub.Node) {
		s, err := projector.Refresh(ctx, hub.Log, s)
		if err != nil {
			return err
		}
		reason := "mcpctl clean"
		if o.all {
			reason = "mcpctl clean --all"
		}
		// Closed first when --all finds it open, then cleaned: one decision a round.
		for {
			var seq uint64
			s, seq, err = projector.Update(ctx, hub.Log, s, nil, func(s projector.Session) (*events.Event, error) {
				if s.Cleaned || (s.Status.Live() && !o.all) {
					return nil, nil
				}
				kind := events.KindCleaned
				if s.IsOpen() && o.all {
					kind = events.KindClosed
				}
				e := events.New(kind, hub.Node, s.Name, s.Generation)
				e.Reason = reason
				return &e, nil
			})
			if err != nil {
				return err
			}
			if seq == 0 {
				break
			}
			if s.Cleaned {
				cleaned = append(cleaned, s.Name)
				homedir.RemoveSecrets(hub.Home, s.Server.Secrets)
				break
			}
		}
	}
	// Bridges the log does not know (the store was lost under them): the KV may trail the
	// log, so each candidate is checked against the log itself before it is stopped.
	var found []orphans.Orphan
	for _, o := range orphans.Find(hub.Home, hub.Node, orphans.KnownIn(p.List(hub.Node))) {
		s, err := projector.Refresh(ctx, hub.Log, projector.Session{Node: hub.Node, Name: o.Session})
		if err != nil {
			return err
		}
		if s.Status == "" || s.Generation < o.Generation {
			found = append(found, o)
		}
	}
	orphans.Stop(ctx, hub.Home, found, slog.New(slog.DiscardHandler))
	removed := cleanSockets(hub.Home)
	if f.JSON {
		if cleaned == nil {
			cleaned = []string{}
		}
		stopped := make([]string, 0, len(found))
		for _, o := range found {
			stopped = append(stopped, o.Session)
		}
		return cmdkit.WriteJSON(f.IO.Out, map[string]any{"cleaned": cleaned, "sockets_removed": removed, "orphans_stopped": stopped})
	}
	for _, n := range cleaned {
		fmt.Fprintf(f.IO.Out, "cleaned @%s\n", n)
	}
	if len(found) > 0 {
		fmt.Fprintf(f.IO.Out, "stopped bridges the log does not know: %s\n", orphans.Summary(found))
	}
	if len(cleaned) == 0 && len(found) == 0 {
		fmt.Fprintln(f.IO.ErrOut, "nothing to clean")
	}
	return nil
}

// cleanSockets removes socket files whose bridge process is gone. A socket is named
// <session>.<pid>.sock; it is left alone while that pid is a running bridge for that
// session, so clean never cuts off a live bridge (a reused pid of another program does not
// keep a dead bridge's socket either). The short fallback directory (for homes whose paths
// are too long for a socket) is shared by the user's homes: a dead bridge's socket there is
// garbage to all of them, and a live one is kept whoever owns it.
func cleanSockets(home homedir.Home) int {
	removed := 0
	for _, dir := range []string{home.BridgeDir(), rpc.FallbackDir()} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			name := e.Name()
			if !strings.HasSuffix(name, ".sock") {
				continue
			}
			base := strings.TrimSuffix(name, ".sock")
			i := strings.LastIndexByte(base, '.')
			if i <= 0 {
				continue
			}
			session := base[:i]
			pid, err := strconv.Atoi(base[i+1:])
			if err != nil {
				continue
			}
			if isBridgeOf(pid, session) {
				continue
			}
			if os.Remove(filepath.Join(dir, name)) == nil {
				removed++
			}
		}
	}
	return removed
}

// isBridgeOf reports whether pid is a live (non-zombie) `mcpctl bridge --session session`.
func isBridgeOf(pid int, session string) bool {
	if _, err := proc.StartTime(pid); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i, a := range args {
		if a == "--session" && i+1 < len(args) && args[i+1] == session {
			return len(args) > 1 && args[1] == "bridge"
		}
	}
	return false
}
