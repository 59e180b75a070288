// Package cli is mcpctl's command line: one file per command, each an options struct filled
// by a cobra command and a run function that writes only to the IO streams. Main maps
// errors to exit codes in one place.
//
//	mcpctl ──► Factory (lazy: home, node, hub connection)
//	   │            │
//	   │            └─► hub: embedded NATS + JetStream ─ projector ─ supervisor
//	   └─► bridge socket (MCP JSON-RPC) ─► MCP server
package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
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
		Version:       Version,
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
				return &Error{Code: ExitUsage, Err: err, Hint: "did you mean " + strings.Join(s, " or ") + "? (all commands: mcpctl --help)"}
			}
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSessions(cmd.Context(), &sessionsOptions{f: f})
		},
	}
	root.SetVersionTemplate("mcpctl {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.BoolVar(&f.JSON, "json", false, "print one JSON document on stdout (errors as JSON on stderr)")
	pf.BoolVarP(&f.Verbose, "verbose", "v", false, "say more on stderr (never changes stdout)")
	pf.Var((*timeoutValue)(&f.Timeout), "timeout", fmt.Sprintf("give up after this long (e.g. 30s; more than 0); a timed-out call is cancelled, never re-sent (calls default to %s)", DefaultCallTimeout))
	addExternalFlags(pf, f)

	root.AddCommand(
		newCmdConnect(f),
		newCmdSessions(f),
		newCmdInfo(f),
		newCmdRestart(f),
		newCmdClose(f),
		newCmdClean(f),
		newCmdLogs(f),
		newCmdWait(f),
		newCmdProxy(f),
		newCmdHistory(f),
		newCmdEvents(f),
		newCmdHub(f),
		newCmdDoctor(f),
	)
	root.AddCommand(newMCPCommands(f)...)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &Error{Code: ExitUsage, Err: err, Hint: cmd.CommandPath() + " --help"}
	})
	return root
}

// strictCompletion makes `mcpctl completion bogus` an error naming the shells: cobra's own
// completion command is not runnable, so cobra prints its help and exits 0 for any argument.
func strictCompletion(root *cobra.Command) {
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
			return withHint(fmt.Errorf("completion: unknown shell %q", args[0]), ExitUsage,
				"one of: "+strings.Join(shells, ", ")+" (e.g. mcpctl completion bash)")
		}
		c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	}
}

// rewriteSessionArgs turns the session-first grammar (`mcpctl @s tools-list …`) into the
// command-first form cobra parses (`mcpctl tools-list @s …`); `mcpctl @s` alone is `info @s`.
// Global flags may stand before the session, between it and the command, or after both
// (`mcpctl @s --json tools-call …`): takesValue says which of them read the next word.
func rewriteSessionArgs(args []string, takesValue func(flag string) (known, value bool)) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args
		}
		if strings.HasPrefix(a, "-") {
			if _, v := takesValue(a); v {
				i++ // its value is the next word
			}
			continue
		}
		if !strings.HasPrefix(a, "@") {
			return args
		}
		// Global flags between the session and the command move with the session.
		j := i + 1
		for j < len(args) && strings.HasPrefix(args[j], "-") && args[j] != "--" {
			known, v := takesValue(args[j])
			if !known || (v && j+1 >= len(args)) {
				break // not a global flag (or one without its value): cobra says what is wrong
			}
			if v {
				j++
			}
			j++
		}
		out := append([]string{}, args[:i]...)
		if j < len(args) && j > i+1 && !strings.HasPrefix(args[j], "-") {
			out = append(out, args[j], a)
			out = append(out, args[i+1:j]...)
			out = append(out, args[j+1:]...)
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out = append(out, args[i+1], a)
			out = append(out, args[i+2:]...)
		} else {
			out = append(out, "info", a)
			out = append(out, args[i+1:]...)
		}
		return out
	}
	return args
}

// globalFlagTakesValue says whether a word is one of the root's persistent flags, and
// whether that flag reads the next word as its value (`--timeout 5s`, not `--timeout=5s`,
// not a boolean like --json).
func globalFlagTakesValue(fs *pflag.FlagSet) func(string) (bool, bool) {
	return func(a string) (bool, bool) {
		var fl *pflag.Flag
		switch {
		case strings.HasPrefix(a, "--"):
			name, _, hasValue := strings.Cut(a[2:], "=")
			if fl = fs.Lookup(name); fl == nil {
				return false, false
			}
			return true, !hasValue && fl.NoOptDefVal == ""
		case len(a) == 2:
			if fl = fs.ShorthandLookup(a[1:]); fl == nil {
				return false, false
			}
			return true, fl.NoOptDefVal == ""
		}
		return false, false
	}
}
