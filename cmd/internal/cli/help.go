package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"

	"github.com/spf13/cobra"
)

// newHelpCmd replaces cobra's help command: `mcpctl help @s` (what `mcpctl @s --help` and
// `mcpctl @s help` become) lists the commands a session takes, and `mcpctl help bogus` is
// an error (cobra printed the root's help and exited 0).
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command | @session]",
		Short: "Help about any command; help @session lists the commands a session takes",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && strings.HasPrefix(args[0], "@") {
				return printSessionHelp(cmd.OutOrStdout(), root, args[0])
			}
			c, rest, err := root.Find(args)
			if err != nil || c == nil || len(rest) > 0 {
				return clierr.WithHint(fmt.Errorf("unknown command %q for help", strings.Join(args, " ")), clierr.ExitUsage,
					"all commands: mcpctl --help")
			}
			// As cobra's own help command: the flags cobra adds when a command runs.
			c.InitDefaultHelpFlag()
			c.InitDefaultVersionFlag()
			return c.Help()
		},
	}
}

// sessionCommands are the commands whose first argument is a session: their use line
// reads "NAME @session …". Commands added later are listed without being named here.
func sessionCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, c := range root.Commands() {
		f := strings.Fields(c.Use)
		if c.Hidden || !c.IsAvailableCommand() || len(f) < 2 || !strings.HasPrefix(strings.Trim(f[1], "[]"), "@") {
			continue
		}
		out = append(out, c)
	}
	return out
}

func printSessionHelp(w io.Writer, root *cobra.Command, session string) error {
	fmt.Fprintf(w, "Commands on a session (mcpctl %s COMMAND …, or mcpctl COMMAND %s …):\n\n", session, session)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range sessionCommands(root) {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name(), c.Short)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s alone is info. One command's flags: mcpctl %s COMMAND --help\n", session, session)
	return err
}
