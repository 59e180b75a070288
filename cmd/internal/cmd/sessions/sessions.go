package sessions

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

type SessionsOptions struct {
	F        *cmdkit.Factory
	at       string
	allNodes bool
}

func NewCmdSessions(f *cmdkit.Factory) *cobra.Command {
	o := &SessionsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List the sessions on this node (also what `mcpctl` alone prints)",
		Example: `  mcpctl sessions
  mcpctl sessions --at 10m          the listing as it was ten minutes ago
  mcpctl sessions --at 1234         … as it was right after event 1234`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return RunSessions(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.at, "at", "", "time travel: the listing as of a time (RFC 3339 or a duration ago) or an event sequence")
	cmd.Flags().BoolVar(&o.allNodes, "all-nodes", false, "list the sessions of every node sharing the NATS cluster (address them as @name@node)")
	return cmd
}

func RunSessions(ctx context.Context, o *SessionsOptions) error {
	f := o.F
	var (
		until func(events.Event) bool
		err   error
	)
	if o.at != "" {
		if until, err = parseAt(o.at, time.Now()); err != nil {
			return err
		}
	}
	hub, err := f.Hub(ctx)
	if err != nil {
		return err
	}
	var list []projector.Session
	node := hub.Node
	if o.allNodes {
		node = ""
	}
	if until != nil {
		p, err := projector.Fold(ctx, hub.Log, events.Query{Node: node}, until)
		if err != nil {
			return err
		}
		list = p.List(node)
	} else {
		p, err := projector.LoadAll(ctx, hub.Store, node)
		if err != nil {
			return err
		}
		list = p.List(node)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Node != list[j].Node {
			return list[i].Node < list[j].Node
		}
		return list[i].Name < list[j].Name
	})
	if f.JSON {
		if list == nil {
			list = []projector.Session{}
		}
		return cmdkit.WriteJSON(f.IO.Out, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(f.IO.ErrOut, "no sessions. Open one with: mcpctl connect <server> @name")
		return nil
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tSTATUS\tGEN\tPID\tSERVER\tSINCE")
	for _, s := range list {
		pid := "-"
		if s.Bridge != nil {
			pid = strconv.Itoa(s.Bridge.PID)
		}
		name := s.Name
		if s.Node != hub.Node {
			name += "@" + s.Node // how another node's session is addressed
		}
		fmt.Fprintf(tw, "@%s\t%s\t%d\t%s\t%s\t%s\n", name, f.IO.Color(StatusColor(s.Status), string(s.Status)),
			s.Generation, pid, ServerLabel(s.Server), ago(s.Updated))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// What fixes a session refused for its OAuth profile.
	for _, s := range list {
		if s.Status == projector.StatusUnauthorized && s.Node == hub.Node && until == nil {
			if h := sessioncall.AuthHint(f, s); h != "" {
				fmt.Fprintf(f.IO.Out, "@%s is unauthorized. Try: %s\n", s.Name, h)
			}
		}
	}
	return nil
}

// parseAt reads --at: an event sequence (digits) or a time.
func parseAt(v string, now time.Time) (func(events.Event) bool, error) {
	if seq, err := strconv.ParseUint(v, 10, 64); err == nil {
		return func(e events.Event) bool { return e.Seq > seq }, nil
	}
	t, err := cmdkit.ParseTime("at", v, now)
	if err != nil {
		return nil, err
	}
	return func(e events.Event) bool { return e.Time.After(t) }, nil
}

// StatusColor is the ANSI colour of a status: green ready, yellow on its way, grey closed,
// red otherwise (sessions, top).
func StatusColor(s projector.Status) string {
	switch s {
	case projector.StatusReady:
		return "32"
	case projector.StatusStarting, projector.StatusRestarting:
		return "33"
	case projector.StatusClosed:
		return "90"
	}
	return "31"
}

func ServerLabel(s events.Server) string {
	switch s.Transport {
	case events.TransportStdio:
		l := strings.Join(append([]string{s.Command}, s.Args...), " ")
		if len(l) > 48 {
			l = l[:45] + "..."
		}
		return l
	}
	return s.URL
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return d.String() + " ago"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Local().Format("2006-01-02")
}
