package clean

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// fakeBridgeEnv makes the test binary a stand-in bridge process: its command line is
// `mcpctl bridge --session S --generation G` (what clean and orphans look for), and it
// runs until its stdin closes or it is signalled.
const fakeBridgeEnv = "MCPCTL_CLEAN_TEST_FAKE_BRIDGE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeBridgeEnv) == "1" {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startFakeBridge starts a stand-in bridge of session and generation. With home set it
// carries that home and node in its environment, as a bridge the hub spawned does. The
// returned channel closes when the process has exited; cleanup stops it.
func startFakeBridge(t *testing.T, home *homedir.Home, session string, gen uint64) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Args = []string{"mcpctl", "bridge", "--session", session, "--generation", strconv.FormatUint(gen, 10)}
	cmd.Env = append(os.Environ(), fakeBridgeEnv+"=1")
	if home != nil {
		cmd.Env = append(cmd.Env, "MCPCTL_HOME="+home.Dir, "MCPCTL_NODE="+cmdtest.Node)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start a fake bridge: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		<-done
	})
	// The process is ours once /proc shows the command line clean reads.
	testwait.For(t, 5*time.Second, func() error {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
		if err != nil {
			return err
		}
		if args := strings.Split(string(b), "\x00"); len(args) < 2 || args[1] != "bridge" {
			return fmt.Errorf("cmdline %q, want mcpctl bridge …", b)
		}
		return nil
	})
	return cmd, done
}

// logged returns every event in the hub's log, oldest first.
func logged(t *testing.T, h *cmdtest.Hub) []events.Event {
	t.Helper()
	var out []events.Event
	if err := h.Log.Read(context.Background(), events.Query{}, func(e events.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("read the log: %v", err)
	}
	return out
}

// kinds is "session kind" for each event after the first n.
func kinds(evs []events.Event, n int) []string {
	out := []string{}
	for _, e := range evs[n:] {
		out = append(out, e.Session+" "+string(e.Type))
	}
	return out
}

// createdWithSecrets appends the creation of a stdio session whose secrets are in a file,
// and returns that file's path.
func createdWithSecrets(t *testing.T, h *cmdtest.Hub, name string) string {
	t.Helper()
	ref, err := homedir.WriteSecrets(h.Home, name, homedir.Secrets{Env: map[string]string{"TOKEN": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	e := events.New(events.KindCreated, cmdtest.Node, name, 1)
	e.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver", EnvNames: []string{"TOKEN"}, Secrets: ref}
	h.Append(t, e)
	return filepath.Join(h.Home.SecretsDir(), ref)
}

func crashed(t *testing.T, h *cmdtest.Hub, name string) {
	t.Helper()
	code := 1
	e := events.New(events.KindBridgeExited, cmdtest.Node, name, 1)
	e.Code = &code
	h.Append(t, e)
}

// notExist fails t unless path is gone.
func notExist(t *testing.T, path, what string) {
	t.Helper()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s %s: stat %v, want it removed", what, path, err)
	}
}

func TestClean_ForgetsDeadSessionsOnly(t *testing.T) {
	t.Run("crashed and closed sessions are cleaned and their secrets files removed", func(t *testing.T) {
		h := cmdtest.New(t)
		crashSecrets := createdWithSecrets(t, h, "crashy")
		crashed(t, h, "crashy")
		closeSecrets := createdWithSecrets(t, h, "shut")
		h.Append(t, events.New(events.KindClosed, cmdtest.Node, "shut", 1))
		n := len(logged(t, h))

		r := h.Run(t, NewCmdClean, "", "clean")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("clean: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		if want := "cleaned @crashy\ncleaned @shut\n"; r.Out != want {
			t.Errorf("clean stdout = %q, want %q", r.Out, want)
		}
		evs := logged(t, h)
		if got, want := kinds(evs, n), []string{"crashy cleaned", "shut cleaned"}; !slices.Equal(got, want) {
			t.Fatalf("clean appended %v, want %v", got, want)
		}
		for _, e := range evs[n:] {
			if e.Reason != "mcpctl clean" || e.Generation != 1 || e.Node != cmdtest.Node {
				t.Errorf("%s @%s: reason %q gen %d node %s, want reason \"mcpctl clean\" gen 1 node %s", e.Type, e.Session, e.Reason, e.Generation, e.Node, cmdtest.Node)
			}
		}
		notExist(t, crashSecrets, "the crashed session's secrets")
		notExist(t, closeSecrets, "the closed session's secrets")
	})

	t.Run("live sessions are left alone, with their secrets", func(t *testing.T) {
		h := cmdtest.New(t)
		starting := createdWithSecrets(t, h, "starting")
		createdWithSecrets(t, h, "ready")
		h.Append(t, events.New(events.KindBridgeReady, cmdtest.Node, "ready", 1))
		createdWithSecrets(t, h, "restarting")
		h.Append(t, events.New(events.KindRestartRequested, cmdtest.Node, "restarting", 2))
		n := len(logged(t, h))

		r := h.Run(t, NewCmdClean, "", "clean")
		if r.Code != 0 || r.Out != "" || !strings.Contains(r.ErrOut, "nothing to clean") {
			t.Errorf("clean of live sessions: exit %d, stdout %q, stderr %q, want 0, nothing, \"nothing to clean\"", r.Code, r.Out, r.ErrOut)
		}
		if got := kinds(logged(t, h), n); len(got) != 0 {
			t.Errorf("clean of live sessions appended %v, want nothing", got)
		}
		if _, err := os.Stat(starting); err != nil {
			t.Errorf("a live session's secrets file: %v, want it kept", err)
		}
	})

	t.Run("a cleaned session is not cleaned twice", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "docs")
		h.Append(t, events.New(events.KindClosed, cmdtest.Node, "docs", 1))
		if r := h.Run(t, NewCmdClean, "", "clean"); r.Code != 0 || r.Out != "cleaned @docs\n" {
			t.Fatalf("first clean: exit %d, stdout %q", r.Code, r.Out)
		}
		n := len(logged(t, h))
		r := h.Run(t, NewCmdClean, "", "clean")
		if r.Code != 0 || r.Out != "" || !strings.Contains(r.ErrOut, "nothing to clean") {
			t.Errorf("second clean: exit %d, stdout %q, stderr %q, want nothing to clean", r.Code, r.Out, r.ErrOut)
		}
		if got := kinds(logged(t, h), n); len(got) != 0 {
			t.Errorf("second clean appended %v, want nothing", got)
		}
	})

	t.Run("another node's dead session is not this node's to clean", func(t *testing.T) {
		h := cmdtest.New(t)
		e := events.New(events.KindCreated, "n2", "theirs", 1)
		e.Server = &events.Server{Transport: events.TransportStdio, Command: "srv"}
		h.Append(t, e)
		h.Append(t, events.New(events.KindClosed, "n2", "theirs", 1))
		n := len(logged(t, h))
		if r := h.Run(t, NewCmdClean, "", "clean"); r.Code != 0 || r.Out != "" {
			t.Errorf("clean: exit %d, stdout %q, want 0 and nothing cleaned", r.Code, r.Out)
		}
		if got := kinds(logged(t, h), n); len(got) != 0 {
			t.Errorf("clean appended %v for another node's session, want nothing", got)
		}
	})

	t.Run("--json: cleaned names, sockets removed, orphans stopped", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "docs")
		crashed(t, h, "docs")
		h.Created(t, "live")
		r := h.Run(t, NewCmdClean, "", "clean", "--json")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("clean --json: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		var got struct {
			Cleaned []string `json:"cleaned"`
			Sockets *int     `json:"sockets_removed"`
			Orphans []string `json:"orphans_stopped"`
		}
		if err := json.Unmarshal([]byte(r.Out), &got); err != nil {
			t.Fatalf("clean --json: not a JSON object: %v\n%s", err, r.Out)
		}
		if !slices.Equal(got.Cleaned, []string{"docs"}) || got.Sockets == nil || got.Orphans == nil || len(got.Orphans) != 0 {
			t.Errorf("clean --json = %s, want cleaned [docs], a sockets_removed count, orphans_stopped []", r.Out)
		}
	})

	t.Run("--json with nothing to clean: empty arrays, nothing on stderr", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdClean, "", "clean", "--json")
		var got map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.Out), &got); err != nil {
			t.Fatalf("clean --json on an empty hub: not a JSON object: %v\n%s", err, r.Out)
		}
		if r.Code != 0 || r.ErrOut != "" || string(got["cleaned"]) != "[]" || string(got["orphans_stopped"]) != "[]" {
			t.Errorf("clean --json on an empty hub: exit %d, stdout %q, stderr %q, want 0 and empty arrays (not null)", r.Code, r.Out, r.ErrOut)
		}
	})

	t.Run("an argument is a usage error", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "docs")
		h.Append(t, events.New(events.KindClosed, cmdtest.Node, "docs", 1))
		n := len(logged(t, h))
		r := h.Run(t, NewCmdClean, "", "clean", "@docs")
		if r.Code != 1 || r.Out != "" {
			t.Errorf("clean @docs: exit %d, stdout %q, want 1 and nothing", r.Code, r.Out)
		}
		if got := kinds(logged(t, h), n); len(got) != 0 {
			t.Errorf("clean @docs appended %v, want nothing", got)
		}
	})
}

func TestClean_AllClosesThenCleansEverySession(t *testing.T) {
	h := cmdtest.New(t)
	readySecrets := createdWithSecrets(t, h, "ready")
	h.Append(t, events.New(events.KindBridgeReady, cmdtest.Node, "ready", 1))
	h.Created(t, "crashy")
	crashed(t, h, "crashy")
	h.Created(t, "shut")
	h.Append(t, events.New(events.KindClosed, cmdtest.Node, "shut", 1))
	n := len(logged(t, h))

	r := h.Run(t, NewCmdClean, "", "clean", "--all")
	if r.Code != 0 || r.ErrOut != "" {
		t.Fatalf("clean --all: exit %d, stderr %q", r.Code, r.ErrOut)
	}
	if want := "cleaned @crashy\ncleaned @ready\ncleaned @shut\n"; r.Out != want {
		t.Errorf("clean --all stdout = %q, want %q", r.Out, want)
	}
	evs := logged(t, h)
	// A crashed session is still open (only close or clean ends that): closed first, too.
	var got []string
	for _, e := range evs[n:] {
		got = append(got, e.Session+" "+string(e.Type))
		if e.Reason != "mcpctl clean --all" {
			t.Errorf("%s @%s reason = %q, want \"mcpctl clean --all\"", e.Type, e.Session, e.Reason)
		}
	}
	for _, want := range []string{"ready closed", "ready cleaned", "crashy closed", "crashy cleaned", "shut cleaned"} {
		if !slices.Contains(got, want) {
			t.Errorf("clean --all appended %v, want it to include %q", got, want)
		}
	}
	if i, j := slices.Index(got, "ready closed"), slices.Index(got, "ready cleaned"); i < 0 || j < i {
		t.Errorf("clean --all appended %v, want @ready closed before cleaned", got)
	}
	if slices.Contains(got, "shut closed") {
		t.Errorf("clean --all appended %v: a closed session was closed again", got)
	}
	notExist(t, readySecrets, "the ready session's secrets")
}

func TestClean_Sockets(t *testing.T) {
	pidMax, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(pidMax)))
	if err != nil {
		t.Fatal(err)
	}
	deadPID := max + 1 // never a process

	h := cmdtest.New(t)
	h.Created(t, "live")
	bridge, _ := startFakeBridge(t, nil, "live", 1)
	other, _ := startFakeBridge(t, nil, "other", 1)
	dir := h.Home.BridgeDir()
	files := map[string]bool{ // name: kept?
		fmt.Sprintf("dead.%d.sock", deadPID):             false,
		fmt.Sprintf("live.%d.sock", bridge.Process.Pid):  true,
		fmt.Sprintf("live.%d.sock", os.Getpid()):         false, // a live process, but no bridge
		fmt.Sprintf("stolen.%d.sock", other.Process.Pid): false, // a bridge, of another session
		"notes.txt":  true,
		"nopid.sock": true,
		fmt.Sprintf("weird.%s.sock", "x"+strconv.Itoa(max)): true,
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	r := h.Run(t, NewCmdClean, "", "clean", "--json")
	if r.Code != 0 {
		t.Fatalf("clean: exit %d, stderr %q", r.Code, r.ErrOut)
	}
	for name, kept := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		switch {
		case kept && err != nil:
			t.Errorf("bridges/%s: %v, want it kept", name, err)
		case !kept && !os.IsNotExist(err):
			t.Errorf("bridges/%s: stat %v, want it removed", name, err)
		}
	}
	var got struct {
		Sockets int `json:"sockets_removed"`
	}
	if err := json.Unmarshal([]byte(r.Out), &got); err != nil {
		t.Fatalf("clean --json: %v\n%s", err, r.Out)
	}
	// At least ours: clean also sweeps a directory shared by every home of this user.
	if got.Sockets < 3 {
		t.Errorf("clean --json sockets_removed = %d, want at least the 3 removed here", got.Sockets)
	}
}

func TestClean_StopsBridgesTheLogDoesNotKnow(t *testing.T) {
	h := cmdtest.New(t)
	h.Created(t, "known")
	known, knownDone := startFakeBridge(t, &h.Home, "known", 1)
	ghost, ghostDone := startFakeBridge(t, &h.Home, "ghost", 3)
	ahead, aheadDone := startFakeBridge(t, &h.Home, "known", 2) // a generation the log never asked for
	ghostSock := homedir.BridgeSocketPath(h.Home, "ghost", ghost.Process.Pid)
	if err := os.MkdirAll(filepath.Dir(ghostSock), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ghostSock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(ghostSock) })

	r := h.Run(t, NewCmdClean, "", "clean", "--timeout", "20s")
	if r.Code != 0 || r.ErrOut != "" {
		t.Fatalf("clean: exit %d, stderr %q", r.Code, r.ErrOut)
	}
	for _, want := range []string{
		"stopped bridges the log does not know: ",
		fmt.Sprintf("@ghost generation 3 (pid %d)", ghost.Process.Pid),
		fmt.Sprintf("@known generation 2 (pid %d)", ahead.Process.Pid),
	} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("clean stdout = %q, want it to contain %q", r.Out, want)
		}
	}
	for what, done := range map[string]<-chan struct{}{"@ghost's bridge": ghostDone, "@known's generation 2 bridge": aheadDone} {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s still runs after clean, want it stopped", what)
		}
	}
	select {
	case <-knownDone:
		t.Errorf("the bridge of @known generation 1 (pid %d) exited, want it left alone: the log knows it", known.Process.Pid)
	default:
	}
	notExist(t, ghostSock, "the stopped orphan's socket")
	if evs := logged(t, h); len(evs) != 1 {
		t.Errorf("clean appended %v, want nothing (orphans have no events)", kinds(evs, 1))
	}
}
