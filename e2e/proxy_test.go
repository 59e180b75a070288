package e2e

import (
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// TestProxy_PipedRequestsAreAllAnswered: `printf '<requests>' | mcpctl @s proxy` prints an
// answer to every request, a slow tool call included, and exits 0: the proxy's stdin ending
// is not the end of the answers. The bridge answers what it read before the EOF, then closes.
func TestProxy_PipedRequestsAreAllAnswered(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	in := `{"jsonrpc":"2.0","id":1,"method":"ping"}` + "\n" +
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":700}}}` + "\n" +
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}` + "\n"
	r := e.runIn([]byte(in), "@"+name, "proxy")
	if r.Code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	got := map[int]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var m struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Result != nil {
			got[m.ID] = string(m.Result)
		}
	}
	for id, want := range map[int]string{1: "{", 2: "slept 700", 3: `"sum":5`} {
		if !strings.Contains(got[id], want) {
			t.Errorf("answer to request %d: %q, want one with %s\n%s", id, got[id], want, r)
		}
	}
}

// TestProxy_RawSocketHalfClosedGetsItsAnswer: a client of the bridge's socket itself that
// writes a request and shuts down its write side (CloseWrite, as `nc -U -N` does) reads the
// answer and then the end of the connection.
func TestProxy_RawSocketHalfClosedGetsItsAnswer(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	s, _ := e.session(name)
	if s.Bridge == nil {
		t.Fatalf("@%s has no bridge: %+v", name, s)
	}
	conn, err := net.Dial("unix", rpc.SocketPath(s.Bridge.Socket))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","arguments":{"a":20,"b":22}}}` + "\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if err != nil || !strings.Contains(string(b), `"id":7`) || !strings.Contains(string(b), `"sum":42`) {
		t.Fatalf("after CloseWrite: %q, %v; want the answer to request 7 (sum 42), then EOF", b, err)
	}
}
