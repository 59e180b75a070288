package session

import (
	"context"
	"fmt"
	"strings"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"
)

// sessionCmd builds a command whose first argument is @session.
func sessionCmd(use, short string, nargs int, run func(ctx context.Context, name string, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || !strings.HasPrefix(args[0], "@") {
				return clierr.WithHint(fmt.Errorf("%s needs a session (@name)", cmd.Name()), clierr.ExitUsage, "mcpctl @name "+cmd.Name())
			}
			if len(args)-1 > nargs {
				return clierr.UsageErr("%s: unexpected argument %q", cmd.Name(), args[nargs+1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := sessioncall.ParseSessionArg(args[0])
			if err != nil {
				return err
			}
			return run(cmd.Context(), name, args[1:])
		},
	}
}
