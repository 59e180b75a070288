package hub

import (
	"errors"
	"fmt"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

func NewCmdHub(f *cmdkit.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run, start, stop or inspect the hub (the event log, projector and supervisor)",
		Long: `The hub owns the event store under $MCPCTL_HOME/hub, folds events into session state and
supervises bridges. Commands start it when they need it; you rarely call these yourself.`,
		Args: cobra.NoArgs,
		// Runnable, so that cobra checks Args: `hub bogus` is an unknown command (exit 1),
		// not the help text with exit 0.
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCmdHubRun(f), newCmdHubStart(f), newCmdHubStop(f), newCmdHubStatus(f))
	return cmd
}

type hubStartOptions struct{ f *cmdkit.Factory }

func newCmdHubStart(f *cmdkit.Factory) *cobra.Command {
	o := &hubStartOptions{f: f}
	return &cobra.Command{
		Use:   "start",
		Short: "Start the hub in the background if it is not running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := o.f.Hub(cmd.Context())
			if err != nil {
				return err
			}
			defer h.Close()
			return printHubStatus(o.f, hubStatus{Running: true, URL: h.Addr.URL, PID: h.Addr.PID, Build: h.Addr.Build,
				Started: h.Addr.Started, Home: h.Home.Dir, Node: h.Node, Current: true})
		},
	}
}

func newCmdHubStop(f *cmdkit.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Stop the hub (bridges keep running and are adopted by the next hub)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := f.Home()
			if err != nil {
				return err
			}
			addr, err := jetstream.ReadAddress(home.AddressFile())
			if err != nil {
				fmt.Fprintln(f.IO.ErrOut, "no hub running")
				return nil
			}
			if err := hubclient.StopHubProcess(cmd.Context(), addr, hubclient.HubStopTimeout); errors.Is(err, hubclient.ErrNotAHub) {
				fmt.Fprintf(f.IO.ErrOut, "no hub running (pid %d in hub.json is another program; left alone)\n", addr.PID)
				return nil
			} else if err != nil {
				return err
			}
			if !f.JSON {
				fmt.Fprintf(f.IO.Out, "hub (pid %d) stopped\n", addr.PID)
				return nil
			}
			return cmdkit.WriteJSON(f.IO.Out, map[string]any{"stopped": true, "pid": addr.PID})
		},
	}
}

type hubStatus struct {
	Running bool      `json:"running"`
	URL     string    `json:"url,omitempty"`
	PID     int       `json:"pid,omitempty"`
	Build   string    `json:"build,omitempty"`
	Current bool      `json:"current_build"`
	Started time.Time `json:"started,omitzero"`
	Home    string    `json:"home"`
	Node    string    `json:"node"`
	Error   string    `json:"error,omitempty"`
}

func newCmdHubStatus(f *cmdkit.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Say whether the hub runs, where, and since when (never starts it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := f.Home()
			if err != nil {
				return err
			}
			node, err := f.Node()
			if err != nil {
				return err
			}
			st := hubStatus{Home: home.Dir, Node: node}
			addr, err := jetstream.ReadAddress(home.AddressFile())
			if err != nil {
				st.Error = err.Error()
			} else if start, perr := proc.StartTime(addr.PID); perr != nil || start == 0 {
				st.Error = fmt.Sprintf("address file names pid %d, which is not running", addr.PID)
			} else {
				st.Running, st.URL, st.PID, st.Build, st.Started = true, addr.URL, addr.PID, addr.Build, addr.Started
				st.Current = addr.Build == f.Build()
			}
			if err := printHubStatus(f, st); err != nil {
				return err
			}
			if !st.Running {
				return &clierr.Error{Code: clierr.ExitNetwork, Err: cmdkit.ErrSilent}
			}
			return nil
		},
	}
}

func printHubStatus(f *cmdkit.Factory, st hubStatus) error {
	if f.JSON {
		return cmdkit.WriteJSON(f.IO.Out, st)
	}
	if !st.Running {
		fmt.Fprintf(f.IO.Out, "hub: not running%s\nhome: %s\n", clierr.Paren(st.Error), st.Home)
		return nil
	}
	cur := ""
	if !st.Current {
		cur = " (another build: the next command replaces it)"
	}
	fmt.Fprintf(f.IO.Out, "hub:     running, pid %d, since %s\nurl:     %s\nbuild:   %s%s\nhome:    %s\nnode:    %s\n",
		st.PID, st.Started.Local().Format(time.RFC3339), st.URL, st.Build, cur, st.Home, st.Node)
	return nil
}
