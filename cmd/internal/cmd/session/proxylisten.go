package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
)

// runHTTPProxy serves the session as a Streamable HTTP MCP server until ctx ends (SIGINT,
// SIGTERM). Everything the user can get wrong — the address, the token file, a port that
// is taken or privileged — is checked before the session is looked up, so a bad command
// line starts nothing (no hub, no bridge) and leaves nothing listening.
func runHTTPProxy(ctx context.Context, f *cmdkit.Factory, name string, opts proxyOptions) error {
	if sessioncall.RemoteTarget(f, name) {
		return clierr.WithHint(fmt.Errorf("proxy --listen serves this node's sessions; @%s is another node's", name), clierr.ExitUsage,
			"run it on the session's node, or serve it on stdio: mcpctl @"+name+" proxy")
	}
	host, port, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return clierr.WithHint(fmt.Errorf("--listen %q: want host:port", opts.Listen), clierr.ExitUsage, "--listen 127.0.0.1:8080")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return clierr.UsageErr("--listen %q: port %q is not a number from 0 to 65535", opts.Listen, port)
	}
	loopback, err := loopbackHost(ctx, host)
	if err != nil {
		return clierr.UsageErr("--listen %q: %v", opts.Listen, err)
	}
	var token []byte
	if opts.TokenFile != "" {
		if token, err = readTokenFile(opts.TokenFile); err != nil {
			return err
		}
	}
	if !loopback && token == nil {
		return clierr.WithHint(fmt.Errorf("--listen %s is not a loopback address: refusing to serve the session there without --bearer-token-file", opts.Listen),
			clierr.ExitUsage, "put a random token in a file only you can read (umask 077; head -c 32 /dev/urandom | base64 > FILE) and pass --bearer-token-file FILE, or listen on 127.0.0.1")
	}
	// An address family as the user wrote it: 0.0.0.0 binds IPv4 only (and prints as such),
	// where Go's "tcp" would bind both and print [::].
	network := "tcp"
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
		network = "tcp4"
	} else if ip != nil {
		network = "tcp6"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, opts.Listen)
	if err != nil {
		return listenErr(opts.Listen, port, err)
	}
	link, err := openBridgeLink(ctx, f, name)
	if err != nil {
		ln.Close()
		return err
	}
	p := newHTTPProxy(link.dial, token, loopback)
	url := "http://" + ln.Addr().String() + mcpPath
	fmt.Fprintf(f.IO.ErrOut, "proxy @%s: serving MCP (Streamable HTTP) at %s\n", name, url)
	if f.JSON {
		// One line, so a program starting the proxy reads it before anything else ends.
		line, _ := json.Marshal(map[string]any{"session": name, "url": url, "address": ln.Addr().String(), "auth": token != nil})
		if _, err := f.IO.Out.Write(append(line, '\n')); err != nil {
			ln.Close()
			return err
		}
	}
	return p.serve(ctx, ln)
}

// loopbackHost says whether every address host names is a loopback one. "" (all
// interfaces) is not.
func loopbackHost(ctx context.Context, host string) (bool, error) {
	if host == "" {
		return false, nil
	}
	if isLoopbackName(host) {
		return true, nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return false, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false, fmt.Errorf("cannot resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return false, nil
		}
	}
	return len(addrs) > 0, nil
}

// isLoopbackName: localhost, a name under .localhost (RFC 6761), or a loopback IP.
func isLoopbackName(h string) bool {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// listenErr says why the address could not be bound, in the user's terms.
func listenErr(addr, port string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return clierr.WithHint(fmt.Errorf("--listen %s: address already in use (another process listens on port %s)", addr, port),
			clierr.ExitUsage, "pick another port, or port 0 for a free one (the URL is printed)")
	case errors.Is(err, syscall.EACCES):
		start := unprivilegedPortStart()
		return clierr.WithHint(fmt.Errorf("--listen %s: permission denied: ports below %d are privileged on this machine and need root or CAP_NET_BIND_SERVICE", addr, start),
			clierr.ExitUsage, fmt.Sprintf("pick a port from %d up, or port 0 for a free one", start))
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return clierr.UsageErr("--listen %s: not an address of this machine", addr)
	}
	return clierr.UsageErr("--listen %s: %v", addr, err)
}

// unprivilegedPortStart is the lowest port an unprivileged process may bind (Linux's
// net.ipv4.ip_unprivileged_port_start, 1024 unless changed).
func unprivilegedPortStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return 1024
}

// maxTokenFile bounds what is read of a token file: a token is a line, not a document.
const maxTokenFile = 4096

// readTokenFile reads the bearer token: the file's one line (a trailing newline is fine).
// The file must be private (no permission bits for group or others, as ssh asks of a key):
// a token that other users can read protects nothing.
func readTokenFile(path string) ([]byte, error) {
	fail := func(format string, a ...any) error {
		return clierr.WithHint(fmt.Errorf("--bearer-token-file %s: "+format, append([]any{path}, a...)...), clierr.ExitUsage,
			"write the token in a file only you can read: umask 077; head -c 32 /dev/urandom | base64 > FILE")
	}
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fail("no such file")
	}
	if err != nil {
		return nil, fail("%v", errors.Unwrap(err))
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fail("%v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fail("not a regular file")
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, clierr.WithHint(fmt.Errorf("--bearer-token-file %s: mode %04o lets group or others at the token", path, perm), clierr.ExitUsage,
			"chmod 600 "+path)
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxTokenFile+1))
	if err != nil {
		return nil, fail("%v", err)
	}
	if len(b) > maxTokenFile {
		return nil, fail("longer than %d bytes: not a token", maxTokenFile)
	}
	tok := bytes.TrimSpace(b)
	if len(tok) == 0 {
		return nil, fail("empty: it holds no token")
	}
	for _, c := range tok {
		if c <= ' ' || c == 0x7f {
			return nil, fail("the token has a space or a control character (one line, no spaces)")
		}
	}
	return tok, nil
}
