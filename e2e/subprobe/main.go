// Command subprobe is a durable subscriber for the e2e tests: it follows one session's
// events with a file checkpoint and appends each event, as JSON, to a file (synced) before
// the checkpoint moves past it. The tests SIGKILL it and start it again.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/subscribe"
)

func main() {
	home := flag.String("home", "", "MCPCTL_HOME of the hub")
	node := flag.String("node", "", "node")
	session := flag.String("session", "", "session to follow")
	checkpoint := flag.String("checkpoint", "", "checkpoint file")
	out := flag.String("out", "", "file to append events to")
	flag.Parse()
	if err := run(*home, *node, *session, *checkpoint, *out); err != nil && err != context.Canceled {
		fmt.Fprintln(os.Stderr, "subprobe:", err)
		os.Exit(1)
	}
}

func run(home, node, session, checkpoint, out string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := subscribe.Connect(ctx, subscribe.Config{Home: home, Node: node})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("subscribed") // the test waits for this line
	return c.Subscribe(ctx, subscribe.Subscription{
		Filter:     subscribe.Filter{Node: node, Sessions: []string{session}},
		Start:      subscribe.FromBeginning(),
		Checkpoint: &subscribe.FileCheckpoint{Path: checkpoint},
	}, func(ctx context.Context, e events.Event) error {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, err := f.Write(append(b, '\n')); err != nil {
			return err
		}
		return f.Sync()
	})
}
