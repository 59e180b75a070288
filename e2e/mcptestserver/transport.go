package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

const (
	mcpPath         = "/mcp"
	ssePath         = "/sse"
	shutdownTimeout = 2 * time.Second
)

func serveStdio(ctx context.Context, ts *testServer, stdin io.Reader, stdout, stderr io.Writer) error {
	ss := server.NewStdioServer(ts.mcp)
	ss.SetErrorLogger(log.New(stderr, "mcptestserver: ", log.LstdFlags))
	ts.progressOut = &progressLines{w: stdout, n: map[string]int{}}
	err := ss.Listen(ctx, stdin, ts.progressOut)
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// checkLoopback refuses listen addresses that are not on a loopback interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q: only loopback addresses are allowed", addr)
	}
	return nil
}

func serveStreamableHTTP(ctx context.Context, ts *testServer, opts options, stdout io.Writer) error {
	ln, err := net.Listen("tcp", opts.httpAddr)
	if err != nil {
		return err
	}
	streamable := server.NewStreamableHTTPServer(ts.mcp, server.WithEndpointPath(mcpPath))
	mux := http.NewServeMux()
	mux.Handle(mcpPath, streamable)
	guard := &httpGuard{
		next:         mux,
		required:     opts.required,
		query:        opts.query,
		expireAfter:  opts.expireAfter,
		expireStatus: opts.expireStatus,
		posts:        make(map[string]int),
	}
	return serveHTTP(ctx, ln, guard, "http://"+ln.Addr().String()+mcpPath, stdout, func(ctx context.Context) {
		_ = streamable.Shutdown(ctx)
	})
}

func serveSSE(ctx context.Context, ts *testServer, opts options, stdout io.Writer) error {
	ln, err := net.Listen("tcp", opts.sseAddr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	sse := server.NewSSEServer(ts.mcp, server.WithBaseURL(base), server.WithSSEEndpoint(ssePath))
	guard := &httpGuard{next: sse, required: opts.required, query: opts.query}
	return serveHTTP(ctx, ln, guard, base+ssePath, stdout, func(ctx context.Context) {
		_ = sse.Shutdown(ctx)
	})
}

// serveHTTP announces url on stdout once ln accepts, serves h until ctx ends,
// then shuts down (stop first, so long-lived streams end).
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, url string, stdout io.Writer, stop func(context.Context)) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening %s\n", url)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	stop(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
