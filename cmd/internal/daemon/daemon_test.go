package daemon

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
)

// run runs `mcpctld args…` on an in-memory hub's factory, so nothing it might start can
// reach a real home.
func run(t *testing.T, args ...string) cmdtest.Result {
	t.Helper()
	h := cmdtest.New(t)
	io, out, errOut := cmdkit.Test("")
	code := cmdkit.Run(context.Background(), args, io, cmdkit.Program{Root: NewRootCmd, Factory: h.Factory})
	return cmdtest.Result{Code: code, Out: out.String(), ErrOut: errOut.String()}
}

// availableCommands returns the command names under "Available Commands:" in a help text.
func availableCommands(help string) []string {
	_, rest, ok := strings.Cut(help, "Available Commands:\n")
	if !ok {
		return nil
	}
	var names []string
	for _, line := range strings.Split(rest, "\n") {
		if strings.TrimSpace(line) == "" {
			break
		}
		names = append(names, strings.Fields(line)[0])
	}
	return names
}

func TestRoot_HasOnlyTheDaemonsCommands(t *testing.T) {
	root := NewRootCmd(cmdkit.NewFactory(&cmdkit.IOStreams{}))
	var got []string
	for _, c := range root.Commands() {
		got = append(got, c.Name())
	}
	sort.Strings(got)
	if strings.Join(got, " ") != "bridge hub" {
		t.Errorf("mcpctld's commands = %q, want exactly bridge and hub", got)
	}
}

func TestHelp_ListsTheHubAndNoCLICommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {}} {
		t.Run("mcpctld "+strings.Join(args, " "), func(t *testing.T) {
			r := run(t, args...)
			if r.Code != 0 || r.ErrOut != "" {
				t.Fatalf("mcpctld %q: exit %d, stderr %q; want 0", args, r.Code, r.ErrOut)
			}
			if got := strings.Join(availableCommands(r.Out), " "); got != "bridge help hub" {
				t.Errorf("mcpctld %q lists commands %q, want only what it runs (bridge, hub) and help:\n%s", args, got, r.Out)
			}
			if !strings.Contains(r.Out, "There is nothing here to call by hand; see 'mcpctl --help'.") {
				t.Errorf("mcpctld %q: help %q does not send people to mcpctl", args, r.Out)
			}
		})
	}
	t.Run("bridge --help shows its usage", func(t *testing.T) {
		r := run(t, "bridge", "--help")
		if r.Code != 0 || !strings.Contains(r.Out, "mcpctld bridge") {
			t.Errorf("mcpctld bridge --help: exit %d, stdout %q, stderr %q; want 0 and its usage", r.Code, r.Out, r.ErrOut)
		}
	})
	t.Run("hub --help lists run", func(t *testing.T) {
		r := run(t, "hub", "--help")
		if got := strings.Join(availableCommands(r.Out), " "); r.Code != 0 || got != "run" {
			t.Errorf("mcpctld hub --help: exit %d, commands %q; want 0 and run", r.Code, got)
		}
	})
}

func TestVersion_NamesTheDaemon(t *testing.T) {
	r := run(t, "--version")
	if want := "mcpctld " + cmdkit.Version + "\n"; r.Code != 0 || r.Out != want {
		t.Errorf("mcpctld --version: exit %d, stdout %q; want %q", r.Code, r.Out, want)
	}
}

func TestUnknownCommand_ExitsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"},
		{"connect"}, // a command of mcpctl, not of the daemon
		{"sessions"},
		{"hub", "bogus"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := run(t, args...)
			if r.Code != 1 || !strings.Contains(r.ErrOut, `unknown command "`+args[len(args)-1]+`"`) {
				t.Errorf("mcpctld %q: exit %d, stderr %q; want 1 and unknown command", args, r.Code, r.ErrOut)
			}
			if r.Out != "" {
				t.Errorf("mcpctld %q: stdout %q, want nothing", args, r.Out)
			}
			if !strings.HasPrefix(r.ErrOut, "mcpctld: ") || strings.Contains(r.ErrOut, "mcpctl --help") {
				t.Errorf("mcpctld %q: stderr %q, want the daemon's name on its error and hint", args, r.ErrOut)
			}
		})
	}
	t.Run("--json: the error as JSON on stderr", func(t *testing.T) {
		r := run(t, "--json", "bogus")
		if r.Code != 1 || !strings.HasPrefix(r.ErrOut, `{"code":1,"error":"unknown command \"bogus\" for \"mcpctld\"`) {
			t.Errorf("mcpctld --json bogus: exit %d, stderr %q; want 1 and a JSON error", r.Code, r.ErrOut)
		}
	})
}
