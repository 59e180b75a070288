package bridge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// FuzzServerRead: whatever a client writes on the socket — partial lines, garbage, huge
// lines, JSON of the wrong shape, duplicate ids — the server answers only with well-formed
// JSON-RPC lines, closes the connection when the client has finished, and keeps serving
// other clients.
func FuzzServerRead(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"ping"}` + "\n",
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}` + "\n" + `{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n",
		`{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x"}}` + "\n" + `{"jsonrpc":"2.0","id":"a","method":"tools/call"}` + "\n",
		`{"jsonrpc":"2.0","id":7,"method":"block"}` + "\n" + `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}` + "\n",
		`{"jsonrpc":"2.0","id":{"x":1},"method":"fail"}` + "\n",
		`{"jsonrpc":"2.0","id":null,"method":"ping"}` + "\n",
		`{"jsonrpc":"2.0","id":1,"result":{}}` + "\n",
		`{"jsonrpc":"2.0","id":2,"method":"ping","params":{"_meta":{"progressToken":"t"}}}` + "\n",
		"not json\n\n   \n{\n",
		"{\"id\":1,\"method\":\"p\xffing\"}\n",
		"{\"id\":1,\"method\":\"ping\"}\x00\n",
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]` + "\n",
		`{"jsonrpc":"2.0","id":1,"method":"ping"}`, // no newline
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "f.sock")
	init, _ := echoUpstream().Initialize(f.Context())
	s := NewServer(echoUpstream(), init)
	s.MaxLine = 4096
	if err := s.Listen(path); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })

	f.Fuzz(func(t *testing.T, data []byte) {
		out, _ := exchange(t, path, data)
		for _, line := range bytes.Split(out, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var m rpc.Message
			if err := json.Unmarshal(line, &m); err != nil || m.JSONRPC != "2.0" {
				t.Fatalf("input %.200q: the server wrote %q, not a JSON-RPC message (%v)", data, line, err)
			}
			if m.Method != "" {
				continue // a notification
			}
			if (m.Result == nil) == (m.Error == nil) {
				t.Fatalf("input %.200q: response %q has neither or both of result and error", data, line)
			}
		}
		// The server still answers a well-behaved client.
		if _, answered := exchange(t, path, nil); !answered {
			t.Fatalf("after input %.200q the server no longer answers a ping", data)
		}
	})
}

// exchange writes data and then a ping with the id "fuzz-end" on a line of its own, and
// reads what the server sends until that ping is answered or the server closes the
// connection (a line that is too long ends it). A client that closes its side has its
// requests cancelled, so the test keeps the connection open until it has read the answers.
func exchange(t *testing.T, path string, data []byte) (out []byte, answered bool) {
	t.Helper()
	nc, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		_, _ = nc.Write(append(append(append([]byte{}, data...), '\n'), endPing...))
	}()
	sc := bufio.NewScanner(nc)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"id":"fuzz-end"`)) {
			return out, true
		}
		out = append(append(out, sc.Bytes()...), '\n')
	}
	// A connection the server ends (after a line that is too long) may be reset while our
	// write is still unread: that is an end too. Anything else is a failure.
	if err := sc.Err(); err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("input %.200q: reading the answers: %v", data, err)
	}
	return out, false
}

var endPing = []byte(`{"jsonrpc":"2.0","id":"fuzz-end","method":"ping"}` + "\n")
