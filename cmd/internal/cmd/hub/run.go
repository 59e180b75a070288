package hub

import (
	"fmt"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
)

// newCmdHubRun is `mcpctl hub run`: the hub itself lives in the daemon binary, so this
// replaces the process with `mcpctld hub run` and the same flags (same pid, same signals,
// same exit code). Flag errors are the daemon's to report.
func newCmdHubRun(f *cmdkit.Factory) *cobra.Command {
	return &cobra.Command{
		Use:                "run [--lazy-sync] [--idle D]",
		Short:              "Run the hub in the foreground (execs " + hubclient.DaemonName + " hub run)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			exe, err := hubclient.DaemonExecutable(f.Executable)
			if err != nil {
				return err
			}
			argv := append([]string{exe, "hub", "run"}, args...)
			if err := syscall.Exec(exe, argv, os.Environ()); err != nil {
				return fmt.Errorf("exec %s: %w", exe, err)
			}
			return nil
		},
	}
}
