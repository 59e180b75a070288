package session

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"
)

type proxyOptions struct {
	Listen    string // --listen: serve Streamable HTTP on this address instead of stdio
	TokenFile string // --bearer-token-file
}

func NewCmdProxy(f *cmdkit.Factory) *cobra.Command {
	var opts proxyOptions
	var cmd *cobra.Command
	cmd = sessionCmd("proxy @session", "Serve the session as an MCP server (stdio, or Streamable HTTP with --listen), so any MCP host can share it", 0,
		func(ctx context.Context, name string, _ []string) error {
			if opts.Listen == "" {
				if opts.TokenFile != "" {
					return clierr.WithHint(errors.New("--bearer-token-file needs --listen (the stdio proxy has no token)"), clierr.ExitUsage,
						"mcpctl @"+name+" proxy --listen 127.0.0.1:8080 --bearer-token-file FILE")
				}
				if sessioncall.RemoteTarget(f, name) {
					return proxyRemote(ctx, f, name)
				}
				return runStdioProxy(ctx, f, name)
			}
			// A signal is how a listening proxy is meant to stop: exit 0, not 128+n.
			cmd.Annotations = map[string]string{cmdkit.AnnotationStopsOnSignal: "true"}
			return runHTTPProxy(ctx, f, name, opts)
		})
	cmd.Flags().StringVar(&opts.Listen, "listen", "", "serve Streamable HTTP on `host:port` (loopback unless --bearer-token-file is given)")
	cmd.Flags().StringVar(&opts.TokenFile, "bearer-token-file", "", "require `file`'s token as an HTTP bearer token (file mode 0600 or stricter)")
	return cmd
}

// runStdioProxy copies the host's stdin to the bridge and the bridge's answers to stdout.
func runStdioProxy(ctx context.Context, f *cmdkit.Factory, name string) error {
	link, err := openBridgeLink(ctx, f, name)
	if err != nil {
		return err
	}
	conn, err := link.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
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
			return link.fail(err)
		}
		return nil
	case err := <-inDone:
		if err != nil {
			return link.fail(err)
		}
	}
	// stdin ended and the bridge saw EOF: it answers every request it read, then
	// closes. Wait for that, however long a tool takes, so no answer is lost.
	select {
	case <-ctx.Done():
		return nil
	case err := <-outDone:
		if err != nil {
			return link.fail(err)
		}
		return nil
	}
}
