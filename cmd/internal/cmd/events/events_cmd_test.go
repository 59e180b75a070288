package events

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

// fixture is a hub whose log holds, in this order and an hour apart, the last one now:
//
//	1 docs created   2 docs bridge_ready   3 web created   4 docs closed   5 n2's far created
func fixture(t *testing.T) (*cmdtest.Hub, time.Time) {
	t.Helper()
	h := cmdtest.New(t)
	base := time.Now().UTC().Add(-5 * time.Hour).Truncate(time.Second)
	add := func(i int, e events.Event) {
		t.Helper()
		if e.Type == events.KindCreated {
			e.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver", Args: []string{"-v"}}
		}
		e.Time = base.Add(time.Duration(i) * time.Hour)
		if seq := h.Append(t, e); seq != uint64(i) {
			t.Fatalf("fixture: event %d got sequence %d", i, seq)
		}
	}
	add(1, events.New(events.KindCreated, cmdtest.Node, "docs", 1))
	ready := events.New(events.KindBridgeReady, cmdtest.Node, "docs", 1)
	ready.ServerName, ready.ServerVersion = "srv", "1.0"
	add(2, ready)
	add(3, events.New(events.KindCreated, cmdtest.Node, "web", 1))
	closed := events.New(events.KindClosed, cmdtest.Node, "docs", 1)
	closed.Reason = "done for today"
	add(4, closed)
	add(5, events.New(events.KindCreated, "n2", "far", 1))
	return h, base
}

// formatted runs events with a template printing "seq session type" and returns its lines.
func formatted(t *testing.T, h *cmdtest.Hub, args ...string) []string {
	t.Helper()
	r := h.Run(t, NewCmdEvents, "", append([]string{"events", "--format", "{{.Seq}} {{.Session}} {{.Type}}"}, args...)...)
	if r.Code != 0 || r.ErrOut != "" {
		t.Fatalf("events %q: exit %d, stderr %q", args, r.Code, r.ErrOut)
	}
	return lines(r.Out)
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

var all = []string{"1 docs created", "2 docs bridge_ready", "3 web created", "4 docs closed", "5 far created"}

func TestEvents_PrintsTheLog(t *testing.T) {
	h, _ := fixture(t)

	t.Run("text: one aligned line an event, oldest first, with its details", func(t *testing.T) {
		r := h.Run(t, NewCmdEvents, "", "events")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("events: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		got := lines(r.Out)
		if len(got) != 5 {
			t.Fatalf("events printed %d lines, want 5:\n%s", len(got), r.Out)
		}
		for i, want := range [][]string{
			{"1", "docs", "1", "created", "server=stdio:mcptestserver -v"},
			{"2", "docs", "1", "bridge_ready", "server_name=srv 1.0"},
			{"3", "web", "1", "created"},
			{"4", "docs", "1", "closed", `reason="done for today"`},
			{"5", "far", "1", "created"},
		} {
			f := strings.Fields(got[i])
			if len(f) < 6 || f[0] != want[0] || f[3] != want[1] || f[4] != want[2] || f[5] != want[3] {
				t.Errorf("events line %d = %q, want seq %s, session %s, generation %s, type %s", i+1, got[i], want[0], want[1], want[2], want[3])
			}
			if len(want) > 4 && !strings.Contains(got[i], want[4]) {
				t.Errorf("events line %d = %q, want it to contain %q", i+1, got[i], want[4])
			}
		}
		if col := strings.Index(got[0], "docs"); col < 0 || strings.Index(got[2], "web") != col {
			t.Errorf("session columns not aligned:\n%s", r.Out)
		}
	})

	t.Run("--json: one event object a line, as stored, with its sequence", func(t *testing.T) {
		r := h.Run(t, NewCmdEvents, "", "events", "--json")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("events --json: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		var got []string
		for i, l := range lines(r.Out) {
			var e events.Event
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("events --json line %d is not an event: %v\n%s", i+1, err, l)
			}
			got = append(got, fmt.Sprintf("%d %s %s", e.Seq, e.Session, e.Type))
			if e.V < 1 || e.Node == "" || e.Time.IsZero() {
				t.Errorf("events --json line %d = %s, want v, node and time", i+1, l)
			}
		}
		if !slices.Equal(got, all) {
			t.Errorf("events --json = %v, want %v", got, all)
		}
	})

	t.Run("an empty log prints nothing and exits 0", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdEvents, "", "events")
		if r.Code != 0 || r.Out != "" || r.ErrOut != "" {
			t.Errorf("events on an empty log: exit %d, stdout %q, stderr %q, want 0 and nothing", r.Code, r.Out, r.ErrOut)
		}
	})
}

func TestEvents_Filters(t *testing.T) {
	h, base := fixture(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, all},
		{[]string{"--session", "docs"}, []string{"1 docs created", "2 docs bridge_ready", "4 docs closed"}},
		{[]string{"--session", "@web"}, []string{"3 web created"}},
		{[]string{"--session", "web", "--session", "far"}, []string{"3 web created", "5 far created"}},
		{[]string{"--session", "nobody"}, []string{}},
		{[]string{"--type", "created"}, []string{"1 docs created", "3 web created", "5 far created"}},
		{[]string{"--type", "closed,bridge_ready"}, []string{"2 docs bridge_ready", "4 docs closed"}},
		{[]string{"--type", "bridge_*"}, []string{"2 docs bridge_ready"}},
		{[]string{"--type", "task_*"}, []string{}},
		{[]string{"--type", "closed", "--type", "bridge_ready"}, []string{"2 docs bridge_ready", "4 docs closed"}},
		{[]string{"--session", "docs", "--type", "created"}, []string{"1 docs created"}},
		{[]string{"--node", "n2"}, []string{"5 far created"}},
		{[]string{"--node", cmdtest.Node}, all[:4]},
		{[]string{"-n", "2"}, []string{"4 docs closed", "5 far created"}},
		{[]string{"--lines", "10"}, all},
		{[]string{"-n", "0"}, all},
		{[]string{"-n", "1", "--session", "web"}, []string{"3 web created"}},
		{[]string{"--after-seq", "3"}, []string{"4 docs closed", "5 far created"}},
		{[]string{"--after-seq", "5"}, []string{}},
		{[]string{"--after-seq", "2", "-n", "1"}, []string{"5 far created"}},
		{[]string{"--since", base.Add(3 * time.Hour).Format(time.RFC3339)}, []string{"3 web created", "4 docs closed", "5 far created"}},
		{[]string{"--until", base.Add(2 * time.Hour).Format(time.RFC3339)}, []string{"1 docs created", "2 docs bridge_ready"}},
		{[]string{"--since", "90m", "--until", "30m"}, []string{"4 docs closed"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if got := formatted(t, h, tc.args...); !slices.Equal(got, tc.want) {
				t.Errorf("events %q = %v, want %v", tc.args, got, tc.want)
			}
		})
	}

	t.Run("--format has the event's fields and a json function", func(t *testing.T) {
		r := h.Run(t, NewCmdEvents, "", "events", "--session", "docs", "--type", "closed", "--format", "{{.Node}} {{.Generation}} {{.Reason}} {{json .Session}}")
		if want := cmdtest.Node + " 1 done for today \"docs\"\n"; r.Code != 0 || r.Out != want {
			t.Errorf("events --format: exit %d, stdout %q, want %q (stderr %q)", r.Code, r.Out, want, r.ErrOut)
		}
	})
}

func TestEvents_BadInputIsAUsageError(t *testing.T) {
	h, _ := fixture(t)
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"--type", "bogus"}, `unknown event type "bogus"`},
		{[]string{"--type", "created,bogus"}, `unknown event type "bogus"`},
		{[]string{"--type", "notification"}, "needs --notifications"},
		{[]string{"--type", "nothing_*"}, `no event type starts with "nothing_"`},
		{[]string{"-n", "-1"}, "must be 0 or more"},
		{[]string{"-n", "many"}, "invalid argument"},
		{[]string{"--after-seq", "-3"}, "invalid argument"},
		{[]string{"--since", "yesterday"}, "--since"},
		{[]string{"--until", "soon"}, "--until"},
		{[]string{"--since", "1h", "--until", "2h"}, "is before --since"},
		{[]string{"--format", "{{.Seq"}, "--format"},
		{[]string{"--format", "{{.Seq}}", "--json"}, "cannot be used together"},
		{[]string{"--format", "{{.NoSuchField}}"}, "--format"},
		{[]string{"--session", "bad/name"}, ""},
		{[]string{"--node", "bad node"}, ""},
		{[]string{"docs"}, `unexpected argument "docs"`},
		{[]string{"@docs", "@web"}, "unexpected argument"},
		{[]string{"--bogus"}, "unknown flag"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := h.Run(t, NewCmdEvents, "", append([]string{"events"}, tc.args...)...)
			if r.Code != 1 || r.ErrOut == "" || !strings.Contains(r.ErrOut, tc.want) {
				t.Errorf("events %q: exit %d, stderr %q, want 1 and an error containing %q", tc.args, r.Code, r.ErrOut, tc.want)
			}
			if r.Out != "" {
				t.Errorf("events %q: stdout %q, want nothing", tc.args, r.Out)
			}
		})
	}
}

// followSpy is the hub's log, with a channel closed when Follow is first called: a test
// appends once the command follows, so what it sees can only come from following.
type followSpy struct {
	events.Log
	once      sync.Once
	following chan struct{}
}

func (s *followSpy) Follow(ctx context.Context, q events.Query, fn func(events.Event) error) error {
	s.once.Do(func() { close(s.following) })
	return s.Log.Follow(ctx, q, fn)
}

// spyFollow makes the command's hub connection report when it starts following.
func spyFollow(h *cmdtest.Hub) <-chan struct{} {
	spy := &followSpy{Log: h.Conn.Log, following: make(chan struct{})}
	h.Conn.Log = spy
	return spy.following
}

// runAsync runs the command in a goroutine; the channel yields its result.
func runAsync(t *testing.T, h *cmdtest.Hub, args ...string) <-chan cmdtest.Result {
	t.Helper()
	done := make(chan cmdtest.Result, 1)
	go func() { done <- h.Run(t, NewCmdEvents, "", args...) }()
	return done
}

// await returns what the command did, failing t when it does not finish within timeout.
func await(t *testing.T, done <-chan cmdtest.Result, timeout time.Duration, what string) cmdtest.Result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(timeout):
		t.Fatalf("%s still runs after %s, want it finished", what, timeout)
		return cmdtest.Result{}
	}
}

func waitFollowing(t *testing.T, following <-chan struct{}, done <-chan cmdtest.Result) {
	t.Helper()
	select {
	case <-following:
	case r := <-done:
		t.Fatalf("events -f returned before following: exit %d, stdout %q, stderr %q", r.Code, r.Out, r.ErrOut)
	case <-time.After(10 * time.Second):
		t.Fatal("events -f did not start following within 10s")
	}
}

func TestEvents_Follow(t *testing.T) {
	t.Run("-f prints what is stored, then what is appended, until --until passes", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "docs")
		following := spyFollow(h)
		until := time.Now().Add(time.Minute).UTC()
		done := runAsync(t, h, "events", "-f", "--format", "{{.Seq}} {{.Session}} {{.Type}}", "--until", until.Format(time.RFC3339Nano))
		waitFollowing(t, following, done)

		h.Append(t, events.New(events.KindBridgeReady, cmdtest.Node, "docs", 1))
		h.Created(t, "web")
		late := events.New(events.KindClosed, cmdtest.Node, "docs", 1)
		late.Time = until.Add(time.Second) // after --until: following stops here
		h.Append(t, late)

		r := await(t, done, 10*time.Second, "events -f after an event past --until")
		if r.Code != 0 || r.ErrOut != "" {
			t.Errorf("events -f: exit %d, stderr %q, want 0", r.Code, r.ErrOut)
		}
		if got, want := lines(r.Out), []string{"1 docs created", "2 docs bridge_ready", "3 web created"}; !slices.Equal(got, want) {
			t.Errorf("events -f printed %v, want %v", got, want)
		}
	})

	t.Run("-f keeps the filters: --session and --type", func(t *testing.T) {
		h := cmdtest.New(t)
		following := spyFollow(h)
		until := time.Now().Add(time.Minute).UTC()
		done := runAsync(t, h, "events", "-f", "--json", "--session", "docs", "--type", "created", "--until", until.Format(time.RFC3339Nano))
		waitFollowing(t, following, done)

		h.Created(t, "web")
		h.Created(t, "docs")
		h.Append(t, events.New(events.KindBridgeReady, cmdtest.Node, "docs", 1))
		late := events.New(events.KindClosed, cmdtest.Node, "docs", 1)
		late.Time = until.Add(time.Second)
		h.Append(t, late)
		// The filter hides the closed event that would stop it: the deadline ends it.
		end := events.New(events.KindCreated, cmdtest.Node, "docs", 2)
		end.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver"}
		end.Time = until.Add(time.Second)
		h.Append(t, end)

		r := await(t, done, 10*time.Second, "events -f after a matching event past --until")
		var got []string
		for _, l := range lines(r.Out) {
			var e events.Event
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("events -f --json line is not an event: %v\n%s", err, l)
			}
			got = append(got, fmt.Sprintf("%d %s %s", e.Seq, e.Session, e.Type))
		}
		if want := []string{"2 docs created"}; r.Code != 0 || !slices.Equal(got, want) {
			t.Errorf("events -f --session docs --type created: exit %d, printed %v, want %v", r.Code, got, want)
		}
	})

	t.Run("-f with an --until already past prints what is stored and returns", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "docs")
		r := await(t, runAsync(t, h, "events", "-f", "--until", time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano), "--format", "{{.Seq}}"),
			10*time.Second, "events -f --until <past>")
		if r.Code != 0 || r.Out != "" {
			// The created event is after that --until: nothing matches.
			t.Errorf("events -f --until <past>: exit %d, stdout %q, want 0 and nothing", r.Code, r.Out)
		}
	})

	t.Run("-f -n 1 prints the newest stored event, then follows", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "a")
		h.Created(t, "b")
		following := spyFollow(h)
		until := time.Now().Add(time.Minute).UTC()
		done := runAsync(t, h, "events", "-f", "-n", "1", "--format", "{{.Seq}} {{.Session}}", "--until", until.Format(time.RFC3339Nano))
		waitFollowing(t, following, done)
		h.Created(t, "c")
		late := events.New(events.KindClosed, cmdtest.Node, "c", 1)
		late.Time = until.Add(time.Second)
		h.Append(t, late)
		r := await(t, done, 10*time.Second, "events -f -n 1")
		if got, want := lines(r.Out), []string{"2 b", "3 c"}; r.Code != 0 || !slices.Equal(got, want) {
			t.Errorf("events -f -n 1: exit %d, printed %v, want %v", r.Code, got, want)
		}
	})
}

// --timeout is a global flag ("give up after this long"), but events never applies it: the
// command runs on cmd.Context() without cmdkit.CommandContext, so -f follows forever.
func TestEvents_FollowEndsWhenTimeoutPasses(t *testing.T) {
	h := cmdtest.New(t)
	h.Created(t, "docs")
	done := runAsync(t, h, "events", "-f", "--timeout", "200ms", "--format", "{{.Seq}}")
	r := await(t, done, 5*time.Second, "events -f --timeout 200ms")
	if r.Out != "1\n" {
		t.Errorf("events -f --timeout: stdout %q, want the stored event", r.Out)
	}
}

// fakeNotes is a notification stream: what ReadNotifications replays, and nothing more
// while following (FollowNotifications waits for the end of the context).
type fakeNotes struct {
	mu    sync.Mutex
	notes []jetstream.Notification
	reads []jetstream.NotifyQuery
}

func (f *fakeNotes) ReadNotifications(ctx context.Context, q jetstream.NotifyQuery, fn func(jetstream.Notification) error) error {
	f.mu.Lock()
	f.reads = append(f.reads, q)
	notes := slices.Clone(f.notes)
	f.mu.Unlock()
	for _, n := range notes {
		if (q.Session != "" && n.Session != q.Session) || n.Seq <= q.AfterSeq {
			continue
		}
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeNotes) FollowNotifications(ctx context.Context, q jetstream.NotifyQuery, fn func(jetstream.Notification) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestEvents_Notifications(t *testing.T) {
	h, base := fixture(t)
	notes := &fakeNotes{notes: []jetstream.Notification{
		{Seq: 1, Node: cmdtest.Node, Session: "docs", Method: "notifications/tools/list_changed", Time: base.Add(90 * time.Minute)},
		{Seq: 2, Node: cmdtest.Node, Session: "docs", Method: "notifications/message", Params: json.RawMessage(`{"level":"info"}`), Time: base.Add(150 * time.Minute)},
	}}
	h.Conn.Notes = notes

	t.Run("events @session merges its notifications in time order", func(t *testing.T) {
		r := h.Run(t, NewCmdEvents, "", "events", "@docs", "--format", "{{.Stream}} {{.Seq}} {{.Type}} {{.Method}}")
		want := []string{
			"events 1 created ",
			"notifications 1 notification notifications/tools/list_changed",
			"events 2 bridge_ready ",
			"notifications 2 notification notifications/message",
			"events 4 closed ",
		}
		if got := lines(r.Out); r.Code != 0 || !slices.Equal(got, want) {
			t.Errorf("events @docs: exit %d, stderr %q, printed %q, want %q", r.Code, r.ErrOut, got, want)
		}
	})

	t.Run("--notifications --json: each line says its stream", func(t *testing.T) {
		r := h.Run(t, NewCmdEvents, "", "events", "--notifications", "--json", "--session", "docs", "--after-seq", "3", "--after-notify-seq", "1")
		var got []string
		for _, l := range lines(r.Out) {
			var doc struct {
				Stream string `json:"stream"`
				Type   string `json:"type"`
				Seq    uint64 `json:"seq"`
				Method string `json:"method"`
			}
			if err := json.Unmarshal([]byte(l), &doc); err != nil {
				t.Fatalf("events --notifications --json line is not JSON: %v\n%s", err, l)
			}
			got = append(got, fmt.Sprintf("%s %s %d %s", doc.Stream, doc.Type, doc.Seq, doc.Method))
		}
		want := []string{"notifications notification 2 notifications/message", "events closed 4 "}
		if r.Code != 0 || !slices.Equal(got, want) {
			t.Errorf("events --notifications --json: exit %d, stderr %q, printed %q, want %q", r.Code, r.ErrOut, got, want)
		}
	})

	t.Run("--type notification prints only notifications", func(t *testing.T) {
		r := h.Run(t, NewCmdEvents, "", "events", "@docs", "--type", "notification", "--format", "{{.Type}} {{.Method}}")
		want := []string{"notification notifications/tools/list_changed", "notification notifications/message"}
		if got := lines(r.Out); r.Code != 0 || !slices.Equal(got, want) {
			t.Errorf("events @docs --type notification: exit %d, stderr %q, printed %q, want %q", r.Code, r.ErrOut, got, want)
		}
	})

	t.Run("without --notifications or @session the notification stream is not read", func(t *testing.T) {
		notes.mu.Lock()
		notes.reads = nil
		notes.mu.Unlock()
		if got := formatted(t, h, "--session", "docs"); len(got) != 3 {
			t.Errorf("events --session docs = %v, want the 3 events of docs only", got)
		}
		notes.mu.Lock()
		defer notes.mu.Unlock()
		if len(notes.reads) != 0 {
			t.Errorf("events --session docs read notifications %v, want none", notes.reads)
		}
	})
}
