// Command crashwatch is an example subscriber of mcpctl's event log: it raises an alert
// whenever a session crashes N times (default 2) within a window (default one minute),
// by appending a JSON line to a file or POSTing it to a webhook.
//
//	crashwatch --out alerts.jsonl
//	crashwatch --webhook http://127.0.0.1:8080/hook --session docs --checkpoint ~/.crashwatch.seq
//
// A crash is what mcpctl's projector counts as one: the bridge or the MCP server of a
// session's current generation died without anybody asking (server_lost, spawn_failed, or a
// bridge_exited while the session was live). crashwatch folds every event with
// projector.Apply, so it agrees with `mcpctl sessions` on what happened.
//
// On start it replays the log to rebuild each session's state and raises alerts only for
// crashes after its checkpoint (with --checkpoint) or after its start. Alerts are delivered
// at least once: after a crash of crashwatch itself an alert may repeat; its "seq" (the
// sequence of the crash event that completed it) identifies it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/backoff"
	"github.com/mcpctl/mcpctl/events/subscribe"
	"github.com/mcpctl/mcpctl/projector"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "crashwatch:", err)
		os.Exit(1)
	}
}

// Alert is what crashwatch writes or posts, one JSON object per alert.
type Alert struct {
	Node    string    `json:"node"`
	Session string    `json:"session"`
	Crashes int       `json:"crashes"` // crashes within the window, this one included
	Window  string    `json:"window"`
	Seq     uint64    `json:"seq"`  // the crash event that completed the alert: its identity
	Time    time.Time `json:"time"` // when that crash happened
	// FirstSeq and FirstTime are the first crash of the window.
	FirstSeq   uint64    `json:"first_seq"`
	FirstTime  time.Time `json:"first_time"`
	Generation uint64    `json:"generation"`
	Error      string    `json:"error,omitempty"`
}

type options struct {
	home, url, token, out, webhook, checkpoint string
	sessions                                   stringList
	crashes                                    int
	window                                     time.Duration
}

type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("crashwatch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.home, "home", os.Getenv("MCPCTL_HOME"), "mcpctl home whose hub to watch (default $MCPCTL_HOME, else ~/.mcpctl)")
	fs.StringVar(&o.url, "nats-url", "", "an external NATS server instead of a home's hub")
	fs.StringVar(&o.token, "token", os.Getenv("MCPCTL_NATS_TOKEN"), "token for --nats-url")
	fs.StringVar(&o.out, "out", "", "append alerts as JSON lines to this file")
	fs.StringVar(&o.webhook, "webhook", "", "POST each alert as JSON to this URL")
	fs.StringVar(&o.checkpoint, "checkpoint", "", "file keeping the last sequence handled, to resume after a restart")
	fs.Var(&o.sessions, "session", "watch only this session (repeat for several; default: all)")
	fs.IntVar(&o.crashes, "crashes", 2, "alert at this many crashes…")
	fs.DurationVar(&o.window, "within", time.Minute, "…within this long")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.out == "" && o.webhook == "":
		return o, errors.New("say where alerts go: --out FILE or --webhook URL")
	case o.crashes < 1 || o.window <= 0:
		return o, errors.New("--crashes must be at least 1 and --within positive")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	c, err := subscribe.Connect(ctx, subscribe.Config{Home: o.home, URL: o.url, Token: o.token})
	if err != nil {
		return err
	}
	defer c.Close()

	// Alerts are raised for crashes after this sequence; everything up to it only rebuilds
	// the state (a crash window can begin before a restart of crashwatch).
	var quietUntil uint64
	var cp *subscribe.FileCheckpoint
	if o.checkpoint != "" {
		cp = &subscribe.FileCheckpoint{Path: o.checkpoint}
	}
	seq, ok, err := loadCheckpoint(cp)
	if err != nil {
		return err
	}
	if ok {
		quietUntil = seq
	} else if quietUntil, err = c.Head(ctx); err != nil {
		return err
	}
	w := &watcher{o: o, sessions: map[string]*tracked{}, send: sender(o)}
	sub := subscribe.Subscription{Filter: subscribe.Filter{Sessions: o.sessions}}
	return c.Subscribe(ctx, sub, func(ctx context.Context, e events.Event) error {
		if a := w.apply(e); a != nil && e.Seq > quietUntil {
			if err := w.send(ctx, *a); err != nil {
				return err
			}
		}
		if cp != nil && e.Seq > quietUntil {
			return cp.Save(e.Seq)
		}
		return nil
	})
}

func loadCheckpoint(cp *subscribe.FileCheckpoint) (uint64, bool, error) {
	if cp == nil {
		return 0, false, nil
	}
	return cp.Load()
}

// watcher folds events per session and remembers recent crash times.
type watcher struct {
	o        options
	sessions map[string]*tracked
	send     func(context.Context, Alert) error
}

type tracked struct {
	state   projector.Session
	crashes []events.Event // the crash events within the window, oldest first
}

// apply folds e and returns an alert when e is the crash that reaches the threshold. The
// window then starts over: the next alert needs as many new crashes.
func (w *watcher) apply(e events.Event) *Alert {
	key := projector.Key(e.Node, e.Session)
	t := w.sessions[key]
	if t == nil {
		t = &tracked{}
		w.sessions[key] = t
	}
	before := t.state.Crashes
	t.state = projector.Apply(t.state, e)
	if t.state.Crashes < before { // re-created: a new life
		t.crashes = nil
	}
	if t.state.Crashes <= before {
		return nil
	}
	kept := t.crashes[:0]
	for _, c := range t.crashes {
		if e.Time.Sub(c.Time) < w.o.window {
			kept = append(kept, c)
		}
	}
	t.crashes = append(kept, e)
	if len(t.crashes) < w.o.crashes {
		return nil
	}
	first := t.crashes[0]
	a := &Alert{Node: e.Node, Session: e.Session, Crashes: len(t.crashes), Window: w.o.window.String(),
		Seq: e.Seq, Time: e.Time, FirstSeq: first.Seq, FirstTime: first.Time, Generation: e.Generation,
		Error: t.state.Error}
	t.crashes = nil
	return a
}

// sender returns the function that delivers an alert where the options say.
func sender(o options) func(context.Context, Alert) error {
	return func(ctx context.Context, a Alert) error {
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if o.out != "" {
			if err := appendLine(o.out, b); err != nil {
				return err
			}
		}
		if o.webhook != "" {
			return post(ctx, o.webhook, b)
		}
		return nil
	}
}

func appendLine(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// post delivers one alert, retrying a few times; if the webhook stays down, crashwatch
// stops with an error and, with a checkpoint, delivers the alert again when restarted.
func post(ctx context.Context, url string, body []byte) error {
	var last error
	pause := backoff.New(400*time.Millisecond, 3200*time.Millisecond)
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			if err := pause.Wait(ctx); err != nil {
				return err
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			cancel()
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				cancel()
				return nil
			}
			err = fmt.Errorf("webhook %s: %s", url, resp.Status)
		}
		cancel()
		last = err
	}
	return last
}
