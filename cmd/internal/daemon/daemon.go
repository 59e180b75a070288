// Package daemon is mcpctld, the binary of mcpctl's long-running processes: the hub
// (embedded NATS JetStream, projector follower, supervisor) and the bridges it spawns, one per
// session generation. mcpctl execs it; it links none of the CLI's commands.
//
//	mcpctl ──spawn──► mcpctld hub run ──spawn──► mcpctld bridge --session S --generation G
package daemon

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/cmd/internal/bridgeproc"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/hubd"
)

// Main runs mcpctld with the process's arguments and streams and returns the exit code.
func Main() int {
	return cmdkit.Run(context.Background(), os.Args[1:], cmdkit.System(), cmdkit.Program{Root: NewRootCmd})
}

// NewRootCmd builds mcpctld's command tree: what it runs, nothing else.
func NewRootCmd(f *cmdkit.Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "mcpctld",
		Short: "mcpctl's daemon: runs the hub and the session bridges (mcpctl starts it)",
		Long: `mcpctld runs mcpctl's long-running processes. mcpctl starts the hub with 'mcpctld hub run'
when a command needs it, and the hub starts one 'mcpctld bridge' per session generation.
There is nothing here to call by hand; see 'mcpctl --help'.`,
		Version:       cmdkit.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.SetVersionTemplate("mcpctld {{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = true
	cmdkit.AddGlobalFlags(root.PersistentFlags(), f)
	root.AddCommand(hubd.NewCmdHub(f), bridgeproc.NewCmd(f))
	return root
}
