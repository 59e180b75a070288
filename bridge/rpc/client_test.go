package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
)

func dial(t *testing.T, path string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClient_CallSendsOneRequestLineAndReturnsTheResult(t *testing.T) {
	f := newFakeBridge(t, echo(t))
	c := dial(t, f.path)

	got, err := c.Call(testCtx(t), "tools/call", json.RawMessage(`{"name":"echo","arguments":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"name":"echo","arguments":{"x":1}}` {
		t.Errorf("result = %s, want the params echoed verbatim", got)
	}
	ms := f.messages()
	if len(ms) != 1 {
		t.Fatalf("bridge read %d messages, want 1: %+v", len(ms), ms)
	}
	if m := ms[0]; m.JSONRPC != "2.0" || m.Method != "tools/call" || len(m.ID) == 0 {
		t.Errorf("request = %+v, want jsonrpc 2.0, method tools/call and an id", m)
	}
}

// Pretty-printed params must still travel as one line: the socket is newline-delimited.
func TestClient_CallWithMultiLineParamsSendsOneLine(t *testing.T) {
	f := newFakeBridge(t, echo(t))
	c := dial(t, f.path)

	got, err := c.Call(testCtx(t), "tools/call", json.RawMessage("{\n  \"name\": \"echo\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"name":"echo"}` {
		t.Errorf("result = %s, want {\"name\":\"echo\"}", got)
	}
}

// Answers come back in any order; each goes to the call with its id.
func TestClient_ConcurrentCallsGetTheirOwnAnswers(t *testing.T) {
	const n = 16
	var mu sync.Mutex
	var held []Message
	f := newFakeBridge(t, func(c *fakeConn, m Message) {
		mu.Lock()
		defer mu.Unlock()
		held = append(held, m)
		if len(held) < n {
			return
		}
		for i := len(held) - 1; i >= 0; i-- { // answer in reverse order of arrival
			c.write(t, AppendResult(nil, held[i].ID, held[i].Params))
		}
	})
	c := dial(t, f.path)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf(`{"n":%d}`, i)
			got, err := c.Call(testCtx(t), "ping", json.RawMessage(want))
			if err != nil {
				errs <- fmt.Errorf("call %d: %v", i, err)
			} else if string(got) != want {
				errs <- fmt.Errorf("call %d got %s, want %s", i, got, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestClient_ErrorResponses(t *testing.T) {
	upstream := func(reason string) *RPCError {
		return &RPCError{Code: CodeUpstreamUnavailable, Message: "mcp server unavailable",
			Data: json.RawMessage(`{"reason":"` + reason + `","detail":"d"}`)}
	}
	tests := []struct {
		name     string
		answer   *RPCError
		sentinel error // nil: no sentinel matches
	}{
		{"a server's error passes through", &RPCError{Code: -32602, Message: "bad params", Data: json.RawMessage(`{"why":"x"}`)}, nil},
		{"server lost", upstream(ReasonServerLost), ErrServerLost},
		{"expired", upstream(ReasonExpired), ErrExpired},
		{"unauthorized", upstream(ReasonUnauthorized), ErrUnauthorized},
		{"another upstream error", upstream(ReasonError), nil},
		{"a server's -32002 with an id is no refused connection", &RPCError{Code: CodeTooManyConnections, Message: "resource not found"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBridge(t, func(c *fakeConn, m Message) { c.write(t, AppendError(nil, m.ID, tt.answer)) })
			c := dial(t, f.path)
			_, err := c.Call(testCtx(t), "tools/list", nil)
			var re *RPCError
			if !errors.As(err, &re) || re.Code != tt.answer.Code || re.Message != tt.answer.Message || string(re.Data) != string(tt.answer.Data) {
				t.Fatalf("err = %v, want *RPCError %+v", err, tt.answer)
			}
			for _, s := range []error{ErrServerLost, ErrExpired, ErrUnauthorized, ErrDisconnected} {
				if got := errors.Is(err, s); got != (s == tt.sentinel) {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, !got)
				}
			}
			select {
			case <-c.Done():
				t.Errorf("connection ended after an error answer: %v", c.Err())
			default:
			}
		})
	}
}

// A call whose context ends is cancelled on the bridge and never sent again.
func TestClient_CancelledCallSendsNotificationsCancelledOnce(t *testing.T) {
	f := newFakeBridge(t, nil) // never answers
	c := dial(t, f.path)

	ctx, cancel := context.WithCancelCause(testCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"slow"}`))
		done <- err
	}()
	testwait.For(t, 5*time.Second, func() error {
		if n := len(f.messages()); n != 1 {
			return fmt.Errorf("bridge read %d messages, want the request", n)
		}
		return nil
	})
	cancel(errors.New("user pressed ^C"))
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Call = %v, want context.Canceled", err)
	}
	testwait.For(t, 5*time.Second, func() error {
		if n := len(f.messages()); n != 2 {
			return fmt.Errorf("bridge read %d messages, want the request and its cancellation", n)
		}
		return nil
	})
	ms := f.messages()
	req, note := ms[0], ms[1]
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
		Reason    string          `json:"reason"`
	}
	if err := json.Unmarshal(note.Params, &p); err != nil {
		t.Fatal(err)
	}
	if note.Method != "notifications/cancelled" || note.ID != nil || IDKey(p.RequestID) != IDKey(req.ID) || p.Reason != "user pressed ^C" {
		t.Errorf("after cancel the bridge read %+v (params %s), want notifications/cancelled for id %s with the cause", note, note.Params, req.ID)
	}

	// The connection stays usable.
	if _, err := c.Call(ctx, "ping", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Call on an ended context = %v, want context.Canceled without sending", err)
	}
	if n := len(f.messages()); n != 2 {
		t.Errorf("bridge read %d messages, want 2: a call on an ended context sends nothing", n)
	}
}

func TestClient_Notifications(t *testing.T) {
	t.Run("delivered in order", func(t *testing.T) {
		f := newFakeBridge(t, func(c *fakeConn, m Message) {
			for i := range 3 {
				c.write(t, AppendNotification(nil, "notifications/message", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))))
			}
		})
		c := dial(t, f.path)
		if err := c.Notify(testCtx(t), "notifications/initialized", nil); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			select {
			case m := <-c.Notifications():
				if want := fmt.Sprintf(`{"i":%d}`, i); m.Method != "notifications/message" || string(m.Params) != want {
					t.Errorf("notification %d = %s %s, want notifications/message %s", i, m.Method, m.Params, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("notification %d not delivered", i)
			}
		}
		if m := f.messages(); len(m) != 1 || m[0].Method != "notifications/initialized" || m[0].ID != nil {
			t.Errorf("bridge read %+v, want one notifications/initialized without an id", m)
		}
	})
	t.Run("overflow is dropped and counted", func(t *testing.T) {
		const sent = notificationBuffer + 44
		f := newFakeBridge(t, func(c *fakeConn, m Message) {
			for range sent {
				c.write(t, AppendNotification(nil, "notifications/progress", nil))
			}
			c.write(t, AppendResult(nil, m.ID, nil)) // read after every notification
		})
		c := dial(t, f.path)
		if _, err := c.Call(testCtx(t), "ping", nil); err != nil {
			t.Fatal(err)
		}
		if got := c.Dropped(); got != sent-notificationBuffer {
			t.Errorf("Dropped = %d, want %d (%d sent, room for %d)", got, sent-notificationBuffer, sent, notificationBuffer)
		}
	})
}

func TestClient_ConnectionEnds(t *testing.T) {
	t.Run("a pending call fails with ErrDisconnected", func(t *testing.T) {
		f := newFakeBridge(t, func(c *fakeConn, m Message) { _ = c.nc.Close() })
		c := dial(t, f.path)
		if _, err := c.Call(testCtx(t), "tools/list", nil); !errors.Is(err, ErrDisconnected) {
			t.Fatalf("Call = %v, want ErrDisconnected", err)
		}
		<-c.Done()
		if err := c.Err(); !errors.Is(err, ErrDisconnected) {
			t.Errorf("Err = %v, want ErrDisconnected", err)
		}
		if _, open := <-c.Notifications(); open {
			t.Error("Notifications still open after the connection ended")
		}
		if _, err := c.Call(testCtx(t), "ping", nil); !errors.Is(err, ErrDisconnected) {
			t.Errorf("Call after the end = %v, want ErrDisconnected", err)
		}
	})
	t.Run("a refusal without an id is the reason", func(t *testing.T) {
		f := newFakeBridge(t, func(c *fakeConn, m Message) {
			c.write(t, AppendError(nil, nil, &RPCError{Code: CodeTooManyConnections, Message: "too many connections"}))
			_ = c.nc.Close()
		})
		c := dial(t, f.path)
		_, err := c.Call(testCtx(t), "ping", nil)
		var re *RPCError
		if !errors.Is(err, ErrDisconnected) || !errors.As(err, &re) || re.Code != CodeTooManyConnections {
			t.Fatalf("Call = %v, want ErrDisconnected wrapping the -32002 refusal", err)
		}
	})
	t.Run("lines that are not JSON are skipped", func(t *testing.T) {
		f := newFakeBridge(t, func(c *fakeConn, m Message) {
			c.write(t, []byte("not json\n\n"))
			c.write(t, AppendResult(nil, m.ID, json.RawMessage(`"pong"`)))
		})
		c := dial(t, f.path)
		if got, err := c.Call(testCtx(t), "ping", nil); err != nil || string(got) != `"pong"` {
			t.Errorf("Call = %s, %v; want \"pong\"", got, err)
		}
	})
	t.Run("Close ends it cleanly", func(t *testing.T) {
		f := newFakeBridge(t, echo(t))
		c, err := Dial(testCtx(t), f.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close = %v, want nil", err)
		}
		select {
		case <-c.Done():
		default:
			t.Error("Done not closed after Close")
		}
	})
}

func TestDial(t *testing.T) {
	t.Run("no socket", func(t *testing.T) {
		_, err := Dial(testCtx(t), filepath.Join(t.TempDir(), "none.sock"))
		if err == nil || !strings.Contains(err.Error(), "dial bridge") {
			t.Errorf("Dial = %v, want a dial bridge error", err)
		}
	})
	t.Run("a path too long for sun_path reaches the fallback socket", func(t *testing.T) {
		dir := t.TempDir()
		long := filepath.Join(dir, strings.Repeat("d", MaxSocketPath), fmt.Sprintf("rpc-test-%d.sock", os.Getpid()))
		if err := os.MkdirAll(FallbackDir(), 0o700); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove(SocketPath(long)) })
		listenFake(t, long, echo(t))
		c := dial(t, long)
		if got, err := c.Call(testCtx(t), "ping", json.RawMessage(`{}`)); err != nil || string(got) != `{}` {
			t.Errorf("Call through the fallback socket = %s, %v", got, err)
		}
	})
}

// TestClient_AnswersTheBridgesRequests: a request from the bridge (a server's ask) is
// answered by the handler under the request's id; without a handler it gets method not
// found; a notifications/cancelled for it ends the handler's context.
func TestClient_AnswersTheBridgesRequests(t *testing.T) {
	answers := make(chan Message, 4)
	var conn atomic.Pointer[fakeConn]
	fb := newFakeBridge(t, func(c *fakeConn, m Message) {
		switch {
		case m.Method == "tools/call":
			conn.Store(c)
		case m.Method == "" && m.ID != nil:
			answers <- m
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, fb.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { _, _ = c.Call(ctx, "tools/call", json.RawMessage(`{}`)) }()
	testwait.For(t, 5*time.Second, func() error {
		if conn.Load() == nil {
			return errors.New("no call yet")
		}
		return nil
	})
	fc := conn.Load()
	next := func() Message {
		t.Helper()
		select {
		case m := <-answers:
			return m
		case <-ctx.Done():
			t.Fatal("no answer from the client")
		}
		return Message{}
	}

	fc.write(t, AppendRequest(nil, json.RawMessage(`"ask-1"`), "elicitation/create", json.RawMessage(`{}`)))
	if m := next(); IDKey(m.ID) != `"ask-1"` || m.Error == nil || m.Error.Code != CodeMethodNotFound {
		t.Errorf("without a handler: %+v, want -32601 for ask-1", m)
	}

	stopped := make(chan struct{})
	c.HandleRequests(func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		switch method {
		case "roots/list":
			return json.RawMessage(`{"roots":[]}`), nil
		case "sampling/createMessage":
			return nil, &RPCError{Code: -1, Message: "no"}
		}
		<-ctx.Done()
		close(stopped)
		return nil, ctx.Err()
	})
	fc.write(t, AppendRequest(nil, json.RawMessage(`"ask-2"`), "roots/list", nil))
	if m := next(); IDKey(m.ID) != `"ask-2"` || string(m.Result) != `{"roots":[]}` {
		t.Errorf("roots/list: %+v, want the handler's result", m)
	}
	fc.write(t, AppendRequest(nil, json.RawMessage(`"ask-3"`), "sampling/createMessage", nil))
	if m := next(); IDKey(m.ID) != `"ask-3"` || m.Error == nil || m.Error.Code != -1 || m.Error.Message != "no" {
		t.Errorf("sampling: %+v, want the handler's -1 error", m)
	}
	fc.write(t, AppendRequest(nil, json.RawMessage(`"ask-4"`), "elicitation/create", nil))
	fc.write(t, AppendNotification(nil, "notifications/cancelled", json.RawMessage(`{"requestId":"ask-4"}`)))
	select {
	case <-stopped:
	case <-ctx.Done():
		t.Fatal("the cancelled ask's handler kept running")
	}
}
