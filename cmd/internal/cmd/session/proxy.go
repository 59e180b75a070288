package session

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

func NewCmdProxy(f *cmdkit.Factory) *cobra.Command {
	return sessionCmd("proxy @session", "Serve the session as a stdio MCP server, so any MCP host can share it", 0,
		func(ctx context.Context, name string, _ []string) error {
			if sessioncall.RemoteTarget(f, name) {
				return proxyRemote(ctx, f, name)
			}
			c, s, err := sessioncall.ConnectBridge(ctx, f, name, "proxy")
			if err != nil {
				return err
			}
			c.Close()
			// The bridge speaks newline-delimited MCP on its socket, as a stdio server does:
			// the proxy only copies bytes both ways.
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", rpc.SocketPath(s.Bridge.Socket))
			if err != nil {
				return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("proxy @%s: %w", name, err)}
			}
			defer conn.Close()
			fail := func(err error) error {
				return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("proxy @%s: %w", name, err)}
			}
			inDone, outDone := make(chan error, 1), make(chan error, 1)
			go func() { // stdin → bridge; stays blocked on a read of stdin if the bridge ends first
				_, err := io.Copy(conn, f.IO.In)
				if uc, ok := conn.(*net.UnixConn); ok {
					_ = uc.CloseWrite()
				}
				inDone <- err
			}()
			go func() { // bridge → stdout: ends when the bridge closes the connection
				_, err := io.Copy(f.IO.Out, conn)
				outDone <- err
			}()
			select {
			case <-ctx.Done():
				return nil
			case err := <-outDone: // the bridge went away (or stdout failed): nothing more will come
				if err != nil {
					return fail(err)
				}
				return nil
			case err := <-inDone:
				if err != nil {
					return fail(err)
				}
			}
			// stdin ended and the bridge saw EOF: it answers every request it read, then
			// closes. Wait for that, however long a tool takes, so no answer is lost.
			select {
			case <-ctx.Done():
				return nil
			case err := <-outDone:
				if err != nil {
					return fail(err)
				}
				return nil
			}
		})
}
