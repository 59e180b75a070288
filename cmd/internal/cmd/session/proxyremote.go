package session

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/remote"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
)

// maxProxyMessage is the largest JSON-RPC message the remote proxy reads from its host.
const maxProxyMessage = 16 << 20

// proxyRemote serves another node's session on stdio: each request of the host is one
// remote call to the session's bridge (as `mcpctl @name@node <method>` makes), answered
// with the host's id, in whatever order the answers come. Notifications of the host are
// not forwarded (a remote call is a request and its answer), the server's notifications do
// not come back, and what the server asks back is answered by the session's policy on its
// node, as for every remote call.
func proxyRemote(ctx context.Context, f *cmdkit.Factory, name string) error {
	if _, err := sessioncall.CheckRemote(ctx, f, name, "proxy"); err != nil {
		return err
	}
	hub, err := f.Hub(ctx)
	if err != nil {
		return err
	}
	session, node := hubclient.SplitTarget(name)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var writeErr error
	write := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if writeErr == nil {
			_, writeErr = f.IO.Out.Write(append(b, '\n'))
		}
	}
	type rpcErr struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data,omitempty"`
	}
	answer := func(id json.RawMessage, res json.RawMessage, err error) {
		if err == nil {
			write(struct {
				JSONRPC string          `json:"jsonrpc"`
				ID      json.RawMessage `json:"id"`
				Result  json.RawMessage `json:"result"`
			}{"2.0", id, res})
			return
		}
		e := rpcErr{Code: rpc.CodeUpstreamUnavailable, Message: err.Error()}
		var re *rpc.RPCError
		if errors.As(err, &re) {
			e = rpcErr{Code: re.Code, Message: re.Message, Data: re.Data}
		}
		write(struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   rpcErr          `json:"error"`
		}{"2.0", id, e})
	}
	call := func(method string, params json.RawMessage) (json.RawMessage, error) {
		res, err := hub.Remote.Request(ctx, node, session, method, params)
		if errors.Is(err, remote.ErrNoResponder) {
			// Nobody answers right now: the path of remote calls waits for (or restarts)
			// the session's bridge.
			res, _, err = sessioncall.CallRemote(ctx, f, name, method, params)
		}
		return res, err
	}

	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() { // stays blocked on a read of stdin if ctx ends first
		sc := bufio.NewScanner(f.IO.In)
		sc.Buffer(make([]byte, 64<<10), maxProxyMessage)
		for sc.Scan() {
			select {
			case lines <- bytes.Clone(sc.Bytes()):
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	for {
		var line []byte
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			// stdin ended: answer every request read, however long a tool takes.
			wg.Wait()
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return writeErr
		case line = <-lines:
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			answer(json.RawMessage("null"), nil, &rpc.RPCError{Code: -32700, Message: "parse error: " + err.Error()})
			continue
		}
		if msg.Method == "" || len(msg.ID) == 0 || string(msg.ID) == "null" {
			continue // a notification, or an answer to an ask nobody made over this proxy
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := call(msg.Method, msg.Params)
			answer(msg.ID, res, err)
		}()
	}
}
