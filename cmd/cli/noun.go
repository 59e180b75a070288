package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// sessionCmd builds a command whose first argument is @session.
func sessionCmd(use, short string, nargs int, run func(ctx context.Context, name string, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || !strings.HasPrefix(args[0], "@") {
				return withHint(fmt.Errorf("%s needs a session (@name)", cmd.Name()), ExitUsage, "mcpctl @name "+cmd.Name())
			}
			if len(args)-1 > nargs {
				return usageErr("%s: unexpected argument %q", cmd.Name(), args[nargs+1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := parseSessionArg(args[0])
			if err != nil {
				return err
			}
			return run(cmd.Context(), name, args[1:])
		},
	}
}

// ---- info
