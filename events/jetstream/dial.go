package jetstream

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/events"
)

// Connection defaults.
const (
	DefaultDialTimeout    = 2 * time.Second
	DefaultReconnectWait  = 200 * time.Millisecond
	DefaultReconnectDelay = 50 * time.Millisecond
)

// Dial connects a short-lived client (the CLI): a quick connect, no reconnect buffer, so a
// publish while the hub is gone fails instead of waiting in memory.
func Dial(ctx context.Context, url, token string, opts ...nats.Option) (*nats.Conn, error) {
	timeout := DefaultDialTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(d), time.Millisecond))
	}
	base := []nats.Option{
		nats.Name("mcpctl"),
		nats.Token(token),
		nats.Timeout(timeout),
		nats.ReconnectBufSize(-1),
		nats.MaxReconnects(3),
		nats.ReconnectWait(DefaultReconnectDelay),
		nats.IgnoreDiscoveredServers(),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: connect %s: %w", events.ErrNoHub, url, err)
	}
	return nc, nil
}

// DialHub connects a long-lived client (bridge, supervisor) to the hub named in the address
// file at addrPath. Every dial, including each reconnect, re-reads the file, so the client
// follows a hub that was killed and restarted on another port. It never gives up reconnecting.
func DialHub(ctx context.Context, addrPath, token string, opts ...nats.Option) (*nats.Conn, error) {
	a, err := ReadAddress(addrPath)
	if err != nil {
		return nil, err
	}
	d := &hubDialer{path: addrPath, timeout: DefaultDialTimeout}
	base := []nats.Option{
		nats.Name("mcpctl"),
		nats.Token(token),
		nats.Timeout(DefaultDialTimeout),
		nats.SetCustomDialer(d),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(DefaultReconnectWait),
		nats.ReconnectJitter(DefaultReconnectDelay, DefaultReconnectDelay),
		nats.IgnoreDiscoveredServers(),
	}
	nc, err := nats.Connect(a.URL, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: connect %s: %v", events.ErrNoHub, a.URL, err)
	}
	return nc, nil
}

// hubDialer dials whatever address the hub's address file names at the time of the dial.
type hubDialer struct {
	path    string
	timeout time.Duration
}

func (d *hubDialer) Dial(network, _ string) (net.Conn, error) {
	a, err := ReadAddress(d.path)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(a.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: address file %s: %v", events.ErrNoHub, d.path, err)
	}
	return (&net.Dialer{Timeout: d.timeout}).Dial(network, u.Host)
}
