package bridgeproc

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// callStatsPeriod is how often a bridge that served calls publishes their figures.
const callStatsPeriod = time.Minute

// callStatsRecorder counts the calls a bridge forwards and how long they took, and
// publishes the figures (events.CallStats) as a notification once a period in which there
// were calls, and when it closes. Record is on every call's path: a lock, a binary search
// over 14 bounds and three additions, no allocation.
type callStatsRecorder struct {
	publish func(method string, params json.RawMessage)
	now     func() time.Time

	mu  sync.Mutex
	cur events.CallStats

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newCallStatsRecorder(period time.Duration, publish func(method string, params json.RawMessage)) *callStatsRecorder {
	r := &callStatsRecorder{publish: publish, now: time.Now, stop: make(chan struct{})}
	r.cur = events.NewCallStats(r.now())
	if period > 0 {
		r.wg.Add(1)
		go r.loop(period)
	}
	return r
}

// Record counts one call (bridge.Config.OnCall).
func (r *callStatsRecorder) Record(_ string, took time.Duration, err error) {
	r.mu.Lock()
	r.cur.Add(took, err != nil)
	r.mu.Unlock()
}

func (r *callStatsRecorder) loop(period time.Duration) {
	defer r.wg.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.flush()
		case <-r.stop:
			return
		}
	}
}

// flush publishes the period's figures, if there were calls, and starts the next period.
func (r *callStatsRecorder) flush() {
	now := r.now()
	r.mu.Lock()
	c := r.cur
	r.cur = events.NewCallStats(now)
	r.mu.Unlock()
	if c.Calls == 0 {
		return
	}
	c.Period = now.Sub(c.Start)
	b, err := json.Marshal(c)
	if err != nil {
		return // a struct of numbers and a time: cannot fail
	}
	r.publish(events.CallStatsMethod, b)
}

// Close stops the clock and publishes what the last period counted.
func (r *callStatsRecorder) Close() {
	r.once.Do(func() {
		close(r.stop)
		r.wg.Wait()
		r.flush()
	})
}
