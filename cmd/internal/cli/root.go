// Package cli is mcpctl's root: the command tree (one package per command under
// cmd/internal/cmd), the session-first grammar, and Main. Errors become exit codes in
// cmdkit.Run, in one place.
//
//	mcpctl ──► Factory (lazy: home, node, hub connection)
//	   │            │
//	   │            └─► hub (mcpctld hub run): embedded NATS + JetStream ─ projector ─ supervisor
//	   └─► bridge socket (MCP JSON-RPC) ─► bridge (mcpctld bridge) ─► MCP server
package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/clean"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/connect"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/doctor"
	eventscmd "github.com/mcpctl/mcpctl/cmd/internal/cmd/events"
	grepcmd "github.com/mcpctl/mcpctl/cmd/internal/cmd/grep"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/hub"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/login"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/logout"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/mcp"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/profiles"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/session"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/sessions"
	shellcmd "github.com/mcpctl/mcpctl/cmd/internal/cmd/shell"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/top"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"

	"github.com/spf13/cobra"
)

// Main runs mcpctl with the process's arguments and streams and returns the exit code.
func Main() int {
	return Run(context.Background(), os.Args[1:], cmdkit.System())
}

// Run runs mcpctl with args on the given streams.
func Run(ctx context.Context, args []string, io *cmdkit.IOStreams) int {
	return cmdkit.Run(ctx, args, io, cmdkit.Program{Root: NewRootCmd, Args: rewriteArgs, Streams: StrictCompletion})
}

// rewriteArgs reads mcpctl's grammar (help for an unknown command, the session first) into
// the words cobra parses: for the command line and for each line of the shell alike.
func rewriteArgs(root *cobra.Command, args []string) []string {
	takes := cmdkit.GlobalFlagTakesValue(root.PersistentFlags())
	isCommand := func(w string) bool {
		c, _, err := root.Find([]string{w})
		return err == nil && c != root
	}
	args = cmdkit.HelpForUnknownCommand(args, takes, isCommand)
	return cmdkit.RewriteSessionArgs(args, takes)
}

// lineRunner runs a shell line through the same command tree and grammar as Run, on the
// shell's factory: the hub connection is made once, for the whole shell.
func lineRunner(f *cmdkit.Factory) shellcmd.Exec {
	return func(ctx context.Context, args []string, io *cmdkit.IOStreams) int {
		return cmdkit.Run(ctx, args, io, cmdkit.Program{Root: NewRootCmd, Args: rewriteArgs, Streams: StrictCompletion, Factory: func(io *cmdkit.IOStreams) *cmdkit.Factory {
			line := *f
			line.IO = io
			return &line
		}})
	}
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *cmdkit.Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "mcpctl",
		Short: "Persistent, named sessions to MCP servers, with an event log of everything they do",
		Long: `mcpctl keeps named sessions to MCP servers open in small bridge processes, so the shell
and scripts can call them many times, in parallel, without reconnecting. Every lifecycle fact
(created, restart requested, bridge spawned, ready, exited, closed, cleaned) is an event in a
durable log that you can tail with 'mcpctl events'.

  mcpctl connect https://host/mcp @docs       open a session
  mcpctl @docs tools-list                       call it
  mcpctl @docs tools-call search query:=nats
  mcpctl events -f                              watch what happens`,
		Version:       cmdkit.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		// cobra.NoArgs would say "unknown command" without the "did you mean" cobra offers
		// on its own only when Args is unset.
		SuggestionsMinimumDistance: 2,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				return &clierr.Error{Code: clierr.ExitUsage, Err: err, Hint: "did you mean " + strings.Join(s, " or ") + "? (all commands: mcpctl --help)"}
			}
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return sessions.RunSessions(cmd.Context(), &sessions.SessionsOptions{F: f})
		},
	}
	root.SetVersionTemplate("mcpctl {{.Version}}\n")
	cmdkit.AddGlobalFlags(root.PersistentFlags(), f)

	root.AddCommand(
		connect.NewCmdConnect(f),
		sessions.NewCmdSessions(f),
		session.NewCmdInfo(f),
		session.NewCmdRestart(f),
		session.NewCmdClose(f),
		clean.NewCmdClean(f),
		session.NewCmdLogs(f),
		session.NewCmdWait(f),
		session.NewCmdProxy(f),
		session.NewCmdHistory(f),
		eventscmd.NewCmdEvents(f),
		hub.NewCmdHub(f),
		doctor.NewCmdDoctor(f),
		login.NewCmdLogin(f, nil),
		logout.NewCmdLogout(f, nil),
		profiles.NewCmdProfiles(f, nil),
		top.NewCmdTop(f, nil),
		grepcmd.NewCmdGrep(f, nil),
		shellcmd.NewCmdShell(f, lineRunner(f), nil),
	)
	root.AddCommand(mcp.NewMCPCommands(f)...)
	root.SetHelpCommand(newHelpCmd(root))
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &clierr.Error{Code: clierr.ExitUsage, Err: err, Hint: cmd.CommandPath() + " --help"}
	})
	return root
}

// strictCompletion makes `mcpctl completion bogus` an error naming the shells: cobra's own
// completion command is not runnable, so cobra prints its help and exits 0 for any argument.
func StrictCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		var shells []string
		for _, sc := range c.Commands() {
			shells = append(shells, sc.Name())
		}
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			return clierr.WithHint(fmt.Errorf("completion: unknown shell %q", args[0]), clierr.ExitUsage,
				"one of: "+strings.Join(shells, ", ")+" (e.g. mcpctl completion bash)")
		}
		c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	}
}
