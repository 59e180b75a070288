package session

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

// before is a moment before this test process started. A restart counts a generation that
// became ready after the caller was invoked as the answer to its request (Satisfies), and in
// a unit test the caller is this process: a session set up "before the command ran" must
// carry earlier times, or every restart would join it.
func before() time.Time { return sessioncall.InvokedAt().Add(-time.Minute) }

// event is events.New for the hub's node, dated before this process started.
func event(k events.Kind, name string, g uint64) events.Event {
	e := events.New(k, cmdtest.Node, name, g)
	e.Time = before()
	return e
}

// selfBridge is this test process posing as a bridge: a pid and start time proc.Alive
// accepts, and a socket.
func selfBridge(t *testing.T, e *events.Event, socket string) {
	t.Helper()
	start, err := proc.StartTime(os.Getpid())
	if err != nil {
		t.Fatalf("start time of this process: %v", err)
	}
	e.PID, e.PIDStartTime, e.Socket = os.Getpid(), start, socket
}

// openSession appends what connect and a supervisor would for a session whose first
// generation is ready on socket: created, bridge_spawned (this process), bridge_ready.
func openSession(t *testing.T, h *cmdtest.Hub, name, socket string) {
	t.Helper()
	c := event(events.KindCreated, name, 1)
	c.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver"}
	h.Append(t, c)
	bringUp(t, h, name, 1, socket)
}

// bringUp appends bridge_spawned and bridge_ready for generation g, the bridge being this
// process listening on socket.
func bringUp(t *testing.T, h *cmdtest.Hub, name string, g uint64, socket string) {
	t.Helper()
	sp := event(events.KindBridgeSpawned, name, g)
	selfBridge(t, &sp, socket)
	h.Append(t, sp)
	r := event(events.KindBridgeReady, name, g)
	r.ServerName, r.ServerVersion, r.ProtocolVersion = "testserver", "1.2.3", "2025-11-25"
	h.Append(t, r)
}

// sessionEvents is what the log holds about the session, in order.
func sessionEvents(t *testing.T, h *cmdtest.Hub, name string) []events.Event {
	t.Helper()
	var evs []events.Event
	err := h.Log.Read(context.Background(), events.Query{Node: cmdtest.Node, Session: name}, func(e events.Event) error {
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		t.Fatalf("read the log of @%s: %v", name, err)
	}
	return evs
}

// appendedSince is the events of the session after seq: what a command appended.
func appendedSince(t *testing.T, h *cmdtest.Hub, name string, seq uint64) []events.Event {
	t.Helper()
	var out []events.Event
	for _, e := range sessionEvents(t, h, name) {
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out
}

func kindsOf(evs []events.Event) []events.Kind {
	ks := []events.Kind{}
	for _, e := range evs {
		ks = append(ks, e.Type)
	}
	return ks
}

func head(t *testing.T, h *cmdtest.Hub) uint64 {
	t.Helper()
	seq, err := h.Log.Head(context.Background())
	if err != nil {
		t.Fatalf("head of the log: %v", err)
	}
	return seq
}

// watchedStore tells when a command starts waiting on a session's key: the moment a
// supervisor's work would become visible to it.
type watchedStore struct {
	hubclient.Store
	watching chan string
}

func (w *watchedStore) Watch(ctx context.Context, key string) (<-chan []byte, error) {
	ch, err := w.Store.Watch(ctx, key)
	if err == nil {
		select {
		case w.watching <- key:
		case <-ctx.Done():
		}
	}
	return ch, err
}

// superviseOnWait stands in for the supervisor and a bridge: whenever a command waits on
// @name, the pending generation's bridge (this process, on socket) is spawned and becomes
// ready. The test's cleanup stops it.
func superviseOnWait(t *testing.T, h *cmdtest.Hub, name, socket string) {
	t.Helper()
	w := &watchedStore{Store: h.Conn.Store, watching: make(chan string)}
	h.Conn.Store = w
	start, err := proc.StartTime(os.Getpid())
	if err != nil {
		t.Fatalf("start time of this process: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case key := <-w.watching:
				if key != projector.Key(cmdtest.Node, name) {
					continue
				}
			}
			s, err := projector.Current(ctx, h.Store, h.Log, cmdtest.Node, name)
			if err != nil || !s.Status.Live() || s.Status == projector.StatusReady {
				continue
			}
			sp := events.New(events.KindBridgeSpawned, cmdtest.Node, name, s.Generation)
			sp.PID, sp.PIDStartTime, sp.Socket = os.Getpid(), start, socket
			r := events.New(events.KindBridgeReady, cmdtest.Node, name, s.Generation)
			r.ServerName, r.ServerVersion, r.ProtocolVersion = "testserver", "1.2.3", "2025-11-25"
			for _, e := range []events.Event{sp, r} {
				if _, err := h.Log.Append(ctx, e, events.Unconditional()); err != nil {
					t.Errorf("fake supervisor: append %s: %v", e.Type, err)
					return
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// handler answers one request the fake bridge read: a result, or a JSON-RPC error.
type handler func(method string, params json.RawMessage) (any, *rpc.RPCError)

// fakeBridge serves newline-delimited JSON-RPC on a Unix socket, as a bridge does, and
// returns its path. It answers each request through handle, ignores notifications, and
// closes a connection once the client has closed its side (what a bridge does at EOF after
// answering what it read). The test's cleanup stops it.
func fakeBridge(t *testing.T, handle handler) string {
	t.Helper()
	// t.TempDir() under a long test name may not fit in sun_path.
	dir, err := os.MkdirTemp("", "u1b")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "b.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				sc := bufio.NewScanner(nc)
				for sc.Scan() {
					var m rpc.Message
					if json.Unmarshal(sc.Bytes(), &m) != nil || m.ID == nil {
						continue
					}
					reply := map[string]any{"jsonrpc": "2.0", "id": m.ID}
					res, rerr := handle(m.Method, m.Params)
					if rerr != nil {
						reply["error"] = rerr
					} else {
						reply["result"] = res
					}
					b, _ := json.Marshal(reply)
					if _, err := nc.Write(append(b, '\n')); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
		os.RemoveAll(dir)
	})
	return path
}

// mcpServer answers as a small MCP server with tools a and b.
func mcpServer(method string, _ json.RawMessage) (any, *rpc.RPCError) {
	switch method {
	case "initialize":
		return map[string]any{
			"protocolVersion": "2025-11-25",
			"capabilities":    map[string]any{"tools": map[string]any{}, "logging": map[string]any{}},
			"serverInfo":      map[string]any{"name": "testserver", "version": "1.2.3"},
			"instructions":    "use a\nthen b",
		}, nil
	case "tools/list":
		return map[string]any{"tools": []map[string]any{{"name": "a"}, {"name": "b"}}}, nil
	}
	return nil, &rpc.RPCError{Code: -32601, Message: "method not found: " + method}
}

// cleanedSession is a hub with @name created, closed and cleaned: a session that is gone.
func cleanedSession(t *testing.T, name string) *cmdtest.Hub {
	t.Helper()
	h := cmdtest.New(t)
	h.Created(t, name)
	h.Append(t, events.New(events.KindClosed, cmdtest.Node, name, 1))
	h.Append(t, events.New(events.KindCleaned, cmdtest.Node, name, 1))
	return h
}

// appendedNothing fails when the log moved past seq while what ran.
func appendedNothing(t *testing.T, h *cmdtest.Hub, seq uint64, what string) {
	t.Helper()
	if got := head(t, h); got != seq {
		t.Errorf("%s moved the log from %d to %d, want nothing appended", what, seq, got)
	}
}
