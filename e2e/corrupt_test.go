package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// hubClient connects to a home's hub the way a tool of the user's would (hub.json, hub.token).
func hubClient(t *testing.T, home string) (*nats.Conn, njs.JetStream) {
	t.Helper()
	a, err := jetstream.ReadAddress(filepath.Join(home, "hub.json"))
	must(t, err)
	tok, err := os.ReadFile(filepath.Join(home, "hub.token"))
	must(t, err)
	nc, err := jetstream.Dial(t.Context(), a.URL, strings.TrimSpace(string(tok)))
	must(t, err)
	t.Cleanup(nc.Close)
	js, err := njs.New(nc)
	must(t, err)
	return nc, js
}

type doctorReport struct {
	OK     bool
	Checks []struct {
		Name   string
		OK     bool
		Detail string
	}
}

func (e *env) doctor(args ...string) (doctorReport, result) {
	e.t.Helper()
	r := e.run(append([]string{"--json", "doctor"}, args...)...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		e.t.Fatalf("doctor output is not JSON: %v\n%s", err, r)
	}
	if strings.Contains(r.Stderr, "panic") {
		e.t.Fatalf("doctor panicked:\n%s", r)
	}
	return rep, r
}

func (d doctorReport) failed(name string) string {
	for _, c := range d.Checks {
		if c.Name == name && !c.OK {
			return c.Detail
		}
	}
	return ""
}

// TestCorrupt_DeletedKVIsRebuilt: the session bucket is deleted behind the hub's back; the
// sessions come back (the hub rebuilds the bucket from the log), doctor is satisfied, and the
// sessions are usable.
func TestCorrupt_DeletedKVIsRebuilt(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.ok("connect", "@a", "--", serverBin)
	e.ok("connect", "@b", "--", serverBin)
	_, js := hubClient(t, e.home)
	must(t, js.DeleteKeyValue(t.Context(), events.SessionBucket))
	testwait.For(t, 15*time.Second, func() error {
		for _, s := range []string{"a", "b"} {
			r := e.run("--json", "sessions")
			if r.Code != 0 {
				return fmt.Errorf("%s", r)
			}
			if got, ok := e.session(s); !ok || got.Status != "ready" {
				return fmt.Errorf("@%s is %q (listed %v)", s, got.Status, ok)
			}
		}
		return nil
	})
	if rep, r := e.doctor(); !rep.OK || r.Code != 0 {
		t.Errorf("doctor after the bucket was rebuilt:\n%s", r)
	}
	e.ok("@a", "ping")
}

// TestCorrupt_TamperedKVIsReportedAndRepaired: a session's value in the bucket is replaced by
// a wrong state and an undecodable key is added; doctor reports it (exit 3), doctor --repair
// recreates the bucket from the log (exit 0), and the sessions are right and usable.
func TestCorrupt_TamperedKVIsReportedAndRepaired(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.ok("connect", "@a", "--", serverBin)
	e.ok("connect", "@b", "--", serverBin)
	_, js := hubClient(t, e.home)
	kv, err := js.KeyValue(t.Context(), events.SessionBucket)
	must(t, err)
	_, err = kv.Put(t.Context(), e.node+".a", []byte(`{"node":"`+e.node+`","session":"a","status":"closed","generation":9}`))
	must(t, err)
	_, err = kv.Put(t.Context(), e.node+".ghost", []byte(`not json`))
	must(t, err)

	rep, r := e.doctor()
	if r.Code != 3 || rep.OK || rep.failed("projection") == "" {
		t.Fatalf("doctor on a tampered KV: want exit 3 and a failed projection check\n%s", r)
	}
	rep, r = e.doctor("--repair")
	if r.Code != 0 || !rep.OK {
		t.Fatalf("doctor --repair: want exit 0\n%s", r)
	}
	if !strings.Contains(r.Stdout, "rebuilt") || !strings.Contains(r.Stdout, "2 session(s)") {
		t.Errorf("repair does not say what it rebuilt:\n%s", r)
	}
	for _, s := range []string{"a", "b"} {
		if got, ok := e.session(s); !ok || got.Status != "ready" || got.Generation != 1 {
			t.Errorf("after repair @%s is %s gen %d (listed %v), want ready gen 1", s, got.Status, got.Generation, ok)
		}
		e.ok("@"+s, "ping")
	}
	// The repaired bucket keeps following the log.
	e.ok("restart", "@a")
	testwait.For(t, 30*time.Second, func() error {
		if s, _ := e.session("a"); s.Generation != 2 || s.Status != "ready" {
			return fmt.Errorf("@a %s gen %d", s.Status, s.Generation)
		}
		return nil
	})
	if rep, r := e.doctor(); !rep.OK {
		t.Errorf("doctor after repair and a restart:\n%s", r)
	}
}

// TestCorrupt_UnknownKindAndNewerSchemaAreSkippedAndReported: events a newer mcpctl might
// write (an unknown kind, schema version 2) reach the log through a raw publish; nothing
// panics, the events still print, the session state is untouched, and doctor names them.
func TestCorrupt_UnknownKindAndNewerSchemaAreSkippedAndReported(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.ok("connect", "@u", "--", serverBin)
	before, _ := e.session("u")
	nc, _ := hubClient(t, e.home)
	for i, payload := range []map[string]any{
		{"v": 1, "type": "teleported", "node": e.node, "session": "u", "generation": 1, "time": time.Now().UTC()},
		{"v": 2, "type": "closed", "node": e.node, "session": "u", "generation": 1, "time": time.Now().UTC(), "new": map[string]any{"x": 1}},
	} {
		b, _ := json.Marshal(payload)
		kind := payload["type"].(string)
		msg, err := nc.Request(events.EventsPrefix+"."+e.node+".u."+kind, b, 5*time.Second)
		if err != nil || !strings.Contains(string(msg.Data), `"seq"`) {
			t.Fatalf("raw publish %d: %v %s", i, err, msgData(msg))
		}
	}
	evs := e.events("--session", "u")
	if len(evs) < 5 {
		t.Fatalf("events --session u printed %d events", len(evs))
	}
	after, _ := e.session("u")
	if after.Status != before.Status || after.Generation != before.Generation {
		t.Errorf("skipped events changed the session: %s/%d → %s/%d", before.Status, before.Generation, after.Status, after.Generation)
	}
	e.ok("@u", "ping")
	rep, r := e.doctor()
	d := rep.failed("integrity")
	if r.Code != 3 || !strings.Contains(d, "2 event(s) of an unknown kind or a newer schema version") || !strings.Contains(d, "teleported") ||
		!strings.Contains(d, "upgrade") {
		t.Errorf("doctor does not report the skipped events:\n%s", r)
	}
}

func msgData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// TestCorrupt_HalfWrittenAddressFile: hub.json cut in the middle is reported by doctor, the
// hub is found again (no second hub), and the file is whole afterwards.
func TestCorrupt_HalfWrittenAddressFile(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.ok("connect", "@h", "--", serverBin)
	path := filepath.Join(e.home, "hub.json")
	b, err := os.ReadFile(path)
	must(t, err)
	// The hub rewrites a damaged hub.json within 200 ms, so on a loaded machine doctor may
	// start after the repair: damage the file again until doctor catches it damaged.
	testwait.For(t, 20*time.Second, func() error {
		must(t, os.WriteFile(path, b[:len(b)/2], 0o600))
		rep, r := e.doctor()
		if r.Code == 0 {
			if _, err := jetstream.ReadAddress(path); err == nil {
				return fmt.Errorf("doctor ran after the hub had rewritten the file:\n%s", r)
			}
		}
		if d := rep.failed("hub.json"); r.Code != 3 || !strings.Contains(d, "unreadable") {
			t.Fatalf("doctor on a half-written hub.json: want exit 3 and the file named\n%s", r)
		}
		return nil
	})
	if _, err := jetstream.ReadAddress(path); err != nil {
		t.Errorf("hub.json not rewritten after doctor: %v", err)
	}
	e.ok("@h", "ping")
	if rep, r := e.doctor(); !rep.OK {
		t.Errorf("second doctor:\n%s", r)
	}
}

// TestCorrupt_DamagedStoreBlock: with the hub stopped, the event stream's message block is
// bit-flipped in the middle and truncated; the next hub starts on it, nothing panics, doctor
// reports what is missing, and doctor --repair rebuilds what the remaining log explains and
// names what it could not.
func TestCorrupt_DamagedStoreBlock(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"bitflip", "truncate"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := isolated(t)
			e.ok("connect", "@first", "--", serverBin)
			e.ok("connect", "@second", "--", serverBin)
			e.ok("close", "@first")
			e.ok("clean", "--all")
			e.ok("connect", "@third", "--", serverBin)
			e.ok("hub", "stop")
			testwait.For(t, 10*time.Second, func() error {
				if p := hubPIDs(e.home); len(p) > 0 {
					return fmt.Errorf("hub still running: %v", p)
				}
				return nil
			})
			blocks, _ := filepath.Glob(filepath.Join(e.home, "hub", "jetstream", "jetstream", "*", "streams", events.EventsStream, "msgs", "*.blk"))
			if len(blocks) == 0 {
				t.Fatalf("no message block under %s", e.home)
			}
			b, err := os.ReadFile(blocks[0])
			must(t, err)
			switch mode {
			case "bitflip":
				// Flip 64 bytes inside the payload of the record nearest the middle of the
				// block: where the middle falls depends on the events' sizes, and a flip in
				// a record's framing or padding may go unnoticed by the server.
				at := len(b) / 2
				if i := bytes.LastIndex(b[:at], []byte(`{"v":`)); i >= 0 {
					at = i
				}
				for i := at; i < at+64 && i < len(b); i++ {
					b[i] ^= 0x5a
				}
			case "truncate":
				b = b[:len(b)*2/3]
			}
			must(t, os.WriteFile(blocks[0], b, 0o600))

			rep, r := e.doctor()
			t.Logf("doctor after %s:\n%s", mode, r.Stdout)
			if r.Code != 0 && r.Code != 3 {
				t.Fatalf("doctor exit %d\n%s", r.Code, r)
			}
			if rep.OK || !strings.Contains(r.Stdout, "were lost") && rep.failed("projection") == "" &&
				!strings.Contains(rep.failed("integrity"), "damaged") {
				t.Errorf("doctor found nothing wrong with a damaged store block:\n%s", r)
			}
			rep, r = e.doctor("--repair")
			t.Logf("doctor --repair after %s:\n%s", mode, r.Stdout)
			if d := rep.failed("repair"); d != "" && !strings.Contains(d, "could not recover") {
				t.Errorf("repair failed without saying what it could not recover:\n%s", r)
			}
			if rep.failed("projection") != "" {
				t.Errorf("the projection still differs from the log after repair:\n%s", r)
			}
			// Whatever was lost, the CLI works on the repaired state: listing, events, a new session.
			e.ok("sessions")
			e.ok("events")
			e.ok("connect", "@fourth", "--", serverBin)
			e.ok("@fourth", "ping")
		})
	}
}
