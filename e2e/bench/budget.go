package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/projector"
)

// budgetStep is one step of the warm call, timed in this process.
type budgetStep struct {
	Step    string
	Samples []float64
}

// budget times, in-process, each step a warm `mcpctl @s tools-list` takes after its
// process has started: the files, the NATS handshake, the JetStream lookups, the KV get,
// and the request on the bridge socket. What the CLI adds on top (process start, package
// init, cobra, output) is the difference to the measured CLI call.
func (b *bench) budget(ctx context.Context, session string) ([]budgetStep, error) {
	_, sock, node, err := mcpctlSession(ctx, b.tools[0], session)
	if err != nil {
		return nil, err
	}
	names := []string{"read hub.json + token", "NATS connect (handshake)", "jetstream.NewLog (stream info)",
		"jetstream.OpenStore (KV bucket info)", "KV get of the session state", "unix dial + tools/list on the bridge"}
	steps := make([]budgetStep, len(names))
	for i, n := range names {
		steps[i].Step = n
	}
	for range b.c.warm {
		t := time.Now()
		lap := func(i int) {
			now := time.Now()
			steps[i].Samples = append(steps[i].Samples, ms(now.Sub(t)))
			t = now
		}
		tok, err := jetstream.LoadOrCreateToken(filepath.Join(b.env.MCPCTLHome, "hub.token"))
		if err != nil {
			return nil, err
		}
		addr, err := jetstream.ReadAddress(filepath.Join(b.env.MCPCTLHome, "hub.json"))
		if err != nil {
			return nil, err
		}
		lap(0)
		nc, err := jetstream.Dial(ctx, addr.URL, tok)
		if err != nil {
			return nil, err
		}
		lap(1)
		log, err := jetstream.NewLog(ctx, nc)
		if err != nil {
			nc.Close()
			return nil, err
		}
		lap(2)
		st, err := jetstream.OpenStore(ctx, log.JetStream())
		if err != nil {
			nc.Close()
			return nil, err
		}
		lap(3)
		if _, err := st.Get(ctx, projector.Key(node, session)); err != nil {
			nc.Close()
			return nil, fmt.Errorf("kv get: %w", err)
		}
		lap(4)
		nc.Close()
		t = time.Now()
		if err := rawRequest(ctx, "mcpctl", sock, "list"); err != nil {
			return nil, err
		}
		lap(5)
	}
	return steps, nil
}
