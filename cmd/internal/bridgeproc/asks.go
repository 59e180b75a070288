package bridgeproc

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpctl/mcpctl/bridge"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/events"
)

// askQueue bounds the server_asked events a bridge holds while the log is slow: a server
// that asks in a loop costs dropped records (counted, logged), never a blocked answer.
const askQueue = 256

// askRecorder appends a server_asked event for each ask, off the answer's path.
type askRecorder struct {
	log     events.Log
	node    string
	session string
	gen     uint64
	logger  *slog.Logger
	ch      chan bridge.AskRecord
	dropped atomic.Int64
	wg      sync.WaitGroup
	once    sync.Once
}

func newAskRecorder(log events.Log, node, session string, gen uint64, logger *slog.Logger) *askRecorder {
	r := &askRecorder{log: log, node: node, session: session, gen: gen, logger: logger, ch: make(chan bridge.AskRecord, askQueue)}
	r.wg.Add(1)
	go r.loop()
	return r
}

// Record queues an ask's outcome; it never blocks.
func (r *askRecorder) Record(a bridge.AskRecord) {
	select {
	case r.ch <- a:
	default:
		if r.dropped.Add(1)%100 == 1 {
			r.logger.Warn("server_asked queue full: dropping", "dropped", r.dropped.Load())
		}
	}
}

// askEvent is the server_asked event of one ask: method, action, time taken, and why it
// failed, never the values.
func askEvent(node, session string, gen uint64, a bridge.AskRecord) events.Event {
	e := events.New(events.KindServerAsked, node, session, gen)
	e.PID = os.Getpid()
	e.Method, e.Action, e.Error = a.Method, a.Action, a.Error
	if a.By == bridge.AskByCaller {
		e.Reason = "answered by the caller"
	}
	e.DurationMS = a.Duration.Milliseconds()
	if e.DurationMS == 0 && a.Duration > 0 {
		e.DurationMS = 1 // it took time: not "omitted"
	}
	return e
}

func (r *askRecorder) loop() {
	defer r.wg.Done()
	for a := range r.ch {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, err := r.log.Append(ctx, askEvent(r.node, r.session, r.gen, a), events.Unconditional()); err != nil {
			r.logger.Warn("record server_asked", "method", a.Method, "err", err)
		}
		cancel()
	}
}

// Close flushes what is queued and stops.
func (r *askRecorder) Close() {
	r.once.Do(func() { close(r.ch) })
	r.wg.Wait()
}

// askPolicy is the bridge's policy from the session's (the created event's) and the
// elicitation content in its secrets file.
func askPolicy(s *events.AskPolicy, sec homedir.Secrets) bridge.AskPolicy {
	var p bridge.AskPolicy
	if s != nil {
		p.Elicit, p.Roots, p.SamplingCommand = s.Elicit, s.Roots, s.SamplingCommand
	}
	if p.Elicit == events.ElicitContent {
		p.ElicitContent = sec.ElicitContent
	}
	return p
}
