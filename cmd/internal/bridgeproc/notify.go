package bridgeproc

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpctl/mcpctl/events/jetstream"
)

// notifyQueue bounds the notifications a bridge holds while the log is slow: a server that
// floods notifications costs it drops (counted, logged), never unbounded memory.
const notifyQueue = 1024

// notifyPublisher copies a bridge's server notifications to the notifications stream, off
// the upstream's reader goroutine.
type notifyPublisher struct {
	log     *jetstream.Log
	node    string
	session string
	logger  *slog.Logger
	ch      chan notification
	dropped atomic.Int64
	wg      sync.WaitGroup
	once    sync.Once
}

type notification struct {
	method string
	params json.RawMessage
}

func newNotifyPublisher(log *jetstream.Log, node, session string, logger *slog.Logger) *notifyPublisher {
	p := &notifyPublisher{log: log, node: node, session: session, logger: logger, ch: make(chan notification, notifyQueue)}
	p.wg.Add(1)
	go p.loop()
	return p
}

// Publish queues a notification; it never blocks.
func (p *notifyPublisher) Publish(method string, params json.RawMessage) {
	select {
	case p.ch <- notification{method, append(json.RawMessage(nil), params...)}:
	default:
		if p.dropped.Add(1)%100 == 1 {
			p.logger.Warn("notification queue full: dropping", "dropped", p.dropped.Load())
		}
	}
}

func (p *notifyPublisher) loop() {
	defer p.wg.Done()
	for n := range p.ch {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, err := p.log.PublishNotification(ctx, p.node, p.session, n.method, n.params); err != nil {
			p.logger.Warn("publish notification", "method", n.method, "err", err)
		}
		cancel()
	}
}

// Close flushes what is queued and stops.
func (p *notifyPublisher) Close() {
	p.once.Do(func() { close(p.ch) })
	p.wg.Wait()
}
