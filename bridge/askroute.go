package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// Routing a server's ask to the client whose call caused it.
//
// A client of the socket says which asks it answers the way MCP clients do: a long-lived
// one (the host behind `proxy`) in the capabilities of its initialize, a one-shot caller
// (the CLI on a terminal) in the _meta of the request itself
// (io.modelcontextprotocol/clientCapabilities, as 2026-07-28 requests carry them). While
// such a request is in flight, an ask it caused goes to that connection as a JSON-RPC
// request, and the client's response is the answer. What the client does not answer (not
// declared, or it went away) is answered by the session's policy (asks.go).
//
// Which call caused an ask: a 2026-07-28 input_required round belongs to the call it
// answers; a 2025-11-25 server request over Streamable HTTP arrives on the POST stream of
// its call (its handler runs under that call's context). A server request that names no
// call (any over stdio; over HTTP one sent on the GET stream, as mcp-go's server sends
// sampling) goes to the one call in flight whose client answers it, and to the policy when
// there are several or none.

// askCaps is what a client declared it answers.
type askCaps struct {
	form, url, roots, sampling bool
}

func (c askCaps) any() bool { return c.form || c.url || c.roots || c.sampling }

// parseAskCaps reads a ClientCapabilities object. An elicitation capability without
// modes means form mode (the spec's rule for clients older than URL mode).
func parseAskCaps(raw json.RawMessage) askCaps {
	var c struct {
		Elicitation *struct {
			Form *json.RawMessage `json:"form"`
			URL  *json.RawMessage `json:"url"`
		} `json:"elicitation"`
		Roots    *json.RawMessage `json:"roots"`
		Sampling *json.RawMessage `json:"sampling"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &c) != nil {
		return askCaps{}
	}
	var out askCaps
	if e := c.Elicitation; e != nil {
		out.form = e.Form != nil || e.URL == nil
		out.url = e.URL != nil
	}
	out.roots, out.sampling = c.Roots != nil, c.Sampling != nil
	return out
}

// answers says whether the client declared the capability method (with params) needs.
func (c askCaps) answers(method string, params json.RawMessage) bool {
	switch mcp.MCPMethod(method) {
	case mcp.MethodElicitationCreate:
		var p struct {
			Mode string `json:"mode"`
		}
		_ = json.Unmarshal(params, &p)
		if p.Mode == mcp.ElicitationModeURL {
			return c.url
		}
		return c.form
	case mcp.MethodListRoots:
		return c.roots
	case mcp.MethodSamplingCreateMessage:
		return c.sampling
	}
	return false
}

// initializeCaps is the capabilities object of an initialize request's params.
func initializeCaps(params json.RawMessage) askCaps {
	var p struct {
		Capabilities json.RawMessage `json:"capabilities"`
	}
	if json.Unmarshal(params, &p) != nil {
		return askCaps{}
	}
	return parseAskCaps(p.Capabilities)
}

// requestCaps takes the client capabilities out of a request's _meta: they are the
// socket client's declaration to the bridge, not the server's business (on 2026-07-28 the
// bridge puts its own in). ok is false when the request carries none; params is then
// returned as it was.
func requestCaps(params json.RawMessage) (rest json.RawMessage, caps askCaps, ok bool) {
	if !bytes.Contains(params, []byte(mcp.MetaKeyClientCapabilities)) {
		return params, askCaps{}, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(params, &fields) != nil {
		return params, askCaps{}, false
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(fields["_meta"], &meta) != nil {
		return params, askCaps{}, false
	}
	raw, ok := meta[mcp.MetaKeyClientCapabilities]
	if !ok {
		return params, askCaps{}, false
	}
	delete(meta, mcp.MetaKeyClientCapabilities)
	if len(meta) == 0 {
		delete(fields, "_meta")
	} else if b, err := json.Marshal(meta); err == nil {
		fields["_meta"] = b
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return params, askCaps{}, false
	}
	return b, parseAskCaps(raw), true
}

// asker is a socket client that answers asks for a call it made.
type asker struct {
	c    *serverConn
	caps askCaps
}

type askerKey struct{}

// withAsker marks ctx as a call whose asks a go to a.
func withAsker(ctx context.Context, a *asker) context.Context {
	return context.WithValue(ctx, askerKey{}, a)
}

func askerFrom(ctx context.Context) *asker {
	a, _ := ctx.Value(askerKey{}).(*asker)
	return a
}

// errAskerGone: the client's connection ended before it answered.
var errAskerGone = errors.New("the client went away before it answered")

// ask sends the ask to the client and waits for its response. A JSON-RPC error from the
// client is returned as *rpc.RPCError (the answer); any other error means the client did
// not answer (ctx ended, the connection closed).
func (a *asker) ask(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	c := a.c
	id := json.RawMessage(strconv.Quote("ask-" + strconv.FormatUint(c.s.askSeq.Add(1), 10)))
	ch := make(chan rpc.Message, 1)
	c.mu.Lock()
	if c.asks == nil {
		c.asks = map[string]chan rpc.Message{}
	}
	c.asks[rpc.IDKey(id)] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.asks, rpc.IDKey(id))
		c.mu.Unlock()
	}()
	c.send(rpc.AppendRequest(nil, id, method, params), true)
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, m.Error
		}
		if len(m.Result) == 0 || !json.Valid(m.Result) {
			return nil, &rpc.RPCError{Code: rpc.CodeInternalError, Message: "the client's answer is not JSON"}
		}
		return m.Result, nil
	case <-ctx.Done():
		cancel, _ := json.Marshal(map[string]any{"requestId": id, "reason": context.Cause(ctx).Error()})
		c.send(rpc.AppendNotification(nil, "notifications/cancelled", cancel), false)
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, errAskerGone
	}
}

// answered delivers a client's response to the ask it answers (false: no such ask).
func (c *serverConn) answered(m incoming) bool {
	c.mu.Lock()
	ch := c.asks[rpc.IDKey(m.ID)]
	delete(c.asks, rpc.IDKey(m.ID))
	c.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- rpc.Message{ID: m.ID, Result: m.Result, Error: m.Error}
	return true
}

// askers is the set of calls in flight whose clients answer asks, for server requests
// that name no call (stdio).
type askers struct {
	mu  sync.Mutex
	set map[*asker]int
}

func (r *askers) add(a *asker) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = map[*asker]int{}
	}
	r.set[a]++
}

func (r *askers) remove(a *asker) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set[a]--; r.set[a] <= 0 {
		delete(r.set, a)
	}
}

// sole is the only call in flight whose client answers method, or nil.
func (r *askers) sole(method string, params json.RawMessage) *asker {
	r.mu.Lock()
	defer r.mu.Unlock()
	var found *asker
	for a := range r.set {
		if !a.caps.answers(method, params) {
			continue
		}
		if found != nil {
			return nil
		}
		found = a
	}
	return found
}

// routeAsk finds the client to put an ask to: the one whose call ctx is, else (a server
// request that names no call) the only one in flight that answers it.
func (u *rawUpstream) routeAsk(ctx context.Context, method string, params json.RawMessage) *asker {
	if a := askerFrom(ctx); a != nil {
		if a.caps.answers(method, params) {
			return a
		}
		return nil
	}
	if r := u.askers.Load(); r != nil {
		return r.sole(method, params)
	}
	return nil
}
