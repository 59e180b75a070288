package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// serveRemote answers the session's remote calls until the returned stop is called: each
// request is made on the bridge's own socket, like a local caller's, so that the bridge
// treats both alike.
func ServeRemote(nc *nats.Conn, node, session, socket string, logger *slog.Logger) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := nc.QueueSubscribe(RPCSubject(node, session), RemoteQueue, func(m *nats.Msg) {
		go answerRemote(ctx, m, socket, logger)
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("remote calls: subscribe %s: %w", RPCSubject(node, session), err)
	}
	if err := nc.Flush(); err != nil {
		cancel()
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("remote calls: %w", err)
	}
	return func() { _ = sub.Drain(); cancel() }, nil
}

func answerRemote(ctx context.Context, m *nats.Msg, socket string, logger *slog.Logger) {
	reply := func(r RemoteReply) {
		b, _ := json.Marshal(r)
		if err := m.Respond(b); err != nil {
			logger.Warn("remote call: reply", "err", err)
		}
	}
	var req RemoteRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Method == "" {
		reply(RemoteReply{Error: &rpc.RPCError{Code: rpc.CodeInvalidRequest, Message: "mcpctl remote call: not a request"}})
		return
	}
	timeout := DefaultRemoteCallTimeout
	if ms, err := strconv.ParseInt(m.Header.Get(RemoteDeadlineHeader), 10, 64); err == nil && ms > 0 {
		timeout = min(timeout, time.Duration(ms)*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := rpc.Dial(ctx, socket)
	if err != nil {
		reply(RemoteReply{Error: &rpc.RPCError{Code: rpc.CodeUpstreamUnavailable, Message: err.Error()}})
		return
	}
	defer c.Close()
	res, err := c.Call(ctx, req.Method, req.Params)
	var rpcErr *rpc.RPCError
	switch {
	case errors.As(err, &rpcErr):
		reply(RemoteReply{Error: rpcErr})
	case err != nil:
		reply(RemoteReply{Error: &rpc.RPCError{Code: rpc.CodeUpstreamUnavailable, Message: err.Error()}})
	default:
		reply(RemoteReply{Result: res})
	}
}
