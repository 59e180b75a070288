package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// ---- hub probes

// hubPIDs lists the live `mcpctl hub run` processes whose MCPCTL_HOME is exactly home (the
// harness's pidsUnder matches prefixes, which is too loose to count store owners).
func hubPIDs(home string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) < 3 || args[1] != "hub" || args[2] != "run" {
			continue
		}
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
			continue
		}
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		for _, kv := range strings.Split(string(environ), "\x00") {
			if kv == "MCPCTL_HOME="+home {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// theHub waits until exactly one hub runs for the home and hub.json names it, and returns it.
func theHub(t *testing.T, home string) jetstream.Address {
	t.Helper()
	var addr jetstream.Address
	testwait.For(t, 5*time.Second, func() error {
		pids := hubPIDs(home)
		if len(pids) != 1 {
			return fmt.Errorf("hub processes for %s: %v, want exactly one", home, pids)
		}
		a, err := jetstream.ReadAddress(filepath.Join(home, "hub.json"))
		if err != nil {
			return err
		}
		if a.PID != pids[0] {
			return fmt.Errorf("hub.json names pid %d, the running hub is %d", a.PID, pids[0])
		}
		addr = a
		return nil
	})
	return addr
}

// noHub asserts that nothing started a hub for home: no process, no hub.json.
func noHub(t *testing.T, home string) {
	t.Helper()
	if pids := hubPIDs(home); len(pids) != 0 {
		t.Errorf("hub processes for %s: %v, want none", home, pids)
	}
	if _, err := os.Stat(filepath.Join(home, "hub.json")); err == nil {
		b, _ := os.ReadFile(filepath.Join(home, "hub.json"))
		t.Errorf("%s/hub.json exists (%s), want none", home, bytes.TrimSpace(b))
	}
}

// countLines counts the lines of path that contain s.
func countLines(t *testing.T, path, s string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(b), s)
}

// ---- tests

func TestHub_EightParallelFirstCallsStartExactlyOneHub(t *testing.T) {
	t.Parallel()
	const rounds, clients = 5, 8
	for round := range rounds {
		e := isolated(t)
		if err := os.Remove(e.home); err != nil { // empty: not even the directory
			t.Fatal(err)
		}
		type proc struct {
			cmd      *exec.Cmd
			out, err bytes.Buffer
		}
		procs := make([]*proc, clients)
		for i := range procs {
			args := []string{"sessions"}
			if i%2 == 1 {
				args = []string{"events"}
			}
			p := &proc{cmd: e.cmd(context.Background(), args...)}
			p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
			procs[i] = p
		}
		for _, p := range procs {
			if err := p.cmd.Start(); err != nil {
				t.Fatal(err)
			}
		}
		for i, p := range procs {
			if err := p.cmd.Wait(); err != nil {
				t.Errorf("round %d: client %d %v: %v\nstdout: %s\nstderr: %s", round, i, p.cmd.Args[1:], err, p.out.String(), p.err.String())
			}
		}
		for i := 0; i < clients; i += 2 {
			if out, hint := procs[i].out.String(), procs[i].err.String(); out != "" || !strings.Contains(hint, "no sessions") {
				t.Errorf("round %d: `mcpctl sessions` on an empty home printed %q, %q; want nothing on stdout, the no-sessions hint on stderr", round, out, hint)
			}
		}
		addr := theHub(t, e.home)
		hubLog := filepath.Join(e.home, "logs", "hub.log")
		if n := countLines(t, hubLog, `msg="hub running"`); n != 1 {
			t.Errorf("round %d: hub.log says \"hub running\" %d times, want 1", round, n)
		}
		if n := countLines(t, hubLog, "another hub owns the store"); n != 0 {
			t.Errorf("round %d: a second hub was started and refused (%d times): the spawn lock let it through", round, n)
		}
		// The hub keeps serving the clients that come after.
		var st struct {
			Running bool `json:"running"`
			PID     int  `json:"pid"`
		}
		e.jsonOK(&st, "hub", "status")
		if !st.Running || st.PID != addr.PID {
			t.Errorf("round %d: hub status = %+v, want running with pid %d", round, st, addr.PID)
		}
		if t.Failed() {
			return
		}
	}
}

func TestHub_SecondHubRunRefusesAndTheFirstKeepsServing(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.ok("hub", "start")
	first := theHub(t, e.home)

	r := e.run("hub", "run")
	if r.Code != 3 {
		t.Fatalf("second `hub run` exit %d, want 3:\n%s", r.Code, r)
	}
	if !strings.Contains(r.Stderr, "another hub owns the store") || !strings.Contains(r.Stderr, "store.lock") ||
		!strings.Contains(r.Stderr, fmt.Sprintf("pid %d", first.PID)) {
		t.Errorf("second `hub run` stderr does not name the store, its lock and the owner pid %d:\n%s", first.PID, r)
	}
	if r.Stdout != "" {
		t.Errorf("second `hub run` printed on stdout: %q", r.Stdout)
	}
	// The same refusal as one JSON object on stderr.
	r = e.run("--json", "hub", "run")
	var doc struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
	}
	if err := json.Unmarshal([]byte(r.Stderr), &doc); err != nil || r.Code != 3 || doc.Code != 3 || !strings.Contains(doc.Error, "store.lock") {
		t.Errorf("`--json hub run` on a running home: want exit 3 and {error: …store.lock…, code: 3} on stderr, got %v:\n%s", err, r)
	}

	// The first hub is untouched: same pid in hub.json, still the only one, still answering.
	if again := theHub(t, e.home); again != first {
		t.Errorf("hub.json after the refused start = %+v, want %+v", again, first)
	}
	name := uniqueName(t)
	e.connectTest(name)
	if got := e.sessionEvents(name, events.KindBridgeSpawned); len(got) != 1 || got[0].Actor.PID != first.PID {
		t.Errorf("bridge_spawned of @%s = %+v, want one, by the first hub (pid %d)", name, got, first.PID)
	}
}

func TestHub_KillNineLosesNoAcknowledgedEventAndRestartsByItself(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name := uniqueName(t)
	e.connectTest(name)
	const restarts = 4
	for i := range restarts {
		r := e.ok("@"+name, "restart")
		if want := fmt.Sprintf("generation %d", i+2); !strings.Contains(r.Stdout, want) {
			t.Fatalf("restart %d printed %q, want it to mention %q", i+1, r.Stdout, want)
		}
	}
	before := e.events()
	if n := countKind(before, events.KindRestartRequested); n != restarts {
		t.Fatalf("restart_requested events before the crash: %d, want %d", n, restarts)
	}
	old := theHub(t, e.home)
	if err := syscall.Kill(old.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, func() error {
		if pids := hubPIDs(e.home); len(pids) != 0 {
			return fmt.Errorf("killed hub still listed: %v", pids)
		}
		return nil
	})

	after := e.events() // starts a new hub by itself
	if len(after) < len(before) {
		t.Fatalf("after kill -9: %d events, want at least the %d acknowledged before", len(after), len(before))
	}
	for i := range before {
		if !reflect.DeepEqual(before[i], after[i]) {
			t.Errorf("event %d changed across kill -9:\n before %+v\n after  %+v", i, before[i], after[i])
		}
	}
	hub := theHub(t, e.home)
	if hub.PID == old.PID {
		t.Errorf("hub.json still names the killed hub %d", old.PID)
	}

	var doc doctorDoc
	e.jsonOK(&doc, "doctor")
	if !doc.OK {
		t.Errorf("doctor after kill -9 is not ok: %+v", doc)
	}
	if c := doc.check(t, "projection"); !c.OK || !strings.Contains(c.Detail, "equals a fresh replay") {
		t.Errorf("doctor projection check = %+v, want ok and equal to a replay", c)
	}
	// The session survived too: its bridge was adopted, or restarted, and answers.
	r := e.ok("@"+name, "tools-call", "add", "a:=1", "b:=2")
	if got := strings.TrimSpace(r.Stdout); got != "3" {
		t.Errorf("tools-call after kill -9 printed %q, want 3", got)
	}
}

func TestHub_UnsafeTokenFileIsRefusedAndStartsNothing(t *testing.T) {
	t.Parallel()
	t.Run("fresh home", func(t *testing.T) {
		t.Parallel()
		e := isolated(t)
		token := filepath.Join(e.home, "hub.token")
		if err := os.WriteFile(token, []byte("0123456789abcdef\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(token, 0o644); err != nil { // past the umask
			t.Fatal(err)
		}
		for _, args := range [][]string{{"sessions"}, {"events"}, {"hub", "start"}, {"connect", "@tok", "--", serverBin}} {
			r := e.run(args...)
			if r.Code != 1 || !strings.Contains(r.Stderr, "chmod 600 "+token) {
				t.Errorf("with a 0644 token: want exit 1 and a `chmod 600 %s` hint:\n%s", token, r)
			}
		}
		noHub(t, e.home)
		if _, err := os.Stat(filepath.Join(e.home, "hub")); err == nil {
			t.Errorf("the store directory was created despite the unsafe token")
		}
	})
	t.Run("running hub", func(t *testing.T) {
		t.Parallel()
		e := isolated(t)
		e.ok("hub", "start")
		hub := theHub(t, e.home)
		n := len(e.events())
		token := filepath.Join(e.home, "hub.token")
		if err := os.Chmod(token, 0o640); err != nil {
			t.Fatal(err)
		}
		r := e.run("sessions")
		if r.Code != 1 || !strings.Contains(r.Stderr, "chmod 600 "+token) {
			t.Errorf("with a 0640 token: want exit 1 and a `chmod 600 %s` hint:\n%s", token, r)
		}
		r = e.run("doctor")
		if r.Code == 0 || !strings.Contains(r.Stdout, "chmod 600 "+token) {
			t.Errorf("doctor with a 0640 token: want a failure naming `chmod 600 %s`:\n%s", token, r)
		}
		if err := os.Chmod(token, 0o600); err != nil {
			t.Fatal(err)
		}
		if again := theHub(t, e.home); again != hub {
			t.Errorf("the hub changed while its token was unsafe: %+v, then %+v", hub, again)
		}
		if got := len(e.events()); got != n {
			t.Errorf("refused commands appended events: %d, then %d", n, got)
		}
	})
}

func TestHub_UnusableHubJSONIsTreatedAsNoHubAndRecovered(t *testing.T) {
	t.Parallel()
	// A pid that is certainly dead: a child we started and reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	// A loopback port nobody listens on any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "nats://" + ln.Addr().String()
	ln.Close()
	stale, _ := json.Marshal(jetstream.Address{URL: closedURL, PID: dead.Process.Pid, Build: "dev+old", Started: time.Now().Add(-time.Hour)})
	full, _ := json.Marshal(jetstream.Address{URL: closedURL, PID: dead.Process.Pid, Build: "dev+old"})

	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"garbage", []byte("\x00\x01 this is not json {{{")},
		{"truncated", full[:len(full)/2]},
		{"empty", nil},
		{"no pid", []byte(`{"url":"` + closedURL + `"}`)},
		{"stale dead pid", stale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := isolated(t)
			if err := os.WriteFile(filepath.Join(e.home, "hub.json"), tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			r := e.ok("sessions")
			if r.Stdout != "" || !strings.Contains(r.Stderr, "no sessions") {
				t.Errorf("want nothing on stdout, the no-sessions hint on stderr:\n%s", r)
			}
			hub := theHub(t, e.home)
			if hub.PID == dead.Process.Pid {
				t.Errorf("hub.json still names the dead pid %d", hub.PID)
			}
			// Works again, through the same hub.
			name := uniqueName(t)
			e.connectTest(name)
			if again := theHub(t, e.home); again != hub {
				t.Errorf("the hub changed: %+v, then %+v", hub, again)
			}
		})
	}
}

// A hub.json destroyed while its hub runs leaves a hub that owns the store but cannot be
// found. The next command must not fail forever, nor start a second owner: it replaces the
// lost hub.
func TestHub_HubJSONLostWhileTheHubRunsIsRecovered(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name := uniqueName(t)
	e.connectTest(name)
	lost := theHub(t, e.home)
	n := len(e.events())
	if err := os.WriteFile(filepath.Join(e.home, "hub.json"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := e.ok("@"+name, "tools-call", "add", "a:=20", "b:=22")
	if got := strings.TrimSpace(r.Stdout); got != "42" {
		t.Errorf("tools-call printed %q, want 42", got)
	}
	// Exactly one owner, named by hub.json again: the lost hub itself, not a replacement
	// (its sessions and clients did not need to notice anything).
	if hub := theHub(t, e.home); hub != lost {
		t.Errorf("hub after recovery = %+v, want the lost one %+v found again", hub, lost)
	}
	if n := countLines(t, filepath.Join(e.home, "logs", "hub.log"), "another hub owns the store"); n != 0 {
		t.Errorf("a second hub was started against the owned store (%d times)", n)
	}
	if evs := e.events(); len(evs) < n {
		t.Errorf("events after recovery: %d, want at least %d", len(evs), n)
	}
}

func TestHub_VersionAndHelpStartNoHub(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	if err := os.Remove(e.home); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--version"}, {"--help"}, {"help"}, {"events", "--help"}, {"hub", "--help"}, {"doctor", "--help"}} {
		r := e.ok(args...)
		if args[0] == "--version" && !strings.HasPrefix(r.Stdout, "mcpctl ") {
			t.Errorf("--version printed %q, want `mcpctl <version>`", r.Stdout)
		}
		if args[0] != "--version" && !strings.Contains(r.Stdout, "Usage:") {
			t.Errorf("%v printed no usage:\n%s", args, r)
		}
	}
	noHub(t, e.home)
	if _, err := os.Stat(e.home); err == nil {
		t.Errorf("--version/--help created the home %s", e.home)
	}
}
