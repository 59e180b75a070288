package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

var mcpctlBin, serverBin, binDir string

func TestMain(m *testing.M) {
	var err error
	binDir, err = os.MkdirTemp("", "crashwatch-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mcpctlBin = filepath.Join(binDir, "mcpctl")
	serverBin = filepath.Join(binDir, "mcptestserver")
	for bin, pkg := range map[string]string{mcpctlBin: "../../mcpctl", filepath.Join(binDir, "mcpctld"): "../../mcpctld",
		serverBin: "../../../e2e/mcptestserver"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// home is an mcpctl home of the test's own, with a real hub; everything it started is
// closed and stopped at cleanup.
type home struct {
	t   *testing.T
	dir string
}

func newHome(t *testing.T) *home {
	dir, err := os.MkdirTemp(binDir, "h")
	if err != nil {
		t.Fatal(err)
	}
	h := &home{t: t, dir: dir}
	t.Cleanup(func() {
		h.mcpctl("clean", "--all")
		h.mcpctl("hub", "stop")
	})
	return h
}

func (h *home) mcpctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mcpctlBin, args...)
	cmd.Env = append(os.Environ(), "MCPCTL_HOME="+h.dir, "MCPCTL_NODE=cw", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (h *home) ok(args ...string) string {
	h.t.Helper()
	out, err := h.mcpctl(args...)
	if err != nil {
		h.t.Fatalf("mcpctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// crash makes the session's server exit and waits until the supervisor brought the
// session back (policy on-failure).
func (h *home) crash(session string) {
	h.t.Helper()
	h.mcpctl("@"+session, "tools-call", "crash", "code:=3") // fails: the server dies mid-call
	testwait.For(h.t, 30*time.Second, func() error {
		var s projector.Session
		out, err := h.mcpctl("--json", "@"+session, "wait", "--for", "ready")
		if err != nil {
			return fmt.Errorf("wait: %v %s", err, out)
		}
		var r struct{ State projector.Session }
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			return err
		}
		s = r.State
		if s.Crashes == 0 || s.Status != projector.StatusReady {
			return fmt.Errorf("@%s: status %s crashes %d", session, s.Status, s.Crashes)
		}
		return nil
	})
}

// start runs crashwatch in the background until cleanup.
func start(t *testing.T, args ...string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() { done <- run(ctx, args, &stderr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("crashwatch: %v (%s)", err, stderr.String())
		}
	})
}

func readAlerts(t *testing.T, path string) []Alert {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Alert
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alert line %q: %v", sc.Text(), err)
		}
		out = append(out, a)
	}
	return out
}

func TestCrashwatch_AlertsWhenASessionCrashesTwiceWithinAMinute(t *testing.T) {
	h := newHome(t)
	h.ok("connect", "@once", "--", serverBin)
	h.ok("connect", "@twice", "--", serverBin)
	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")

	var mu sync.Mutex
	var posted []Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var a Alert
		if err := json.Unmarshal(b, &a); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		posted = append(posted, a)
		mu.Unlock()
	}))
	defer hook.Close()
	start(t, "--home", h.dir, "--out", alerts, "--webhook", hook.URL)

	h.crash("once")
	h.crash("twice")
	h.crash("twice")

	testwait.For(t, 30*time.Second, func() error {
		if got := readAlerts(t, alerts); len(got) == 0 {
			return errors.New("no alert yet")
		}
		return nil
	})
	got := readAlerts(t, alerts)
	// Events are handled in log order and @once crashed first: had it raised an alert,
	// that alert would be in the file before @twice's.
	if len(got) != 1 || got[0].Session != "twice" || got[0].Crashes != 2 || got[0].Seq <= got[0].FirstSeq {
		t.Fatalf("alerts = %+v, want one for @twice with 2 crashes", got)
	}
	if got[0].Error == "" || !strings.Contains(got[0].Error, "exit status 3") {
		t.Errorf("alert error = %q, want the server's exit", got[0].Error)
	}
	testwait.For(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(posted) != 1 || posted[0] != got[0] {
			return fmt.Errorf("webhook got %+v, want %+v", posted, got[0])
		}
		return nil
	})
}

func TestCrashwatch_ResumesFromItsCheckpointAndRebuildsTheWindow(t *testing.T) {
	h := newHome(t)
	h.ok("connect", "@s", "--", serverBin)
	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")
	cp := filepath.Join(t.TempDir(), "cp")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--home", h.dir, "--out", alerts, "--checkpoint", cp}, io.Discard) }()
	h.crash("s") // first crash, seen by the first run
	testwait.For(t, 10*time.Second, func() error {
		if _, err := os.Stat(cp); err != nil {
			return err
		}
		return nil
	})
	cancel()
	<-done
	h.crash("s") // second crash while crashwatch is down
	start(t, "--home", h.dir, "--out", alerts, "--checkpoint", cp)
	testwait.For(t, 30*time.Second, func() error {
		got := readAlerts(t, alerts)
		if len(got) != 1 || got[0].Session != "s" || got[0].Crashes != 2 {
			return fmt.Errorf("alerts = %+v, want one for @s", got)
		}
		return nil
	})
}

func TestWatcher_Window(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seq := uint64(0)
	ev := func(k events.Kind, gen uint64, at time.Duration) events.Event {
		seq++
		e := events.Event{V: 1, Type: k, Node: "n", Session: "s", Generation: gen, Time: t0.Add(at), Seq: seq}
		if k == events.KindCreated {
			e.Server = &events.Server{Transport: events.TransportStdio, Command: "x"}
		}
		return e
	}
	w := &watcher{o: options{crashes: 2, window: time.Minute}, sessions: map[string]*tracked{}}
	var alerts []*Alert
	for _, e := range []events.Event{
		ev(events.KindCreated, 1, 0),
		ev(events.KindBridgeReady, 1, time.Second),
		ev(events.KindServerLost, 1, 2*time.Second), // crash 1
		ev(events.KindBridgeExited, 1, 2*time.Second),
		ev(events.KindRestartRequested, 2, 3*time.Second),
		ev(events.KindBridgeReady, 2, 4*time.Second),
		ev(events.KindServerLost, 2, 90*time.Second), // crash 2, but 88 s after the first
		ev(events.KindRestartRequested, 3, 91*time.Second),
		ev(events.KindBridgeReady, 3, 92*time.Second),
		ev(events.KindBridgeExited, 3, 100*time.Second), // crash 3, 10 s after crash 2: alert
	} {
		if a := w.apply(e); a != nil {
			alerts = append(alerts, a)
		}
	}
	if len(alerts) != 1 || alerts[0].Seq != 10 || alerts[0].FirstSeq != 7 {
		t.Fatalf("alerts = %+v, want one completed by seq 10, first crash seq 7", alerts)
	}
}
