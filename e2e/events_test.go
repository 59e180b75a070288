package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/mcpctl/mcpctl/events"
)

// logFixture is an isolated home with a known log: session a (connected, then restarted
// once), then b and a longer-named c, with mid taken between a's events and b's.
type logFixture struct {
	*env
	a, b, c string
	mid     time.Time
	all     []events.Event
}

func newLogFixture(t *testing.T) *logFixture {
	t.Helper()
	f := &logFixture{env: isolated(t), a: "a", b: "bb", c: "a-much-longer-session-name"}
	f.connectTest(f.a)
	f.ok("@"+f.a, "restart")
	waitQuiet(t, f.env, f.a, 1)
	f.mid = time.Now().UTC()
	f.connectTest(f.b)
	f.connectTest(f.c)
	f.all = f.events()
	return f
}

func filterEvents(evs []events.Event, keep func(events.Event) bool) []events.Event {
	var out []events.Event
	for _, e := range evs {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func seqs(evs []events.Event) []uint64 {
	out := []uint64{}
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

// sameEvents fails unless got and want are the same events in the same order.
func sameEvents(t *testing.T, what string, got, want []events.Event) {
	t.Helper()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got seqs %v, want %v", what, seqs(got), seqs(want))
	}
}

func TestEvents_JSONIsOneRecordPerLineThatRoundTripsWithSeqAndUTCTime(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	r := f.ok("events", "--json")
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	if len(lines) != len(f.all) || len(lines) < 12 {
		t.Fatalf("events --json printed %d lines, want one per event (%d, at least 12)", len(lines), len(f.all))
	}
	for i, line := range lines {
		var ev events.Event
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("line %d does not decode into events.Event: %v\n%s", i, err, line)
		}
		again, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != line {
			t.Errorf("line %d does not round-trip:\n printed  %s\n re-coded %s", i, line, again)
		}
		if want := uint64(i + 1); ev.Seq != want {
			t.Errorf("line %d has seq %d, want %d (a fresh log numbers events 1, 2, …)", i, ev.Seq, want)
		}
		var raw struct {
			Seq  *uint64 `json:"seq"`
			Time string  `json:"time"`
		}
		_ = json.Unmarshal([]byte(line), &raw)
		if raw.Seq == nil || !strings.HasSuffix(raw.Time, "Z") || ev.Time.Location() != time.UTC {
			t.Errorf("line %d: seq %v, time %q: want a seq and a UTC time", i, raw.Seq, raw.Time)
		}
		if ev.V != events.SchemaVersion || ev.Node != "e2e" || ev.Actor.PID == 0 || !ev.Type.Known() {
			t.Errorf("line %d lacks the common fields (v, node, actor, known type): %s", i, line)
		}
	}
}

func TestEvents_WindowFlagsSelectTheRightEvents(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	all, n := f.all, len(f.all)
	head := all[n-1].Seq
	notBefore := func(ts time.Time) func(events.Event) bool {
		return func(e events.Event) bool { return !e.Time.Before(ts) }
	}
	notAfter := func(ts time.Time) func(events.Event) bool {
		return func(e events.Event) bool { return !e.Time.After(ts) }
	}
	afterMid := filterEvents(all, notBefore(f.mid))
	if len(afterMid) == 0 || len(afterMid) == n {
		t.Fatalf("fixture: %d of %d events after the midpoint, want some but not all", len(afterMid), n)
	}
	mid := f.mid.Format(time.RFC3339Nano)
	for _, tc := range []struct {
		args []string
		want []events.Event
	}{
		{[]string{"-n", "3"}, all[n-3:]},
		{[]string{"-n", "1"}, all[n-1:]},
		{[]string{"-n", strconv.Itoa(n + 10)}, all},
		{[]string{"-n", "0"}, all},
		{[]string{"--lines", "2"}, all[n-2:]},
		{[]string{"--after-seq", "5"}, all[5:]},
		{[]string{"--after-seq", strconv.FormatUint(head, 10)}, nil},
		{[]string{"--after-seq", "0"}, all},
		{[]string{"--after-seq", "4", "-n", "2"}, all[n-2:]},
		{[]string{"--since", mid}, afterMid},
		{[]string{"--since", f.mid.In(time.FixedZone("X", 5*3600)).Format(time.RFC3339Nano)}, afterMid},
		{[]string{"--since", "10m"}, all},
		{[]string{"--since", "1h30m"}, all},
		{[]string{"--since", "2d"}, all},
		{[]string{"--since", "0s"}, nil},
		{[]string{"--until", mid}, filterEvents(all, notAfter(f.mid))},
		{[]string{"--until", "10m"}, nil},
		{[]string{"--since", "10m", "--until", mid}, filterEvents(all, notAfter(f.mid))},
		{[]string{"--since", mid, "--session", f.b}, filterEvents(afterMid, func(e events.Event) bool { return e.Session == f.b })},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			sameEvents(t, "events "+strings.Join(tc.args, " "), f.events(tc.args...), tc.want)
		})
	}
}

func TestEvents_SessionAndTypeFilters(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	of := func(sessions ...string) func(events.Event) bool {
		return func(e events.Event) bool {
			for _, s := range sessions {
				if e.Session == s {
					return true
				}
			}
			return false
		}
	}
	kinds := func(ks ...events.Kind) func(events.Event) bool {
		return func(e events.Event) bool {
			for _, k := range ks {
				if e.Type == k {
					return true
				}
			}
			return false
		}
	}
	ready := filterEvents(f.all, kinds(events.KindBridgeReady))
	if len(ready) != 4 {
		t.Fatalf("fixture: %d bridge_ready events, want 4 (a twice, b, c)", len(ready))
	}
	for _, tc := range []struct {
		args []string
		want []events.Event
	}{
		{[]string{"--session", f.a}, filterEvents(f.all, of(f.a))},
		{[]string{"--session", "@" + f.b}, filterEvents(f.all, of(f.b))},
		{[]string{"--session", f.a, "--session", f.c}, filterEvents(f.all, of(f.a, f.c))},
		{[]string{"--session", "never-used"}, nil},
		{[]string{"--type", "bridge_ready"}, ready},
		{[]string{"--type", "created", "--type", "restart_requested"}, filterEvents(f.all, kinds(events.KindCreated, events.KindRestartRequested))},
		{[]string{"--type", "created,restart_requested"}, filterEvents(f.all, kinds(events.KindCreated, events.KindRestartRequested))},
		{[]string{"--type", "created, bridge_exited", "--type", "bridge_ready"}, filterEvents(f.all, kinds(events.KindCreated, events.KindBridgeExited, events.KindBridgeReady))},
		{[]string{"--type", "closed"}, nil},
		{[]string{"--session", f.a, "--type", "bridge_spawned"}, filterEvents(f.all, func(e events.Event) bool {
			return e.Session == f.a && e.Type == events.KindBridgeSpawned
		})},
		{[]string{"--session", f.b, "--session", f.c, "--type", "created", "-n", "1"}, filterEvents(f.all, func(e events.Event) bool {
			return e.Session == f.c && e.Type == events.KindCreated
		})},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got := f.events(tc.args...)
			sameEvents(t, "events "+strings.Join(tc.args, " "), got, tc.want)
		})
	}
}

func TestEvents_FormatPrintsEachEventThroughTheTemplate(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	r := f.ok("events", "--format", "{{.Seq}} {{.Type}}")
	var want strings.Builder
	for _, e := range f.all {
		fmt.Fprintf(&want, "%d %s\n", e.Seq, e.Type)
	}
	if r.Stdout != want.String() {
		t.Errorf("events --format '{{.Seq}} {{.Type}}':\n got  %q\n want %q", r.Stdout, want.String())
	}
	r = f.ok("events", "--session", f.b, "--format", "{{.Session}}/{{.Generation}} {{json .Actor.PID}}")
	for i, line := range strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n") {
		if !strings.HasPrefix(line, f.b+"/1 ") {
			t.Errorf("line %d = %q, want %s/1 <pid>", i, line, f.b)
		}
	}
}

// TestEvents_HumanOutputIsAlignedAndPlainWhenPiped runs without NO_COLOR: a pipe alone must
// turn colour off.
func TestEvents_HumanOutputIsAlignedAndPlainWhenPiped(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	cmd := exec.Command(mcpctlBin, "events")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NO_COLOR=") && !strings.HasPrefix(kv, "CLICOLOR_FORCE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "MCPCTL_HOME="+f.home, "MCPCTL_NODE="+f.node)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mcpctl events: %v", err)
	}
	if bytes.Contains(out, []byte("\x1b[")) {
		t.Errorf("events on a pipe printed ANSI escapes:\n%q", out)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(f.all) {
		t.Fatalf("events printed %d lines, want %d:\n%s", len(lines), len(f.all), out)
	}
	// Columns: seq, date, time, session, generation (right-aligned), type. Each starts (or,
	// for the generation, ends) at the same offset on every line, whatever the session name.
	type cols struct{ date, clock, session, genEnd, kind int }
	var first cols
	for i, line := range lines {
		e := f.all[i]
		starts := fieldStarts(line, 6)
		if len(starts) < 6 {
			t.Fatalf("line %d has fewer than 6 columns: %q", i, line)
		}
		fields := strings.Fields(line)
		if fields[0] != strconv.FormatUint(e.Seq, 10) || fields[3] != e.Session || fields[4] != strconv.FormatUint(e.Generation, 10) || fields[5] != string(e.Type) {
			t.Errorf("line %d = %q, want seq %d, session %s, generation %d, type %s", i, line, e.Seq, e.Session, e.Generation, e.Type)
		}
		if ts := fields[1] + " " + fields[2]; ts != e.Time.Local().Format("2006-01-02 15:04:05.000") {
			t.Errorf("line %d shows time %q, want %q (local)", i, ts, e.Time.Local().Format("2006-01-02 15:04:05.000"))
		}
		c := cols{starts[1], starts[2], starts[3], starts[4] + len(fields[4]), starts[5]}
		if i == 0 {
			first = c
		} else if c != first {
			t.Errorf("line %d is not aligned with line 0 (column offsets %+v, want %+v):\n%s\n%s", i, c, first, lines[0], line)
		}
	}
}

// fieldStarts returns the byte offsets at which the first n whitespace-separated fields start.
func fieldStarts(s string, n int) []int {
	var out []int
	in := false
	for i, r := range s {
		sp := unicode.IsSpace(r)
		if !sp && !in {
			out = append(out, i)
			if len(out) == n {
				break
			}
		}
		in = !sp
	}
	return out
}

// follower is `mcpctl events -f` running in the background, its stdout read line by line.
type follower struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan error
}

func startFollow(t *testing.T, e *env, args ...string) *follower {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := e.cmd(ctx, append([]string{"events", "-f"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fl := &follower{cmd: cmd, lines: make(chan string, 1000), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fl.lines <- sc.Text()
		}
		close(fl.lines)
		_, _ = io.Copy(io.Discard, out)
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%w; stderr: %s", err, stderr.String())
		}
		fl.done <- err
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return fl
}

// next returns the next event line, failing after timeout.
func (fl *follower) next(t *testing.T, timeout time.Duration) (events.Event, bool) {
	t.Helper()
	select {
	case line, ok := <-fl.lines:
		if !ok {
			return events.Event{}, false
		}
		var ev events.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("events -f --json printed %q: %v", line, err)
		}
		return ev, true
	case <-time.After(timeout):
		t.Fatalf("events -f printed no line within %s", timeout)
	}
	return events.Event{}, false
}

func TestEvents_FollowPrintsEventsAppendedAfterItStarted(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name, other := "followed", "other"
	e.connectTest(name)
	e.connectTest(other)
	existing := e.sessionEvents(name)

	fl := startFollow(t, e, "--json", "--session", name)
	for i, want := range existing { // first what is already there
		got, ok := fl.next(t, 5*time.Second)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("line %d of events -f = %+v, want the existing %+v", i, got, want)
		}
	}
	e.ok("@"+other, "restart") // not ours: must not show
	e.ok("@"+name, "restart")
	var seen []events.Event
	for {
		ev, ok := fl.next(t, 5*time.Second)
		if !ok {
			t.Fatalf("events -f ended by itself: %v", <-fl.done)
		}
		if ev.Session != name {
			t.Fatalf("events -f --session %s printed an event of @%s: %+v", name, ev.Session, ev)
		}
		seen = append(seen, ev)
		if ev.Type == events.KindBridgeReady && ev.Generation == 2 {
			break
		}
	}
	if seen[0].Type != events.KindRestartRequested || seen[0].Generation != 2 || seen[0].Seq <= existing[len(existing)-1].Seq {
		t.Errorf("first followed event = %+v, want restart_requested for generation 2 after seq %d", seen[0], existing[len(existing)-1].Seq)
	}
	// What it printed live is what the log holds.
	logged := e.sessionEvents(name)
	for _, ev := range seen {
		found := false
		for _, l := range logged {
			found = found || reflect.DeepEqual(l, ev)
		}
		if !found {
			t.Errorf("followed event %+v is not in the log", ev)
		}
	}
	// Ctrl-C ends it cleanly: nothing on stderr, and exit 130 (128+SIGINT), as shells expect
	// of a command a signal interrupted.
	if err := fl.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-fl.done:
		if code := fl.cmd.ProcessState.ExitCode(); err == nil || code != 130 || !strings.HasSuffix(err.Error(), "stderr: ") {
			t.Errorf("events -f after SIGINT: %v, want exit 130 and nothing on stderr", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("events -f did not exit within 5s of SIGINT")
	}
}

func TestEvents_FollowStopsByItselfWhenUntilPasses(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	t.Run("until in the past", func(t *testing.T) {
		fl := startFollow(t, f.env, "--json", "--until", f.mid.Format(time.RFC3339Nano))
		var got []events.Event
		for {
			ev, ok := fl.next(t, 10*time.Second)
			if !ok {
				break
			}
			got = append(got, ev)
		}
		if err := <-fl.done; err != nil {
			t.Errorf("events -f --until <past>: %v, want exit 0", err)
		}
		sameEvents(t, "events -f --until <mid>", got, filterEvents(f.all, func(e events.Event) bool { return !e.Time.After(f.mid) }))
	})
	t.Run("until in the past, relative", func(t *testing.T) {
		fl := startFollow(t, f.env, "--until", "1h")
		if _, ok := <-fl.lines; ok {
			t.Errorf("events -f --until 1h printed events of a log that is minutes old")
		}
		if err := <-fl.done; err != nil {
			t.Errorf("events -f --until 1h: %v, want exit 0", err)
		}
	})
	t.Run("until soon", func(t *testing.T) {
		until := time.Now().Add(700 * time.Millisecond)
		fl := startFollow(t, f.env, "--json", "--until", until.UTC().Format(time.RFC3339Nano), "--after-seq", strconv.FormatUint(f.all[len(f.all)-1].Seq, 10))
		if _, ok := <-fl.lines; ok {
			t.Errorf("events -f printed an event nobody appended")
		}
		if err := <-fl.done; err != nil {
			t.Errorf("events -f --until <soon>: %v, want exit 0", err)
		}
		if time.Now().Before(until) {
			t.Errorf("events -f --until %s exited early, at %s", until.Format(time.RFC3339Nano), time.Now().Format(time.RFC3339Nano))
		}
	})
}

func TestEvents_BadInputIsRefusedWithExitOneAndAppendsNothing(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name := "victim"
	e.connectTest(name)
	before := e.events()
	long := strings.Repeat("a", 65)
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"events", "--type", "nope"}, `unknown event type "nope"`},
		{[]string{"events", "--type", "created,nope"}, `unknown event type "nope"`},
		{[]string{"events", "--since", "yesterday"}, `--since "yesterday": not an RFC 3339 time`},
		{[]string{"events", "--since", "-10m"}, `--since "-10m"`},
		{[]string{"events", "--until", "2026-13-45T00:00:00Z"}, `--until "2026-13-45T00:00:00Z": not an RFC 3339 time`},
		{[]string{"events", "--since", "10m", "--until", "1h"}, "--until 1h is before --since 10m"},
		{[]string{"events", "--session", "@../x"}, `invalid session name "../x"`},
		{[]string{"events", "--session", "a.b"}, `invalid session name "a.b"`},
		{[]string{"events", "--session", long}, "65 characters long"},
		{[]string{"events", "--session", ""}, "it is empty"},
		{[]string{"events", "--session", name, "--session", "@"}, "it is empty"},
		{[]string{"events", "--format", "{{.Seq"}, "--format"},
		{[]string{"events", "--format", "{{.NoSuchField}}"}, "NoSuchField"},
		{[]string{"events", "-n", "-1"}, "-n -1: must be 0 or more"},
		{[]string{"events", "-n", "x"}, `invalid argument "x"`},
		{[]string{"events", "--after-seq", "-3"}, `invalid argument "-3"`},
		{[]string{"--json", "events", "--format", "{{.Seq}}"}, "cannot be used together"},
		{[]string{"@../x", "tools-list"}, `invalid session name "../x"`},
		{[]string{"@a.b", "tools-list"}, `invalid session name "a.b"`},
		{[]string{"@" + long, "tools-list"}, "65 characters long"},
		{[]string{"@", "tools-list"}, "it is empty"},
		{[]string{"@../x", "restart"}, `invalid session name "../x"`},
		{[]string{"@a.b", "restart"}, `invalid session name "a.b"`},
		{[]string{"restart", "@" + long}, "65 characters long"},
		{[]string{"restart", "@"}, "it is empty"},
		{[]string{"@../x", "close"}, `invalid session name "../x"`},
		{[]string{"close", "@a.b"}, `invalid session name "a.b"`},
		{[]string{"@" + long, "close"}, "65 characters long"},
		{[]string{"close", "@"}, "it is empty"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := e.run(tc.args...)
			if r.Code != 1 || !strings.Contains(r.Stderr, tc.want) || r.Stdout != "" {
				t.Errorf("want exit 1, nothing on stdout, and %q on stderr:\n%s", tc.want, r)
			}
		})
	}
	if after := e.events(); !reflect.DeepEqual(after, before) {
		t.Errorf("refused commands changed the log: %d events before, %d after (seqs %v)", len(before), len(after), seqs(after))
	}
	if pids := bridgePIDs(e.home, name); len(pids) != 1 {
		t.Errorf("bridges of @%s after the refused commands: %v, want the one it had", name, pids)
	}
}
