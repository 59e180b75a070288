package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Client talks to a bridge socket: what the CLI uses. A call is one write and one read on
// a connection made by Dial; no initialize round trip is needed.
type Client struct {
	nc     net.Conn
	nextID atomic.Int64

	wmu sync.Mutex // one writer at a time

	mu      sync.Mutex
	pending map[string]chan Message
	err     error // why the connection ended; set before done is closed
	done    chan struct{}

	notes   chan Message
	dropped atomic.Int64

	// The bridge's requests to this client (a server's ask routed to the call that caused
	// it): answered by handler, each under a context its cancellation ends.
	handler atomic.Pointer[RequestHandler]
	askMu   sync.Mutex
	askStop map[string]context.CancelFunc
}

// RequestHandler answers a request the bridge sends this client: a server's ask
// (elicitation/create, roots/list, sampling/createMessage) that the client declared it
// answers. An error that is an *RPCError is sent as it is; any other as an internal error.
type RequestHandler func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)

// HandleRequests sets the handler for the bridge's requests. Without one they are
// answered with method not found.
func (c *Client) HandleRequests(h RequestHandler) { c.handler.Store(&h) }

// notificationBuffer bounds the notifications waiting for the reader of Notifications.
const notificationBuffer = 256

// Dial connects to the bridge socket at path (the path as given to Server.Listen: a path
// too long for sun_path is mapped the same way).
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", SocketPath(path))
	if err != nil {
		return nil, fmt.Errorf("dial bridge: %w", err)
	}
	c := &Client{nc: nc, pending: map[string]chan Message{}, done: make(chan struct{}),
		notes: make(chan Message, notificationBuffer), askStop: map[string]context.CancelFunc{}}
	go c.read()
	return c, nil
}

// Call sends a request and waits for its answer. A JSON-RPC error is returned as *RPCError
// (which unwraps to ErrServerLost, ErrExpired or ErrUnauthorized when the bridge could not
// reach the server). When ctx ends first, Call sends notifications/cancelled for the
// request and returns ctx's error; the request is never sent again.
func (c *Client) Call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := strconv.FormatInt(c.nextID.Add(1), 10)
	ch := make(chan Message, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}

	if err := c.write(ctx, AppendRequest(nil, json.RawMessage(id), method, params)); err != nil {
		forget()
		return nil, err
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, m.Error
		}
		return m.Result, nil
	case <-ctx.Done():
		forget()
		cancel, _ := json.Marshal(struct {
			RequestID json.RawMessage `json:"requestId"`
			Reason    string          `json:"reason"`
		}{json.RawMessage(id), context.Cause(ctx).Error()})
		wctx, done := context.WithTimeout(context.Background(), time.Second)
		_ = c.write(wctx, AppendNotification(nil, "notifications/cancelled", cancel))
		done()
		return nil, ctx.Err()
	case <-c.done:
		return nil, c.Err()
	}
}

// Notify sends a notification to the bridge.
func (c *Client) Notify(ctx context.Context, method string, params json.RawMessage) error {
	return c.write(ctx, AppendNotification(nil, method, params))
}

func (c *Client) write(ctx context.Context, line []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetWriteDeadline(dl)
		defer func() { _ = c.nc.SetWriteDeadline(time.Time{}) }()
	}
	if _, err := c.nc.Write(line); err != nil {
		return fmt.Errorf("%w: write: %v", ErrDisconnected, err)
	}
	return nil
}

// Notifications delivers the notifications the bridge sends (to connections that sent
// initialize, and progress for this connection's requests). When nobody reads, the
// overflow is dropped and counted in Dropped. The channel is closed when the connection
// ends.
func (c *Client) Notifications() <-chan Message { return c.notes }

// Dropped counts notifications lost because Notifications was not read.
func (c *Client) Dropped() int64 { return c.dropped.Load() }

// Done is closed when the connection ends; Err says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (wraps ErrDisconnected), nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection; the bridge cancels any request still in flight.
func (c *Client) Close() error {
	err := c.nc.Close()
	<-c.done
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (c *Client) read() {
	sc := bufio.NewScanner(c.nc)
	sc.Buffer(make([]byte, 0, 4<<10), DefaultMaxLine+1<<20)
	var fatal *RPCError
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		switch {
		case m.Method == "notifications/cancelled":
			c.cancelAsk(m.Params)
		case m.Method != "" && m.ID != nil:
			c.answer(m)
		case m.Method != "" && m.ID == nil:
			select {
			case c.notes <- m:
			default:
				c.dropped.Add(1)
			}
		case m.Method == "" && (m.ID == nil || IDKey(m.ID) == "null"):
			// An error about the connection itself (too many connections, line too long).
			if m.Error != nil {
				fatal = m.Error
			}
		case m.Method == "":
			c.mu.Lock()
			ch := c.pending[IDKey(m.ID)]
			delete(c.pending, IDKey(m.ID))
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}
	err := fmt.Errorf("%w", ErrDisconnected)
	switch {
	case fatal != nil:
		err = fmt.Errorf("%w: %w", ErrDisconnected, fatal)
	case sc.Err() != nil && !errors.Is(sc.Err(), net.ErrClosed):
		err = fmt.Errorf("%w: %v", ErrDisconnected, sc.Err())
	}
	c.askMu.Lock()
	for _, stop := range c.askStop {
		stop()
	}
	c.askMu.Unlock() // the handlers are not waited for: one may be blocked reading a terminal
	c.mu.Lock()
	c.err = err
	close(c.done)
	c.mu.Unlock()
	close(c.notes)
}

// answer runs the handler for one request of the bridge and writes its response.
func (c *Client) answer(m Message) {
	h := c.handler.Load()
	if h == nil || *h == nil {
		_ = c.write(context.Background(), AppendError(nil, m.ID, &RPCError{Code: CodeMethodNotFound, Message: "this client does not answer " + m.Method}))
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	key := IDKey(m.ID)
	c.askMu.Lock()
	c.askStop[key] = stop
	c.askMu.Unlock()
	go func() {
		defer func() {
			c.askMu.Lock()
			delete(c.askStop, key)
			c.askMu.Unlock()
			stop()
		}()
		result, err := (*h)(ctx, m.Method, m.Params)
		if ctx.Err() != nil {
			return // cancelled by the bridge, or the connection ended: nobody waits
		}
		var line []byte
		var rerr *RPCError
		switch {
		case err == nil:
			line = AppendResult(nil, m.ID, result)
		case errors.As(err, &rerr):
			line = AppendError(nil, m.ID, rerr)
		default:
			line = AppendError(nil, m.ID, &RPCError{Code: CodeInternalError, Message: err.Error()})
		}
		_ = c.write(context.Background(), line)
	}()
}

// cancelAsk ends the handler of a request the bridge cancelled.
func (c *Client) cancelAsk(params json.RawMessage) {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(params, &p) != nil {
		return
	}
	c.askMu.Lock()
	stop := c.askStop[IDKey(p.RequestID)]
	c.askMu.Unlock()
	if stop != nil {
		stop()
	}
}
