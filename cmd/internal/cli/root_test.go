package cli

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("MCPCTL_HOME", t.TempDir())
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, &cmdkit.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb})
	return code, out.String(), errb.String()
}

func TestRewriteSessionArgs_GlobalFlagsInEitherPlace(t *testing.T) {
	takes := cmdkit.GlobalFlagTakesValue(NewRootCmd(cmdkit.NewFactory(&cmdkit.IOStreams{})).PersistentFlags())
	for _, tc := range []struct{ in, want string }{
		{"@s tools-list", "tools-list @s"},
		{"@s", "info @s"},
		{"--json @s tools-call echo text:=hi", "--json tools-call @s echo text:=hi"},
		{"@s --json tools-call echo text:=hi", "tools-call @s --json echo text:=hi"},
		{"@s tools-call --json echo", "tools-call @s --json echo"},
		{"@s --timeout 5s -v ping", "ping @s --timeout 5s -v"},
		{"@s --timeout=5s ping", "ping @s --timeout=5s"},
		{"--timeout 5s @s ping", "--timeout 5s ping @s"},
		{"@s --json", "info @s --json"},
		{"@s --timeout", "info @s --timeout"}, // cobra says the value is missing
		{"@s --bogus ping", "info @s --bogus ping"},
		{"connect @x -- srv --json", "connect @x -- srv --json"},
	} {
		got := strings.Join(cmdkit.RewriteSessionArgs(strings.Fields(tc.in), takes), " ")
		if got != tc.want {
			t.Errorf("rewrite %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTimeout_ZeroOrNegativeIsRefused(t *testing.T) {
	for _, v := range []string{"0", "0s", "-1s", "soon"} {
		code, out, errOut := runCLI(t, "--timeout", v, "@s", "ping")
		if code != clierr.ExitUsage || out != "" || !strings.Contains(errOut, `invalid argument "`+v+`" for "--timeout"`) {
			t.Errorf("--timeout %s: exit %d, stdout %q, stderr %q; want exit 1 naming the value", v, code, out, errOut)
		}
	}
	code, _, errOut := runCLI(t, "@s", "ping", "--timeout", "0")
	if code != clierr.ExitUsage || !strings.Contains(errOut, "must be more than 0") {
		t.Errorf("--timeout 0 after the command: exit %d, stderr %q", code, errOut)
	}
}

func TestCompletion_UnknownShellIsAnErrorNamingTheShells(t *testing.T) {
	code, out, errOut := runCLI(t, "completion", "bogus")
	if code != clierr.ExitUsage || out != "" || !strings.Contains(errOut, `unknown shell "bogus"`) ||
		!strings.Contains(errOut, "Try: one of: bash, fish, powershell, zsh") {
		t.Errorf("completion bogus: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "completion", "bash"); code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: exit %d, stdout starts %q", code, out[:min(len(out), 80)])
	}
	if code, out, _ := runCLI(t, "completion"); code != 0 || !strings.Contains(out, "bash") {
		t.Errorf("completion: exit %d, want its help", code)
	}
}

func TestRun_SignalExitsWith128PlusItsNumber(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		for _, daemon := range []bool{false, true} {
			var errb bytes.Buffer
			extra := func(f *cmdkit.Factory) *cobra.Command {
				c := &cobra.Command{Use: "block", RunE: func(cmd *cobra.Command, _ []string) error {
					if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
						return err
					}
					<-cmd.Context().Done()
					if daemon {
						return nil
					}
					return sessioncall.TimeoutErr(cmd.Context(), "waiting")
				}}
				if daemon {
					c.Annotations = map[string]string{cmdkit.AnnotationStopsOnSignal: "true"}
				}
				return c
			}
			prog := cmdkit.Program{Root: func(f *cmdkit.Factory) *cobra.Command {
				root := NewRootCmd(f)
				root.AddCommand(extra(f))
				return root
			}}
			code := cmdkit.Run(context.Background(), []string{"block"}, &cmdkit.IOStreams{Out: &bytes.Buffer{}, ErrOut: &errb}, prog)
			want := 128 + int(sig)
			if daemon {
				want = 0
			}
			if code != want {
				t.Errorf("%v, daemon %v: exit %d, want %d (stderr %q)", sig, daemon, code, want, errb.String())
			}
			if !daemon && !strings.Contains(errb.String(), sig.String()+" signal received") {
				t.Errorf("%v: stderr %q does not say which signal", sig, errb.String())
			}
			if daemon {
				continue
			}
			errb.Reset()
			code = cmdkit.Run(context.Background(), []string{"--json", "block"}, &cmdkit.IOStreams{Out: &bytes.Buffer{}, ErrOut: &errb}, prog)
			if want := fmt.Sprintf(`"code":%d`, 128+int(sig)); code != 128+int(sig) || !strings.Contains(errb.String(), want) {
				t.Errorf("%v with --json: exit %d, stderr %q; want the exit code in the JSON error", sig, code, errb.String())
			}
		}
	}
}

func TestRun_EveryGlobalFlagIsKnownToTheRewrite(t *testing.T) {
	root := NewRootCmd(cmdkit.NewFactory(&cmdkit.IOStreams{}))
	takes := cmdkit.GlobalFlagTakesValue(root.PersistentFlags())
	var names []string
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	for _, n := range names {
		if known, _ := takes("--" + n); !known {
			t.Errorf("--%s is not recognised between @session and the command", n)
		}
	}
	if !slices.Contains(names, "timeout") {
		t.Errorf("no --timeout among %v", names)
	}
}
