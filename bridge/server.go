package bridge

import (
	"github.com/mcpctl/mcpctl/bridge/rpc"

	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Server serves MCP JSON-RPC on a Unix socket, newline-delimited as on stdio, backed by one
// Upstream:
//
//   - initialize is answered from the upstream's cached initialize result, and a client's
//     notifications/initialized is swallowed: the bridge initialized once, at start.
//     Requests are accepted without initialize, so a one-shot call is one write, one read.
//   - every other request goes to the upstream under a fresh upstream id; the answer
//     (result or JSON-RPC error) comes back verbatim under the client's id.
//   - notifications/cancelled from a client cancels its forwarded request (the upstream
//     sends notifications/cancelled on); a closed connection cancels all of its requests.
//   - a half-closed connection (the client shut down its write side: `printf … | nc -U`,
//     `proxy` after its stdin ended) gets an answer to every request read before its EOF,
//     and then the bridge closes it.
//   - server notifications reach the connections that sent initialize (long-lived MCP
//     clients such as `proxy`); one-shot callers are not interrupted by them. Progress
//     notifications reach only the connection whose request carried the progress token
//     (tokens are rewritten per request, so clients cannot collide).
//   - list results the server marks cacheable (ttlMs) are answered from the Server's
//     cache until they expire or a list-changed notification arrives (cache.go).
type Server struct {
	// MaxLine bounds one incoming message (default DefaultMaxLine).
	MaxLine int
	// MaxConns bounds the open connections (default DefaultMaxConns); more are refused with
	// a CodeTooManyConnections error.
	MaxConns int
	Logger   *slog.Logger
	// OnCall, when set, is told of each request forwarded to the server: its method, how
	// long the server took, and its error. It runs on the call's goroutine: keep it cheap.
	OnCall func(method string, took time.Duration, err error)
	// onResult, when set, sees each forwarded request with its answer (the task tracker).
	onResult func(method string, params, result json.RawMessage, err error)

	up    Upstream
	init  json.RawMessage
	uid   int
	cache *listCache

	mu     sync.Mutex
	ln     *net.UnixListener
	path   string
	fi     os.FileInfo
	conns  map[*serverConn]struct{}
	closed bool
	wg     sync.WaitGroup

	progressMu sync.Mutex
	progress   map[string]progressRoute // our token -> the connection and its own token
	tokenSeq   atomic.Uint64

	askSeq atomic.Uint64 // ids of the asks put to clients (askroute.go)
	askers askers        // calls in flight whose clients answer asks
}

type progressRoute struct {
	c     *serverConn
	token json.RawMessage
}

// NewServer returns a Server forwarding to up and answering initialize with initResult.
// The caller routes the upstream's notifications to Server.Notify.
func NewServer(up Upstream, initResult json.RawMessage) *Server {
	s := &Server{
		MaxLine:  rpc.DefaultMaxLine,
		MaxConns: rpc.DefaultMaxConns,
		Logger:   slog.New(slog.DiscardHandler),
		up:       up,
		init:     initResult,
		uid:      os.Getuid(),
		cache:    newListCache(),
		conns:    map[*serverConn]struct{}{},
		progress: map[string]progressRoute{},
	}
	if u, ok := up.(*rawUpstream); ok {
		u.askers.Store(&s.askers)
	}
	return s
}

// Listen binds the socket (see SocketPath for the fallback when path is too long; Path
// returns the one used) and starts accepting connections.
func (s *Server) Listen(path string) error {
	real := rpc.SocketPath(path)
	ln, fi, err := listenUnix(real)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed || s.ln != nil {
		s.mu.Unlock()
		_ = ln.Close()
		_, _ = removeIfOurs(real, fi)
		return errors.New("server: already listening or closed")
	}
	s.ln, s.path, s.fi = ln, real, fi
	s.wg.Add(1)
	s.mu.Unlock()
	go s.accept(ln)
	return nil
}

// Path is the socket path in use ("" before Listen).
func (s *Server) Path() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.path
}

func (s *Server) accept(ln *net.UnixListener) {
	defer s.wg.Done()
	for {
		nc, err := ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			s.Logger.Warn("accept", "err", err)
			continue
		}
		cred, err := peerCred(nc)
		if err == nil {
			err = checkPeer(cred, s.uid)
		}
		if err != nil {
			s.Logger.Warn("connection refused", "err", err)
			_ = nc.Close()
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		if len(s.conns) >= s.MaxConns {
			s.mu.Unlock()
			_, _ = nc.Write(rpc.AppendError(nil, nil, &rpc.RPCError{Code: rpc.CodeTooManyConnections,
				Message: "too many connections to this bridge (" + strconv.Itoa(s.MaxConns) + ")"}))
			_ = nc.Close()
			continue
		}
		c := newServerConn(s, nc)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Notify sends a server notification to the clients that should see it (see Server).
func (s *Server) Notify(method string, params json.RawMessage) {
	// Before the clients hear of a change, so that the list they ask for next is fresh.
	s.cache.changed(method)
	switch method {
	case "notifications/progress":
		s.routeProgress(params)
		return
	case "notifications/cancelled":
		// About the server's own requests to the bridge; clients never saw those.
		return
	}
	line := rpc.AppendNotification(nil, method, params)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.initialized.Load() {
			c.send(line, false)
		}
	}
}

func (s *Server) routeProgress(params json.RawMessage) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(params, &fields); err != nil {
		return
	}
	s.progressMu.Lock()
	route, ok := s.progress[rpc.IDKey(fields["progressToken"])]
	s.progressMu.Unlock()
	if !ok {
		return
	}
	fields["progressToken"] = route.token
	p, err := json.Marshal(fields)
	if err != nil {
		return
	}
	route.c.send(rpc.AppendNotification(nil, "notifications/progress", p), false)
}

// withProgressToken replaces the progress token in params with one unique to this bridge
// and returns the new params and the key to drop the route with (empty: no token).
func (s *Server) withProgressToken(c *serverConn, params json.RawMessage) (json.RawMessage, string) {
	if !bytes.Contains(params, []byte(`"progressToken"`)) {
		return params, ""
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(params, &fields); err != nil {
		return params, ""
	}
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(fields["_meta"], &meta); err != nil || meta["progressToken"] == nil {
		return params, ""
	}
	ours := `"mcpctl-` + strconv.FormatUint(s.tokenSeq.Add(1), 10) + `"`
	orig := meta["progressToken"]
	meta["progressToken"] = json.RawMessage(ours)
	mb, err := json.Marshal(meta)
	if err != nil {
		return params, ""
	}
	fields["_meta"] = mb
	p, err := json.Marshal(fields)
	if err != nil {
		return params, ""
	}
	s.progressMu.Lock()
	s.progress[ours] = progressRoute{c: c, token: orig}
	s.progressMu.Unlock()
	return p, ours
}

// progressGrace keeps a progress route after its request ended: servers (mcp-go among
// them) may queue a notification behind the response.
const progressGrace = 2 * time.Second

func (s *Server) dropProgress(key string) {
	if key == "" {
		return
	}
	time.AfterFunc(progressGrace, func() {
		s.progressMu.Lock()
		delete(s.progress, key)
		s.progressMu.Unlock()
	})
}

// Close stops accepting, closes every connection (cancelling their requests upstream), and
// removes the socket file if it is still the one this Server created.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln, path, fi := s.ln, s.path, s.fi
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
	if ln != nil {
		if _, rerr := removeIfOurs(path, fi); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// serverConn is one client connection.
type serverConn struct {
	s           *Server
	nc          *net.UnixConn
	ctx         context.Context
	cancel      context.CancelFunc
	out         chan []byte
	initialized atomic.Bool
	// caps are the asks the client declared it answers at initialize (askroute.go).
	caps atomic.Pointer[askCaps]

	mu       sync.Mutex
	inflight map[string]context.CancelCauseFunc
	asks     map[string]chan rpc.Message // asks put to this client, by id
	reqs     sync.WaitGroup
}

// errClientCancelled is the cause of a request cancelled by its client.
var errClientCancelled = errors.New("cancelled by the client")

// outQueue bounds the lines waiting for a slow client; notifications beyond it are dropped,
// responses wait.
const outQueue = 256

func newServerConn(s *Server, nc *net.UnixConn) *serverConn {
	ctx, cancel := context.WithCancel(context.Background())
	return &serverConn{s: s, nc: nc, ctx: ctx, cancel: cancel, out: make(chan []byte, outQueue),
		inflight: map[string]context.CancelCauseFunc{}}
}

func (c *serverConn) close() {
	c.cancel()
	_ = c.nc.Close()
}

// send queues a line for the writer. A response waits for room; a notification is dropped
// when the client is not reading.
func (c *serverConn) send(line []byte, wait bool) {
	if !wait {
		select {
		case c.out <- line:
		default:
			c.s.Logger.Debug("notification dropped: client not reading")
		}
		return
	}
	select {
	case c.out <- line:
	case <-c.ctx.Done():
	}
}

func (c *serverConn) serve() {
	writerDone := make(chan struct{})
	go c.write(writerDone)
	if c.read() {
		// The client ended its side: `printf '<request>\n' | nc -U`, or `proxy` after its
		// stdin ended. Every request already read is still answered.
		c.drain()
	}
	// The client went away (or sent garbage): its requests are cancelled upstream.
	c.cancel()
	c.reqs.Wait()
	<-writerDone
	_ = c.nc.Close()
}

func (c *serverConn) write(done chan<- struct{}) {
	defer close(done)
	w := bufio.NewWriter(c.nc)
	for {
		select {
		case line := <-c.out:
			_, err := w.Write(line)
			// Batch what is already queued into one write.
			for err == nil && len(c.out) > 0 {
				_, err = w.Write(<-c.out)
			}
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				c.close()
				return
			}
		case <-c.ctx.Done():
			// Flush what is queued (a final error response), then stop.
			for len(c.out) > 0 {
				if _, err := w.Write(<-c.out); err != nil {
					return
				}
			}
			_ = w.Flush()
			return
		}
	}
}

// incoming is the part of a client message the server looks at.
type incoming struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	// A response: the answer to an ask the bridge put to the client.
	Result json.RawMessage `json:"result"`
	Error  *rpc.RPCError   `json:"error"`
}

// drainPoll is how often a draining connection looks whether its client closed it for good.
const drainPoll = 50 * time.Millisecond

// drain waits, after the client's end of input, until the requests read so far are
// answered. A half-closed connection (the client shut down its write side) and a closed one
// read alike, as EOF; a closed one is also hung up (POLLHUP), and then nobody will read the
// answers: its requests are cancelled as before, at once, instead of run to the end.
func (c *serverConn) drain() {
	answered := make(chan struct{})
	go func() {
		c.reqs.Wait()
		close(answered)
	}()
	raw, err := c.nc.SyscallConn()
	if err != nil {
		return
	}
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		hungUp := false
		_ = raw.Control(func(fd uintptr) {
			// Events 0: only POLLHUP/POLLERR, which poll always reports. A half-closed
			// socket reports POLLRDHUP (and POLLIN), not POLLHUP.
			fds := []unix.PollFd{{Fd: int32(fd)}}
			if n, err := unix.Poll(fds, 0); err == nil && n > 0 {
				hungUp = fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
			}
		})
		if hungUp {
			return
		}
		select {
		case <-answered:
			return
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// read reads requests until the client's input ends. It reports whether it ended cleanly
// (EOF), rather than on a read error or a message too long.
func (c *serverConn) read() bool {
	sc := bufio.NewScanner(c.nc)
	// The scanner's limit is the larger of max and the buffer's capacity.
	sc.Buffer(make([]byte, 0, min(4<<10, c.s.MaxLine)), c.s.MaxLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m incoming
		if err := json.Unmarshal(line, &m); err != nil {
			c.send(rpc.AppendError(nil, nil, &rpc.RPCError{Code: rpc.CodeParseError, Message: "parse error: " + err.Error()}), true)
			continue
		}
		switch {
		case m.Method == "":
			// A response: the answer to an ask, or to nothing (dropped).
			c.answered(m)
		case m.ID == nil:
			c.notification(m)
		default:
			c.request(m)
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		c.send(rpc.AppendError(nil, nil, &rpc.RPCError{Code: rpc.CodeInvalidRequest,
			Message: fmt.Sprintf("message longer than %d bytes; closing the connection", c.s.MaxLine)}), true)
	}
	return sc.Err() == nil
}

func (c *serverConn) notification(m incoming) {
	switch m.Method {
	case "notifications/initialized":
		return
	case "notifications/cancelled":
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(m.Params, &p) != nil {
			return
		}
		c.mu.Lock()
		cancel := c.inflight[rpc.IDKey(p.RequestID)]
		c.mu.Unlock()
		if cancel != nil {
			cancel(errClientCancelled)
		}
		return
	}
	c.reqs.Add(1)
	go func() {
		defer c.reqs.Done()
		if err := c.s.up.Notify(c.ctx, m.Method, m.Params); err != nil {
			c.s.Logger.Debug("client notification not forwarded", "method", m.Method, "err", err)
		}
	}()
}

func (c *serverConn) request(m incoming) {
	id := m.ID // json.Unmarshal copied it out of the scanner's buffer
	if m.Method == "initialize" {
		caps := initializeCaps(m.Params)
		c.caps.Store(&caps)
		c.initialized.Store(true)
		c.send(rpc.AppendResult(nil, id, c.s.init), true)
		return
	}
	key := rpc.IDKey(id)
	params, caps, ok := requestCaps(m.Params)
	if !ok {
		if p := c.caps.Load(); p != nil {
			caps = *p
		}
	}
	ck, cacheable := c.s.cache.key(m.Method, params)
	ctx, cancel := context.WithCancelCause(c.ctx)
	var a *asker
	if caps.any() {
		a = &asker{c: c, caps: caps}
		ctx = withAsker(ctx, a)
	}
	c.mu.Lock()
	if _, dup := c.inflight[key]; dup {
		c.mu.Unlock()
		cancel(nil)
		c.send(rpc.AppendError(nil, id, &rpc.RPCError{Code: rpc.CodeInvalidRequest, Message: "request id " + key + " is already in flight"}), true)
		return
	}
	if cacheable {
		if result, ok := c.s.cache.get(ck); ok {
			c.mu.Unlock()
			cancel(nil)
			c.send(rpc.AppendResult(make([]byte, 0, len(result)+len(id)+40), id, result), true)
			return
		}
	}
	c.inflight[key] = cancel
	c.mu.Unlock()

	c.reqs.Add(1)
	go func() {
		defer c.reqs.Done()
		if a != nil {
			c.s.askers.add(a)
			defer c.s.askers.remove(a)
		}
		params, token := c.s.withProgressToken(c, params)
		var ticket cacheTicket
		if cacheable {
			ticket = c.s.cache.begin(ck)
		}
		start := time.Now()
		result, err := c.s.up.Call(ctx, m.Method, params)
		if c.s.OnCall != nil {
			c.s.OnCall(m.Method, time.Since(start), err)
		}
		if c.s.onResult != nil {
			c.s.onResult(m.Method, params, result, err)
		}
		if cacheable && err == nil && len(result) <= c.s.MaxLine {
			c.s.cache.put(ticket, result)
		}
		c.s.dropProgress(token)
		c.mu.Lock()
		delete(c.inflight, key)
		c.mu.Unlock()
		gone := ctx.Err() != nil
		cancel(nil)
		if gone && err != nil {
			// Cancelled by the client, or the client is gone: nobody waits for an answer.
			return
		}
		var line []byte
		var rpcErr *rpc.RPCError
		switch {
		case err == nil && len(result) > c.s.MaxLine:
			// Clients read lines of at most MaxLine (plus slack): a bigger answer would only
			// break their connection and read as "the bridge went away". Say what happened.
			line = rpc.AppendError(nil, id, &rpc.RPCError{Code: rpc.CodeInternalError, Message: fmt.Sprintf(
				"the server's result is %d bytes, more than the %d bytes a bridge answer may have", len(result), c.s.MaxLine)})
		case err == nil:
			line = rpc.AppendResult(make([]byte, 0, len(result)+len(id)+40), id, result)
		case errors.As(err, &rpcErr):
			line = rpc.AppendError(nil, id, rpcErr)
		default:
			line = rpc.AppendError(nil, id, upstreamError(err))
		}
		c.send(line, true)
	}()
}
