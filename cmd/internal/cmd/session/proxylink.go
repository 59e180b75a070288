package session

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
)

// bridgeLink is how both proxies reach the session's bridge: the stdio proxy opens one
// connection for its host's whole conversation, the HTTP proxy one per call (so that what
// the bridge sends on a connection — progress, asks, the answer — belongs to that call).
// The bridge speaks newline-delimited MCP on its socket, as a stdio server does.
type bridgeLink struct {
	f    *cmdkit.Factory
	name string

	mu     sync.Mutex
	socket string
}

// openBridgeLink finds the session's bridge (starting the session's next generation if its
// bridge is gone, as every session command does) and remembers its socket.
func openBridgeLink(ctx context.Context, f *cmdkit.Factory, name string) (*bridgeLink, error) {
	l := &bridgeLink{f: f, name: name}
	if err := l.resolve(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *bridgeLink) resolve(ctx context.Context) error {
	c, s, err := sessioncall.ConnectBridge(ctx, l.f, l.name, "proxy")
	if err != nil {
		return err
	}
	c.Close()
	l.mu.Lock()
	l.socket = rpc.SocketPath(s.Bridge.Socket)
	l.mu.Unlock()
	return nil
}

// dial opens a connection to the bridge. When the bridge it knew is gone (restarted,
// crashed), it finds the session's current one once more, so a long-running proxy follows
// the session across generations.
func (l *bridgeLink) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	l.mu.Lock()
	socket := l.socket
	l.mu.Unlock()
	conn, err := d.DialContext(ctx, "unix", socket)
	if err == nil {
		return conn, nil
	}
	if rerr := l.resolve(ctx); rerr != nil {
		return nil, rerr
	}
	l.mu.Lock()
	socket = l.socket
	l.mu.Unlock()
	if conn, err = d.DialContext(ctx, "unix", socket); err != nil {
		return nil, l.fail(err)
	}
	return conn, nil
}

func (l *bridgeLink) fail(err error) error {
	return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("proxy @%s: %w", l.name, err)}
}
