package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

// The test binary doubles as a helper process: with helperEnv set, TestMain runs a role
// instead of the tests. `hub run` replaces its process (syscall.Exec), so it can only be
// run in a process of its own; `hub stop` needs a process whose command line is `… hub run`.
const helperEnv = "MCPCTL_HUB_TEST_HELPER"

const (
	roleMcpctl   = "mcpctl"    // run `mcpctl hub <args>` with the real factory
	roleHubSleep = "hub-sleep" // stand in for a hub: wait for SIGTERM, then exit 0
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case roleMcpctl:
		os.Exit(cmdkit.Run(context.Background(), os.Args[1:], cmdkit.System(), cmdkit.Program{Root: hubRoot}))
	case roleHubSleep:
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		fmt.Println("ready")
		<-ch
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "unknown helper role %q\n", os.Getenv(helperEnv))
		os.Exit(125)
	}
}

// hubRoot is mcpctl's root with only the hub command, as cmdtest builds it.
func hubRoot(f *cmdkit.Factory) *cobra.Command {
	root := &cobra.Command{Use: "mcpctl", SilenceUsage: true, SilenceErrors: true}
	cmdkit.AddGlobalFlags(root.PersistentFlags(), f)
	root.AddCommand(NewCmdHub(f))
	return root
}

// runWith runs `mcpctl args…` against h with the factory changed by change first (a hub
// connection that must not be asked for, a build of another name).
func runWith(t *testing.T, h *cmdtest.Hub, change func(*cmdkit.Factory), args ...string) cmdtest.Result {
	t.Helper()
	io, out, errOut := cmdkit.Test("")
	code := cmdkit.Run(context.Background(), args, io, cmdkit.Program{
		Root: hubRoot,
		Factory: func(io *cmdkit.IOStreams) *cmdkit.Factory {
			f := h.Factory(io)
			change(f)
			return f
		},
	})
	return cmdtest.Result{Code: code, Out: out.String(), ErrOut: errOut.String()}
}

// noHubDialled makes f fail the test when the command asks for a hub connection.
func noHubDialled(t *testing.T) func(*cmdkit.Factory) {
	return func(f *cmdkit.Factory) {
		f.Hub = func(context.Context) (*hubclient.HubConn, error) {
			t.Errorf("the command asked for a hub connection; it must only read hub.json")
			return nil, events.ErrNoHub
		}
	}
}

// writeAddress writes hub.json into h's home.
func writeAddress(t *testing.T, h *cmdtest.Hub, a jetstream.Address) {
	t.Helper()
	if err := jetstream.WriteAddress(h.Home.AddressFile(), a); err != nil {
		t.Fatalf("write hub.json: %v", err)
	}
}

// deadPID is a pid no process has: above the kernel's pid_max (at most 2^22).
const deadPID = 1 << 30

func TestHub_WithoutASubcommand(t *testing.T) {
	h := cmdtest.New(t)
	t.Run("prints its help and exits 0", func(t *testing.T) {
		r := h.Run(t, NewCmdHub, "", "hub")
		if r.Code != 0 || !strings.Contains(r.Out, "Available Commands") {
			t.Errorf("hub: exit %d, stdout %q; want 0 and the help", r.Code, r.Out)
		}
		for _, sub := range []string{"run", "start", "stop", "status"} {
			if !strings.Contains(r.Out, "  "+sub+" ") {
				t.Errorf("hub help %q does not list %s", r.Out, sub)
			}
		}
	})
	t.Run("an unknown subcommand is a usage error", func(t *testing.T) {
		r := h.Run(t, NewCmdHub, "", "hub", "bogus")
		if r.Code != 1 || !strings.Contains(r.ErrOut, `unknown command "bogus"`) {
			t.Errorf("hub bogus: exit %d, stderr %q; want 1 and unknown command", r.Code, r.ErrOut)
		}
	})
}

func TestHubStatus_ReadsHubJSONAndNeverStartsAHub(t *testing.T) {
	t.Run("no hub.json: not running, exit 3", func(t *testing.T) {
		h := cmdtest.New(t)
		r := runWith(t, h, noHubDialled(t), "hub", "status")
		if r.Code != 3 || r.ErrOut != "" {
			t.Errorf("hub status: exit %d, stderr %q; want 3 and nothing on stderr", r.Code, r.ErrOut)
		}
		if !strings.HasPrefix(r.Out, "hub: not running (") || !strings.Contains(r.Out, "home: "+h.Home.Dir+"\n") {
			t.Errorf("hub status printed %q, want 'hub: not running (…)' and the home", r.Out)
		}
	})
	t.Run("no hub.json, --json", func(t *testing.T) {
		h := cmdtest.New(t)
		r := runWith(t, h, noHubDialled(t), "hub", "status", "--json")
		var st map[string]any
		if err := json.Unmarshal([]byte(r.Out), &st); err != nil {
			t.Fatalf("hub status --json printed %q: %v", r.Out, err)
		}
		if r.Code != 3 || st["running"] != false || st["home"] != h.Home.Dir || st["node"] != cmdtest.Node || st["error"] == "" || st["error"] == nil {
			t.Errorf("hub status --json: exit %d, %v; want 3, running false, home, node and an error", r.Code, st)
		}
		if _, ok := st["pid"]; ok {
			t.Errorf("hub status --json = %v, want no pid when not running", st)
		}
	})
	t.Run("hub.json names a pid that is not running", func(t *testing.T) {
		h := cmdtest.New(t)
		writeAddress(t, h, jetstream.Address{URL: "nats://127.0.0.1:1", PID: deadPID, Build: "b"})
		r := runWith(t, h, noHubDialled(t), "hub", "status")
		want := fmt.Sprintf("hub: not running (address file names pid %d, which is not running)\n", deadPID)
		if r.Code != 3 || !strings.HasPrefix(r.Out, want) {
			t.Errorf("hub status: exit %d, stdout %q; want 3 and %q", r.Code, r.Out, want)
		}
	})
	t.Run("a running hub of this build", func(t *testing.T) {
		h := cmdtest.New(t)
		build := h.Factory(&cmdkit.IOStreams{}).Build()
		started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		writeAddress(t, h, jetstream.Address{URL: "nats://127.0.0.1:4222", PID: os.Getpid(), Build: build, Started: started})
		r := runWith(t, h, noHubDialled(t), "hub", "status")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("hub status: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		for _, want := range []string{
			fmt.Sprintf("hub:     running, pid %d, since %s\n", os.Getpid(), started.Local().Format(time.RFC3339)),
			"url:     nats://127.0.0.1:4222\n", "build:   " + build + "\n", "home:    " + h.Home.Dir + "\n", "node:    n1\n",
		} {
			if !strings.Contains(r.Out, want) {
				t.Errorf("hub status printed %q, want a line %q", r.Out, want)
			}
		}
		if strings.Contains(r.Out, "another build") {
			t.Errorf("hub status printed %q for a hub of this build", r.Out)
		}
		r = runWith(t, h, noHubDialled(t), "hub", "status", "--json")
		var st struct {
			Running bool      `json:"running"`
			URL     string    `json:"url"`
			PID     int       `json:"pid"`
			Build   string    `json:"build"`
			Current bool      `json:"current_build"`
			Started time.Time `json:"started"`
			Home    string    `json:"home"`
			Node    string    `json:"node"`
		}
		if err := json.Unmarshal([]byte(r.Out), &st); err != nil || r.Code != 0 {
			t.Fatalf("hub status --json: exit %d, %q: %v", r.Code, r.Out, err)
		}
		if !st.Running || !st.Current || st.PID != os.Getpid() || st.URL != "nats://127.0.0.1:4222" || !st.Started.Equal(started) ||
			st.Home != h.Home.Dir || st.Node != cmdtest.Node {
			t.Errorf("hub status --json = %+v, want this hub, running, of the current build", st)
		}
	})
	t.Run("a running hub of another build", func(t *testing.T) {
		h := cmdtest.New(t)
		writeAddress(t, h, jetstream.Address{URL: "nats://127.0.0.1:4222", PID: os.Getpid(), Build: "an-older-build"})
		r := runWith(t, h, noHubDialled(t), "hub", "status")
		if r.Code != 0 || !strings.Contains(r.Out, "build:   an-older-build (another build: the next command replaces it)\n") {
			t.Errorf("hub status: exit %d, stdout %q; want 0 and the other build named", r.Code, r.Out)
		}
		r = runWith(t, h, noHubDialled(t), "hub", "status", "--json")
		if !strings.Contains(r.Out, `"current_build": false`) {
			t.Errorf("hub status --json = %s, want current_build false", r.Out)
		}
	})
}

func TestHubStart_PrintsTheHubItConnectedTo(t *testing.T) {
	h := cmdtest.New(t)
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h.Conn.Addr = jetstream.Address{URL: "nats://127.0.0.1:4222", PID: 4242, Build: "b1", Started: started}
	t.Run("as text", func(t *testing.T) {
		r := h.Run(t, NewCmdHub, "", "hub", "start")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("hub start: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		want := fmt.Sprintf("hub:     running, pid 4242, since %s\nurl:     nats://127.0.0.1:4222\nbuild:   b1\nhome:    %s\nnode:    n1\n",
			started.Local().Format(time.RFC3339), h.Home.Dir)
		if r.Out != want {
			t.Errorf("hub start printed\n%s\nwant\n%s", r.Out, want)
		}
	})
	t.Run("as JSON", func(t *testing.T) {
		r := h.Run(t, NewCmdHub, "", "hub", "start", "--json")
		var st map[string]any
		if err := json.Unmarshal([]byte(r.Out), &st); err != nil || r.Code != 0 {
			t.Fatalf("hub start --json: exit %d, %q: %v", r.Code, r.Out, err)
		}
		if st["running"] != true || st["pid"] != float64(4242) || st["url"] != "nats://127.0.0.1:4222" || st["current_build"] != true ||
			st["home"] != h.Home.Dir || st["node"] != cmdtest.Node {
			t.Errorf("hub start --json = %v", st)
		}
	})
	t.Run("a hub that cannot be reached exits 3", func(t *testing.T) {
		r := runWith(t, h, func(f *cmdkit.Factory) {
			f.Hub = func(context.Context) (*hubclient.HubConn, error) {
				return nil, fmt.Errorf("start the hub: %w", events.ErrNoHub)
			}
		}, "hub", "start")
		if r.Code != 3 || !strings.Contains(r.ErrOut, "start the hub") || r.Out != "" {
			t.Errorf("hub start without a hub: exit %d, stdout %q, stderr %q; want 3 and the cause", r.Code, r.Out, r.ErrOut)
		}
	})
	t.Run("takes no arguments", func(t *testing.T) {
		r := h.Run(t, NewCmdHub, "", "hub", "start", "now")
		if r.Code != 1 {
			t.Errorf("hub start now: exit %d, stderr %q; want 1", r.Code, r.ErrOut)
		}
	})
}

// startFakeHub starts a process whose command line is `<test binary> hub run`, as a hub's
// is, and waits until it has replaced its command line and handles SIGTERM.
func startFakeHub(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "hub", "run")
	cmd.Env = append(os.Environ(), helperEnv+"="+roleHubSleep)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start a fake hub: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	buf := make([]byte, len("ready\n"))
	if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("fake hub: read %q, %v; want ready", buf, err)
	}
	return cmd
}

func TestHubStop(t *testing.T) {
	t.Run("with no hub running says so on stderr and exits 0", func(t *testing.T) {
		h := cmdtest.New(t)
		r := runWith(t, h, noHubDialled(t), "hub", "stop")
		if r.Code != 0 || r.Out != "" || r.ErrOut != "no hub running\n" {
			t.Errorf("hub stop: exit %d, stdout %q, stderr %q; want 0 and 'no hub running' on stderr", r.Code, r.Out, r.ErrOut)
		}
	})
	t.Run("stops the hub process named in hub.json", func(t *testing.T) {
		h := cmdtest.New(t)
		hub := startFakeHub(t)
		writeAddress(t, h, jetstream.Address{URL: "nats://127.0.0.1:1", PID: hub.Process.Pid, Build: "b"})
		r := runWith(t, h, noHubDialled(t), "hub", "stop")
		if want := fmt.Sprintf("hub (pid %d) stopped\n", hub.Process.Pid); r.Code != 0 || r.Out != want {
			t.Errorf("hub stop: exit %d, stdout %q, stderr %q; want 0 and %q", r.Code, r.Out, r.ErrOut, want)
		}
		// The fake hub exits 0 on SIGTERM; a kill would make Wait report a signal.
		if err := hub.Wait(); err != nil {
			t.Errorf("the hub process ended with %v, want a clean exit on SIGTERM", err)
		}
	})
	t.Run("--json", func(t *testing.T) {
		h := cmdtest.New(t)
		hub := startFakeHub(t)
		writeAddress(t, h, jetstream.Address{URL: "nats://127.0.0.1:1", PID: hub.Process.Pid, Build: "b"})
		r := runWith(t, h, noHubDialled(t), "hub", "stop", "--json")
		want := fmt.Sprintf(`{"pid":%d,"stopped":true}`, hub.Process.Pid)
		var got, w any
		_ = json.Unmarshal([]byte(want), &w)
		if err := json.Unmarshal([]byte(r.Out), &got); err != nil || r.Code != 0 || fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("hub stop --json: exit %d, stdout %q; want %s", r.Code, r.Out, want)
		}
	})
	t.Run("never signals a process that is not a hub", func(t *testing.T) {
		h := cmdtest.New(t)
		other := exec.Command("sleep", "60")
		if err := other.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
		writeAddress(t, h, jetstream.Address{URL: "nats://127.0.0.1:1", PID: other.Process.Pid, Build: "b"})
		r := runWith(t, h, noHubDialled(t), "hub", "stop")
		if r.Code != 0 {
			t.Errorf("hub stop: exit %d, stderr %q; want 0 (the hub is gone, its pid reused)", r.Code, r.ErrOut)
		}
		if err := other.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("hub stop signalled pid %d (sleep 60), which is not a hub: %v", other.Process.Pid, err)
		}
	})
}

// mcpctl runs `mcpctl args…` in a process of its own (the test binary as a helper) with env
// added, and returns its stdout, stderr and exit code.
func mcpctl(t *testing.T, env []string, args ...string) (stdout, stderr string, code, pid int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), helperEnv+"="+roleMcpctl), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %q: %v", args, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode(), cmd.ProcessState.Pid()
}

func TestHubRun_ExecsTheDaemonWithTheSameArguments(t *testing.T) {
	dir := t.TempDir()
	daemon := filepath.Join(dir, "mcpctld")
	script := `#!/bin/sh
printf 'pid %s\n' "$$"
for a in "$0" "$@"; do printf 'arg [%s]\n' "$a"; done
printf 'mark [%s]\n' "$HUB_TEST_MARK"
exit 7
`
	if err := os.WriteFile(daemon, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Run("argv, environment, pid and exit code are the daemon's", func(t *testing.T) {
		out, errOut, code, pid := mcpctl(t, []string{"MCPCTL_DAEMON=" + daemon, "HUB_TEST_MARK=kept"},
			"hub", "run", "--lazy-sync", "--idle", "5m", "--not-a-cli-flag")
		if code != 7 {
			t.Errorf("hub run: exit %d (stderr %q), want 7, the daemon's own", code, errOut)
		}
		want := "pid " + strconv.Itoa(pid) + "\n" +
			"arg [" + daemon + "]\narg [hub]\narg [run]\narg [--lazy-sync]\narg [--idle]\narg [5m]\narg [--not-a-cli-flag]\n" +
			"mark [kept]\n"
		if out != want {
			t.Errorf("the daemon saw\n%s\nwant (same pid, flags passed through unparsed)\n%s", out, want)
		}
	})
	t.Run("a daemon that cannot be executed is an error naming it", func(t *testing.T) {
		missing := filepath.Join(dir, "no-such-mcpctld")
		out, errOut, code, _ := mcpctl(t, []string{"MCPCTL_DAEMON=" + missing}, "hub", "run")
		if code != 3 || out != "" || !strings.Contains(errOut, "exec "+missing+": no such file or directory") {
			t.Errorf("hub run with a missing daemon: exit %d, stdout %q, stderr %q; want 3 and the exec error", code, out, errOut)
		}
	})
}

func TestHubRun_FindsTheDaemonNextToTheCLI(t *testing.T) {
	// Without $MCPCTL_DAEMON, mcpctld is looked up next to the running binary: the test
	// binary has none beside it, so the error says what to install.
	if _, err := os.Stat(filepath.Join(filepath.Dir(os.Args[0]), hubclient.DaemonName)); err == nil {
		t.Skip("an mcpctld lies next to the test binary")
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCPCTL_DAEMON=") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(os.Args[0], "hub", "run")
	cmd.Env = append(env, helperEnv+"="+roleMcpctl)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	_ = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(errOut.String(), "mcpctld not found next to") ||
		!strings.Contains(errOut.String(), "install both binaries") {
		t.Errorf("hub run without a daemon: exit %d, stderr %q; want 3 and how to install it", code, errOut.String())
	}
}
