package subscribe_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/subscribe"
)

// A subscriber that restarts a session whenever its server is lost, and resumes where it
// stopped after its own crash. The checkpoint makes delivery at least once: an event whose
// handling was interrupted is delivered again, and Restart is safe to repeat (a second
// request for the same generation joins the first).
func Example() {
	ctx := context.Background()
	c, err := subscribe.Connect(ctx, subscribe.Config{Home: os.Getenv("MCPCTL_HOME")})
	if err != nil {
		log.Fatal(err) // e.g. "no hub running in …: start one with: mcpctl hub start"
	}
	defer c.Close()

	sub := subscribe.Subscription{
		Filter:     subscribe.Filter{Sessions: []string{"docs"}, Kinds: []events.Kind{events.KindServerLost}},
		Start:      subscribe.New(),
		Checkpoint: &subscribe.FileCheckpoint{Path: filepath.Join(os.TempDir(), "docs-watcher.seq")},
	}
	err = c.Subscribe(ctx, sub, func(ctx context.Context, e events.Event) error {
		s, started, err := c.Restart(ctx, e.Session, fmt.Sprintf("watcher: server lost at seq %d", e.Seq))
		if err != nil {
			return err
		}
		fmt.Printf("seq %d: @%s generation %d (started by us: %v)\n", e.Seq, e.Session, s.Generation, started)
		return nil
	})
	log.Fatal(err)
}
