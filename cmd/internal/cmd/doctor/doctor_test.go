package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gofrs/flock"
	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/projector"
)

// fakeAdmin is the hub's admin interface over the in-memory hub: the events stream's state
// is computed from the MemLog, the notifications stream is empty. Its fields are the faults
// a test injects.
type fakeAdmin struct {
	log   *events.MemLog
	store *projector.MemStore

	fault     error  // Fault's answer
	streamErr error  // Stream's answer, when set
	missing   uint64 // events the stream says it holds fewer of than its sequence span

	mu     sync.Mutex
	resets int
}

var _ hubclient.Admin = (*fakeAdmin)(nil)

func (a *fakeAdmin) Fault(context.Context) error { return a.fault }
func (a *fakeAdmin) Lost() bool                  { return false }

func (a *fakeAdmin) Stream(ctx context.Context, name string) (jetstream.StreamState, error) {
	if a.streamErr != nil {
		return jetstream.StreamState{}, a.streamErr
	}
	st := jetstream.StreamState{Stream: name, Replicas: 1, MaxBytes: -1}
	if name != events.EventsStream {
		return st, nil
	}
	err := a.log.Read(ctx, events.Query{}, func(e events.Event) error {
		if st.FirstSeq == 0 {
			st.FirstSeq = e.Seq
		}
		st.LastSeq = e.Seq
		st.Msgs++
		b, _ := e.Marshal()
		st.Bytes += uint64(len(b))
		return nil
	})
	st.Msgs -= min(a.missing, st.Msgs)
	return st, err
}

// ResetBucket empties the in-memory store, as deleting and creating the KV bucket does.
func (a *fakeAdmin) ResetBucket(ctx context.Context, replicas int) error {
	a.mu.Lock()
	a.resets++
	a.mu.Unlock()
	for k := range a.store.Snapshot() {
		if err := a.store.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (a *fakeAdmin) resetCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.resets
}

// newHealthyHub is an in-memory hub doctor finds healthy: an admin, this process as the
// hub's pid and the store lock held for it (released when the test ends).
func newHealthyHub(t *testing.T) (*cmdtest.Hub, *fakeAdmin) {
	t.Helper()
	h := cmdtest.New(t)
	a := &fakeAdmin{log: h.Log, store: h.Store}
	h.Conn.Admin = a
	h.Conn.Addr = jetstream.Address{URL: "nats://127.0.0.1:4222", PID: os.Getpid(), Build: "b1"}
	holdStoreLock(t, h)
	return h, a
}

// holdStoreLock takes the store lock as a running hub holds it.
func holdStoreLock(t *testing.T, h *cmdtest.Hub) {
	t.Helper()
	if err := os.MkdirAll(h.Home.StoreDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	l := flock.New(filepath.Join(h.Home.StoreDir(), "store.lock"))
	if err := l.Lock(); err != nil {
		t.Fatalf("store lock: %v", err)
	}
	t.Cleanup(func() { _ = l.Unlock() })
}

// doctorJSON runs `doctor --json` (with extra args) and decodes its report.
func doctorJSON(t *testing.T, h *cmdtest.Hub, args ...string) (int, report) {
	t.Helper()
	r := h.Run(t, NewCmdDoctor, "", append([]string{"doctor", "--json"}, args...)...)
	var rep report
	if err := json.Unmarshal([]byte(r.Out), &rep); err != nil {
		t.Fatalf("doctor --json printed %q (stderr %q): %v", r.Out, r.ErrOut, err)
	}
	if r.ErrOut != "" {
		t.Errorf("doctor --json: stderr %q, want nothing (the report says what failed)", r.ErrOut)
	}
	return r.Code, rep
}

type report struct {
	OK     bool    `json:"ok"`
	Checks []check `json:"checks"`
}

func (r report) names() []string {
	var out []string
	for _, c := range r.Checks {
		out = append(out, c.Name)
	}
	return out
}

func (r report) check(t *testing.T, name string) check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("doctor reported checks %v, want one named %q", r.names(), name)
	return check{}
}

// failed returns the names of the checks that failed.
func (r report) failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

// someSessions appends 3 events: @docs created, @search created and closed.
func someSessions(t *testing.T, h *cmdtest.Hub) {
	t.Helper()
	h.Created(t, "docs")
	h.Created(t, "search")
	h.Append(t, events.New(events.KindClosed, cmdtest.Node, "search", 1))
}

func TestDoctor_AHealthyHubPassesEveryCheck(t *testing.T) {
	h, _ := newHealthyHub(t)
	someSessions(t, h)
	t.Run("as text: one line per check, exit 0", func(t *testing.T) {
		r := h.Run(t, NewCmdDoctor, "", "doctor")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("doctor: exit %d, stdout %q, stderr %q; want 0", r.Code, r.Out, r.ErrOut)
		}
		lines := strings.Split(strings.TrimRight(r.Out, "\n"), "\n")
		wantNames := []string{"home", "hub", "store lock", "storage", "event log", "integrity", "projection"}
		if len(lines) != len(wantNames) {
			t.Fatalf("doctor printed %d lines, want %d:\n%s", len(lines), len(wantNames), r.Out)
		}
		for i, name := range wantNames {
			if want := fmt.Sprintf("ok   %-12s ", name); !strings.HasPrefix(lines[i], want) {
				t.Errorf("line %d = %q, want it to start with %q", i+1, lines[i], want)
			}
		}
	})
	t.Run("as JSON: ok and each check's detail", func(t *testing.T) {
		code, rep := doctorJSON(t, h)
		if code != 0 || !rep.OK || len(rep.failed()) != 0 {
			t.Fatalf("doctor --json: exit %d, ok %v, failed %v", code, rep.OK, rep.failed())
		}
		for name, want := range map[string]string{
			"home":       h.Home.Dir,
			"hub":        fmt.Sprintf("pid %d at nats://127.0.0.1:4222, build b1", os.Getpid()),
			"store lock": fmt.Sprintf("held (hub pid %d)", os.Getpid()),
			"storage":    "size limits: " + events.EventsStream + " none",
			"event log":  "3 events (seq 1..3)",
			"integrity":  "3 events, no gaps, every event applicable",
			"projection": "KV equals a fresh replay of 3 events (2 sessions, 0 skipped)",
		} {
			if c := rep.check(t, name); !strings.Contains(c.Detail, want) {
				t.Errorf("check %s: detail %q, want it to contain %q", name, c.Detail, want)
			}
		}
	})
}

func TestDoctor_AFailedCheckExits3(t *testing.T) {
	t.Run("no hub: the hub check fails and storage is still looked at", func(t *testing.T) {
		h := cmdtest.New(t)
		io, out, errOut := cmdkit.Test("")
		code := cmdkit.Run(context.Background(), []string{"doctor"}, io, cmdkit.Program{
			Root: func(f *cmdkit.Factory) *cobra.Command {
				root := &cobra.Command{Use: "mcpctl", SilenceUsage: true, SilenceErrors: true}
				cmdkit.AddGlobalFlags(root.PersistentFlags(), f)
				root.AddCommand(NewCmdDoctor(f))
				return root
			},
			Factory: func(io *cmdkit.IOStreams) *cmdkit.Factory {
				f := h.Factory(io)
				f.Hub = func(context.Context) (*hubclient.HubConn, error) {
					return nil, fmt.Errorf("no hub answers: %w", events.ErrNoHub)
				}
				return f
			},
		})
		if code != 3 || errOut.String() != "" {
			t.Errorf("doctor without a hub: exit %d, stderr %q; want 3 and nothing on stderr", code, errOut)
		}
		if !strings.Contains(out.String(), "FAIL hub          no hub answers") || !strings.Contains(out.String(), "storage") {
			t.Errorf("doctor without a hub printed %q, want a failed hub check and a storage check", out)
		}
		if strings.Contains(out.String(), "projection") {
			t.Errorf("doctor without a hub printed %q: no projection check can run", out)
		}
	})
	t.Run("the store lock is not held", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Conn.Admin = &fakeAdmin{log: h.Log, store: h.Store}
		h.Conn.Addr = jetstream.Address{URL: "nats://127.0.0.1:4222", PID: os.Getpid()}
		if err := os.MkdirAll(h.Home.StoreDir(), 0o700); err != nil {
			t.Fatal(err)
		}
		code, rep := doctorJSON(t, h)
		c := rep.check(t, "store lock")
		if code != 3 || rep.OK || c.OK || !strings.Contains(c.Detail, "is not held: the store has no owner") {
			t.Errorf("doctor with no store lock: exit %d, ok %v, store lock %+v; want 3 and the lock unowned", code, rep.OK, c)
		}
		if got := rep.failed(); len(got) != 1 {
			t.Errorf("failed checks %v, want only the store lock", got)
		}
	})
	t.Run("the hub reports a storage fault", func(t *testing.T) {
		h, a := newHealthyHub(t)
		a.fault = errors.New("disk full: writes refused")
		r := h.Run(t, NewCmdDoctor, "", "doctor")
		if r.Code != 3 || !strings.Contains(r.Out, "FAIL storage") || !strings.Contains(r.Out, "; disk full: writes refused") {
			t.Errorf("doctor with a storage fault: exit %d, stdout %q; want 3 and the fault on the storage line", r.Code, r.Out)
		}
	})
	t.Run("the event stream cannot be read", func(t *testing.T) {
		h, a := newHealthyHub(t)
		a.streamErr = errors.New("stream unavailable")
		code, rep := doctorJSON(t, h)
		if c := rep.check(t, "event log"); code != 3 || c.OK || c.Detail != "stream unavailable" {
			t.Errorf("doctor: exit %d, event log %+v; want 3 and the stream error", code, c)
		}
	})
	t.Run("events missing from the middle of the log", func(t *testing.T) {
		h, a := newHealthyHub(t)
		someSessions(t, h)
		a.missing = 1
		code, rep := doctorJSON(t, h)
		c := rep.check(t, "integrity")
		if code != 3 || c.OK || !strings.Contains(c.Detail, "1 event(s) missing between seq 1 and 3") {
			t.Errorf("doctor: exit %d, integrity %+v; want 3 and the gap counted", code, c)
		}
	})
	t.Run("an event of a newer schema version", func(t *testing.T) {
		h, _ := newHealthyHub(t)
		h.Created(t, "docs")
		e := events.New(events.KindBridgeReady, cmdtest.Node, "docs", 1)
		e.V = events.SchemaVersion + 1
		h.Append(t, e)
		code, rep := doctorJSON(t, h)
		c := rep.check(t, "integrity")
		if code != 3 || c.OK || !strings.Contains(c.Detail, "1 event(s) of an unknown kind or a newer schema version were skipped") ||
			!strings.Contains(c.Detail, "upgrade this one") {
			t.Errorf("doctor: exit %d, integrity %+v; want 3 and the skipped event named", code, c)
		}
		if p := rep.check(t, "projection"); !p.OK {
			t.Errorf("projection %+v: a skipped event is folded the same by the hub and the replay", p)
		}
	})
	t.Run("the KV differs from a replay of the log", func(t *testing.T) {
		h, _ := newHealthyHub(t)
		someSessions(t, h)
		forgeSession(t, h, "ghost")
		r := h.Run(t, NewCmdDoctor, "", "doctor")
		if r.Code != 3 || !strings.Contains(r.Out, "FAIL projection   the KV differs from a replay of 3 events") {
			t.Errorf("doctor: exit %d, stdout %q; want 3 and a failed projection", r.Code, r.Out)
		}
		if !strings.Contains(r.Out, "\n       ") || !strings.Contains(r.Out, "ghost") {
			t.Errorf("doctor printed %q, want the differences indented under the check, naming ghost", r.Out)
		}
	})
}

// forgeSession writes a session the log knows nothing about straight into the KV.
func forgeSession(t *testing.T, h *cmdtest.Hub, name string) {
	t.Helper()
	s := projector.Session{Node: cmdtest.Node, Name: name, Status: projector.StatusReady, Generation: 1, LastSeq: 1}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Store.Put(context.Background(), projector.Key(cmdtest.Node, name), b); err != nil {
		t.Fatalf("forge @%s: %v", name, err)
	}
}

func TestDoctor_Repair(t *testing.T) {
	t.Run("rebuilds the KV from the log and names the sessions it could not recover", func(t *testing.T) {
		h, a := newHealthyHub(t)
		someSessions(t, h)
		forgeSession(t, h, "ghost")
		code, rep := doctorJSON(t, h, "--repair")
		if a.resetCount() != 1 {
			t.Errorf("the bucket was reset %d times, want once", a.resetCount())
		}
		p := rep.check(t, "projection")
		if !p.OK || !strings.HasPrefix(p.Detail, "after repair: KV equals a fresh replay of 3 events") {
			t.Errorf("projection after repair: %+v, want it to pass, marked after repair", p)
		}
		r := rep.check(t, "repair")
		if r.OK || !strings.Contains(r.Detail, "rebuilt "+events.SessionBucket+" from the log up to seq 3: 2 session(s)") ||
			!strings.Contains(r.Detail, "could not recover @ghost") {
			t.Errorf("repair %+v: want a rebuild of 2 sessions and @ghost named as lost", r)
		}
		if code != 3 {
			t.Errorf("doctor --repair with a lost session: exit %d, want 3", code)
		}
		if _, err := h.Store.Get(context.Background(), projector.Key(cmdtest.Node, "ghost")); !errors.Is(err, events.ErrNotFound) {
			t.Errorf("@ghost after repair: %v, want it gone from the KV", err)
		}
	})
	t.Run("on a healthy hub the rebuild passes", func(t *testing.T) {
		h, _ := newHealthyHub(t)
		someSessions(t, h)
		code, rep := doctorJSON(t, h, "--repair")
		if code != 0 || !rep.OK {
			t.Errorf("doctor --repair: exit %d, failed %v; want 0", code, rep.failed())
		}
		if r := rep.check(t, "repair"); !r.OK || !strings.Contains(r.Detail, "the hub was stopped to reload it") {
			t.Errorf("repair %+v, want ok and the hub restart said", r)
		}
	})
}

func TestDoctor_TakesNoArguments(t *testing.T) {
	h := cmdtest.New(t)
	r := h.Run(t, NewCmdDoctor, "", "doctor", "now")
	if r.Code != 1 || !strings.Contains(r.ErrOut, "unknown command") {
		t.Errorf("doctor now: exit %d, stderr %q; want 1", r.Code, r.ErrOut)
	}
}
