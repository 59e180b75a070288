package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events/backoff"
)

// On 2026-07-28 a server sends notifications outside a request only on the response stream
// of a subscriptions/listen request, and only the kinds the client opted in to. The bridge
// holds one open for the life of the upstream, over stdio and HTTP alike, asking for what
// the GET stream carried before: every list change the server's capabilities announce
// (tools, prompts, resources) and notifications/resources/updated for the URIs subscribed
// (resources/subscribe and resources/unsubscribe, removed in 2026-07-28, are answered by
// the bridge and change the filter; the stream is then opened again with it). The
// notifications go where every other one goes (OnNotification). A stream that ends or
// fails is opened again with backoff until the upstream closes; a server that does not
// know the method, or that established nothing, is not asked again until the filter
// changes. (2026-07-28 has no subscription for log messages: they travel on the streams of
// the requests whose _meta carries a log level.)

// Pauses between two subscriptions/listen streams that end or fail.
const (
	listenBackoffInitial = 500 * time.Millisecond
	listenBackoffMax     = 30 * time.Second
	// listenSteady is how long a stream must have lasted for the next failure to start
	// the backoff over.
	listenSteady = 10 * time.Second
	// listenStopWait bounds how long Close waits for the stream to end.
	listenStopWait = 5 * time.Second
)

// listener is the subscriptions/listen state of a modern upstream.
type listener struct {
	mu sync.Mutex
	// caps is what the server announces (from server/discover).
	caps struct {
		Tools *struct {
			ListChanged bool `json:"listChanged"`
		} `json:"tools"`
		Prompts *struct {
			ListChanged bool `json:"listChanged"`
		} `json:"prompts"`
		Resources *struct {
			ListChanged bool `json:"listChanged"`
			Subscribe   bool `json:"subscribe"`
		} `json:"resources"`
	}
	uris []string // the resource subscriptions, in the order made
	// acked is what the server said it established on the current stream.
	acked *mcp.SubscriptionFilter
	// kick asks the loop to open the stream again with the current filter.
	kick chan struct{}
	// done is closed when the loop has ended.
	done chan struct{}
	// parked is set while the loop waits for a new filter because the server sends nothing
	// on the stream (method not found, nothing established): it asks no more until kicked.
	parked atomic.Bool
}

// filter is what to ask for now.
func (l *listener) filter() mcp.SubscriptionFilter {
	l.mu.Lock()
	defer l.mu.Unlock()
	var f mcp.SubscriptionFilter
	if c := l.caps.Tools; c != nil && c.ListChanged {
		f.ToolsListChanged = true
	}
	if c := l.caps.Prompts; c != nil && c.ListChanged {
		f.PromptsListChanged = true
	}
	if c := l.caps.Resources; c != nil {
		f.ResourcesListChanged = c.ListChanged
		if c.Subscribe {
			f.ResourceSubscriptions = slices.Clone(l.uris)
		}
	}
	return f
}

func (l *listener) poke() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// startListening starts holding subscriptions/listen open, with the capabilities of init
// (the discover result in initialize shape). Only for 2026-07-28 and later.
func (u *rawUpstream) startListening(init json.RawMessage) {
	l := &listener{kick: make(chan struct{}, 1), done: make(chan struct{})}
	var r struct {
		Capabilities json.RawMessage `json:"capabilities"`
	}
	if err := json.Unmarshal(init, &r); err == nil && len(r.Capabilities) > 0 {
		_ = json.Unmarshal(r.Capabilities, &l.caps)
	}
	u.listen.Store(l)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-u.done:
		case <-ctx.Done():
		}
		cancel()
	}()
	go func() {
		defer close(l.done)
		u.listenLoop(ctx, l)
	}()
}

func (u *rawUpstream) listenLoop(ctx context.Context, l *listener) {
	bo := backoff.New(listenBackoffInitial, listenBackoffMax)
	for {
		filter := l.filter()
		if filter.IsEmpty() {
			select {
			case <-l.kick:
				continue
			case <-ctx.Done():
				return
			}
		}
		l.mu.Lock()
		l.acked = nil
		l.mu.Unlock()
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- u.listenOnce(lctx, filter) }()
		var err error
		select {
		case err = <-done:
		case <-l.kick:
			// The filter changed: the new stream replaces this one.
			cancel()
			<-done
			bo.Reset()
			continue
		case <-ctx.Done():
			cancel()
			<-done
			return
		}
		cancel()
		if ctx.Err() != nil || u.Err() != nil {
			return
		}
		l.mu.Lock()
		acked := l.acked
		l.mu.Unlock()
		var rpcErr *rpc.RPCError
		stop := errors.As(err, &rpcErr) && rpcErr.Code == mcp.METHOD_NOT_FOUND
		if err == nil && acked != nil && acked.IsEmpty() {
			stop = true // nothing established: nothing will come
		}
		if stop {
			u.logger.Info("subscriptions/listen: the server sends no notifications outside requests", "err", err)
			l.parked.Store(true)
			select {
			case <-l.kick:
				l.parked.Store(false)
				continue
			case <-ctx.Done():
				return
			}
		}
		if time.Since(start) >= listenSteady {
			bo.Reset()
		}
		u.logger.Debug("subscriptions/listen ended; opening it again", "err", err)
		if bo.Wait(ctx) != nil {
			return
		}
	}
}

// listenOnce sends one subscriptions/listen and waits for it to end: the server closing
// the stream, an error, or ctx.
func (u *rawUpstream) listenOnce(ctx context.Context, filter mcp.SubscriptionFilter) error {
	method := string(mcp.MethodSubscriptionsListen)
	raw, err := json.Marshal(mcp.SubscriptionsListenParams{Notifications: filter})
	if err != nil {
		return err
	}
	params, err := u.withMeta(raw)
	if err != nil {
		return err
	}
	id := mcp.NewRequestId(u.nextID.Add(1))
	req := transport.JSONRPCRequest{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Method: method, Params: params,
		Header: u.standardHeaders(method, params)}
	resp, err := u.tr.SendRequest(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			if u.Err() == nil {
				u.cancel(id, ctx) // stdio: the server stops holding the request
			}
			return ctx.Err()
		}
		if u.http && errors.Is(err, transport.ErrSessionTerminated) {
			return &rpc.RPCError{Code: mcp.METHOD_NOT_FOUND, Message: "method not found: " + method + " (HTTP 404)"}
		}
		return err
	}
	if resp.Error != nil {
		return &rpc.RPCError{Code: resp.Error.Code, Message: resp.Error.Message}
	}
	return nil
}

// acknowledged records what the server established on the current stream
// (notifications/subscriptions/acknowledged, which is the listen protocol's own and is
// not passed on).
func (u *rawUpstream) acknowledged(params json.RawMessage) {
	l := u.listen.Load()
	if l == nil {
		return
	}
	var p struct {
		Notifications mcp.SubscriptionFilter `json:"notifications"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return
	}
	l.mu.Lock()
	l.acked = &p.Notifications
	l.mu.Unlock()
	if fn := u.listening.Load(); fn != nil {
		(*fn)()
	}
}

// resourceSubscription answers resources/subscribe and resources/unsubscribe on 2026-07-28,
// which removed them: the URI joins or leaves the subscriptions/listen filter.
func (u *rawUpstream) resourceSubscription(method string, params json.RawMessage) (json.RawMessage, error) {
	var p struct {
		URI string `json:"uri"`
	}
	if err := json.Unmarshal(params, &p); err != nil || p.URI == "" {
		return nil, &rpc.RPCError{Code: mcp.INVALID_PARAMS, Message: method + ": params need a uri"}
	}
	l := u.listen.Load()
	if l == nil {
		return nil, &rpc.RPCError{Code: mcp.METHOD_NOT_FOUND, Message: method + ": not available on this connection"}
	}
	l.mu.Lock()
	if l.caps.Resources == nil || !l.caps.Resources.Subscribe {
		l.mu.Unlock()
		return nil, &rpc.RPCError{Code: mcp.METHOD_NOT_FOUND, Message: method + ": the server does not offer resource subscriptions"}
	}
	has := slices.Contains(l.uris, p.URI)
	changed := false
	switch {
	case method == string(mcp.MethodResourcesSubscribe) && !has:
		l.uris = append(l.uris, p.URI)
		changed = true
	case method == string(mcp.MethodResourcesUnsubscribe) && has:
		l.uris = slices.DeleteFunc(l.uris, func(s string) bool { return s == p.URI })
		changed = true
	}
	l.mu.Unlock()
	if changed {
		l.poke()
	}
	return json.RawMessage("{}"), nil
}

// stopListening waits (bounded by ctx and listenStopWait) for the listen loop to end once
// the upstream is closed.
func (u *rawUpstream) stopListening(ctx context.Context) {
	l := u.listen.Load()
	if l == nil {
		return
	}
	t := time.NewTimer(listenStopWait)
	defer t.Stop()
	select {
	case <-l.done:
	case <-ctx.Done():
	case <-t.C:
		u.logger.Warn("subscriptions/listen did not end with the upstream")
	}
}
