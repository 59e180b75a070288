package cli

import (
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
)

func TestRewriteSessionArgs_HelpOnASessionIsTheSessionsHelp(t *testing.T) {
	takes := cmdkit.GlobalFlagTakesValue(NewRootCmd(cmdkit.NewFactory(&cmdkit.IOStreams{})).PersistentFlags())
	for _, tc := range []struct{ in, want string }{
		{"@s --help", "help @s"},
		{"@s -h", "help @s"},
		{"@s help", "help @s"},
		{"@s --json --help", "help @s --json"},
		{"@s tools-list --help", "tools-list @s --help"},
		{"@s tools-call help", "tools-call @s help"}, // a tool named help
		{"--help @s", "help @s"},
		{"-v --help @s", "-v help @s"},
		{"--help @s tools-list", "--help tools-list @s"},
	} {
		got := strings.Join(cmdkit.RewriteSessionArgs(strings.Fields(tc.in), takes), " ")
		if got != tc.want {
			t.Errorf("rewrite %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHelp_SessionListsItsCommands(t *testing.T) {
	for _, args := range [][]string{{"@s", "--help"}, {"@s", "help"}, {"help", "@s"}, {"--help", "@s"}} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{"\n  tools-list ", "\n  tools-call ", "\n  restart ", "\n  logs ", "\n  info ", "mcpctl @s COMMAND"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: no %q in\n%s", args, want, out)
			}
		}
		for _, not := range []string{"\n  connect ", "\n  hub ", "\n  sessions "} {
			if strings.Contains(out, not) {
				t.Errorf("%v: %q is not a session command, but is listed in\n%s", args, not, out)
			}
		}
	}
}

func TestHelp_UnknownCommandIsAnError(t *testing.T) {
	for _, args := range [][]string{{"bogus", "--help"}, {"bogus", "-h"}, {"--json", "bogus", "--help"}, {"help", "bogus"}, {"-v", "bogus", "--help"}} {
		code, out, errOut := runCLI(t, args...)
		if code != clierr.ExitUsage || out != "" || !strings.Contains(errOut, "unknown command") || !strings.Contains(errOut, "bogus") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 saying bogus is unknown", args, code, out, errOut)
		}
	}
	// Known commands keep their help.
	for _, args := range [][]string{{"tools-list", "--help"}, {"--help"}, {"help", "tools-list"}, {"hub", "--help"}, {"connect", "-h", "--", "bogus", "--help"}} {
		if code, out, errOut := runCLI(t, args...); code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want its help", args, code, out, errOut)
		}
	}
}

func TestHelp_CommandIsTheSameAsItsHelpFlag(t *testing.T) {
	_, viaFlag, _ := runCLI(t, "tools-call", "--help")
	_, viaHelp, _ := runCLI(t, "help", "tools-call")
	if viaFlag != viaHelp || !strings.Contains(viaHelp, "-h, --help") {
		t.Errorf("help tools-call printed\n%s\nwant what tools-call --help prints:\n%s", viaHelp, viaFlag)
	}
}
