package jetstream_test

// The leader-loss measurement: what a client sees when the node leading the JetStream meta
// group or the events stream dies (SIGKILL, nodes in processes of their own) while appends
// run. By default two kills, asserting that every kind of client recovers; with
// -leaderloss.kills=20 -v it prints the distribution (docs/cluster.md, "Leader loss").

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

var leaderLossKills = flag.Int("leaderloss.kills", 0, "nodes the leader-loss test kills (one after another; 0: skip the measurement)")

// Clients of the measurement, each with its own connection (or, for the CLI, a new one per
// operation) and its own session, so that every append is expected to succeed.
const (
	llWriters = 4 // long-lived connections appending (hubs, bridges)
	llCLIs    = 2 // a fresh connection per append (the CLI)
	// llRecover bounds the wait for every client's next success after a kill: longer means
	// appends never recovered.
	llRecover = 90 * time.Second
)

// The streams whose leaders the measurement follows, and their short names.
var (
	llStreams     = []string{events.EventsStream, "KV_" + events.SessionBucket}
	llStreamNames = []string{"events", "kv"}
)

// llClock records when each client last succeeded.
type llClock struct {
	mu   sync.Mutex
	done [][]time.Time // per client, completion times
	errs map[string]int
}

func newLLClock(n int) *llClock {
	return &llClock{done: make([][]time.Time, n), errs: map[string]int{}}
}

func (c *llClock) ok(i int, at time.Time) {
	c.mu.Lock()
	c.done[i] = append(c.done[i], at)
	c.mu.Unlock()
}

func (c *llClock) failed(err error) {
	c.mu.Lock()
	c.errs[err.Error()]++
	c.mu.Unlock()
}

// firstAfter returns, per client, the time from t0 to its first success after t0 (false
// when one has none yet).
func (c *llClock) firstAfter(t0 time.Time) ([]time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, len(c.done))
	for i, ts := range c.done {
		k, _ := slices.BinarySearchFunc(ts, t0, func(a, b time.Time) int { return a.Compare(b) })
		for k < len(ts) && !ts[k].After(t0) {
			k++
		}
		if k == len(ts) {
			return nil, false
		}
		out[i] = ts[k].Sub(t0)
	}
	return out, true
}

// successesSince counts each client's successes after t.
func (c *llClock) successesSince(t time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	least := -1
	for _, ts := range c.done {
		n := 0
		for _, x := range ts {
			if x.After(t) {
				n++
			}
		}
		if least < 0 || n < least {
			least = n
		}
	}
	return least
}

// llKill is what one kill cost each kind of client.
type llKill struct {
	node         int
	role         string
	writers, cli []time.Duration
	follow       time.Duration
	// elected: from the kill until the survivors report new leaders of the meta group,
	// the events stream and the session bucket (the servers' part; what comes after it is the clients').
	elected time.Duration
}

func TestLeaderLoss(t *testing.T) {
	kills := *leaderLossKills
	if kills <= 0 {
		t.Skip("a measurement of minutes: run it with -leaderloss.kills=N (docs/cluster.md, \"Leader loss\")")
	}
	c := jstest.StartProcCluster(t)
	opts := jetstream.ClusterOptions{URLs: c.URLs(), Token: c.Token}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	connect := func(longLived bool) (*jetstream.Log, func(), error) {
		cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
		defer ccancel()
		nc, log, _, err := jetstream.ConnectCluster(cctx, opts, longLived)
		if err != nil {
			return nil, nil, err
		}
		return log, nc.Close, nil
	}
	// appendOnce is one conditional append, as a restart request is made: the session's
	// last sequence, then an append expecting it.
	appendOnce := func(log *jetstream.Log, session string, gen uint64) error {
		actx, acancel := context.WithTimeout(ctx, 60*time.Second)
		defer acancel()
		last, err := log.LastSeq(actx, "ll", session)
		if err != nil {
			return err
		}
		e := events.New(events.KindRestartRequested, "ll", session, gen)
		if last == 0 {
			e = jstest.Created("ll", session)
		}
		_, err = log.Append(actx, e, events.After(last))
		return err
	}

	writers, clis, follow := newLLClock(llWriters), newLLClock(llCLIs), newLLClock(1)
	var followed sync.Map // seq → time received, for the follower's measure
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for w := range llWriters {
		log, closeConn, err := connect(true)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer closeConn()
			for gen := uint64(2); ctx.Err() == nil; gen++ {
				if err := appendOnce(log, fmt.Sprintf("w%d", w), gen); err != nil {
					if ctx.Err() == nil {
						writers.failed(err)
					}
					continue
				}
				writers.ok(w, time.Now())
			}
		})
	}
	for k := range llCLIs {
		wg.Go(func() {
			for gen := uint64(2); ctx.Err() == nil; gen++ {
				log, closeConn, err := connect(false)
				if err != nil {
					if ctx.Err() == nil {
						clis.failed(err)
					}
					continue
				}
				err = appendOnce(log, fmt.Sprintf("cli%d", k), gen)
				closeConn()
				if err != nil {
					if ctx.Err() == nil {
						clis.failed(err)
					}
					continue
				}
				clis.ok(k, time.Now())
			}
		})
	}
	flog, fclose, err := connect(true)
	if err != nil {
		t.Fatal(err)
	}
	head, err := flog.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The follower does what the projector's loop does: follow from its position, and
	// after a failure start over from there, RetryInterval later.
	wg.Go(func() {
		defer fclose()
		pos := head
		for ctx.Err() == nil {
			err := flog.Follow(ctx, events.Query{Node: "ll", AfterSeq: pos}, func(e events.Event) error {
				now := time.Now()
				followed.Store(e.Seq, now)
				follow.ok(0, now)
				pos = e.Seq
				return nil
			})
			if ctx.Err() != nil {
				return
			}
			follow.failed(err)
			t.Logf("follower: %v (following again after %v)", err, projector.DefaultRetryInterval)
			select {
			case <-ctx.Done():
			case <-time.After(projector.DefaultRetryInterval):
			}
		}
	})
	headAt := func() uint64 {
		var max uint64
		followed.Range(func(k, _ any) bool { max = maxU(max, k.(uint64)); return true })
		return max
	}

	var results []llKill
	for k := range kills {
		// Steady state first: every client succeeded a few times since the cluster was whole.
		whole := time.Now()
		testwait.For(t, llRecover, func() error {
			if n := min(writers.successesSince(whole), clis.successesSince(whole), follow.successesSince(whole)); n < 3 {
				return fmt.Errorf("clients succeeded only %d times since the cluster was whole", n)
			}
			return nil
		})
		meta, ls, err := c.Leaders(llStreams...)
		if err != nil {
			t.Fatal(err)
		}
		// Even kills take the meta leader, odd ones the events stream's leader; the role
		// says what else the node led.
		target := meta
		if k%2 == 1 {
			target = ls[0]
		}
		var roles []string
		if target == meta {
			roles = append(roles, "meta")
		}
		for i, l := range ls {
			if l == target {
				roles = append(roles, llStreamNames[i])
			}
		}
		role := strings.Join(roles, "+")
		seen := headAt()
		c.Kill(target)
		t0 := time.Now()
		r := llKill{node: target + 1, role: role}
		testwait.For(t, llRecover, func() error {
			m, ls, err := c.Leaders(llStreams...)
			if err != nil || m == target || slices.Contains(ls, target) {
				return fmt.Errorf("no new leaders yet (meta %d, streams %v): %v", m, ls, err)
			}
			r.elected = time.Since(t0)
			return nil
		})
		waitRecovered(t, func() error {
			var ok bool
			if r.writers, ok = writers.firstAfter(t0); !ok {
				return errors.New("a writer has not appended since the kill")
			}
			if r.cli, ok = clis.firstAfter(t0); !ok {
				return errors.New("a CLI has not appended since the kill")
			}
			// The follower: the first event appended after the kill that it receives.
			var first time.Time
			followed.Range(func(k, v any) bool {
				if k.(uint64) > seen && (first.IsZero() || v.(time.Time).Before(first)) && v.(time.Time).After(t0) {
					first = v.(time.Time)
				}
				return true
			})
			if first.IsZero() {
				return errors.New("the follower has received nothing appended since the kill")
			}
			r.follow = first.Sub(t0)
			return nil
		})
		results = append(results, r)
		t.Logf("kill %d: node %d (%s): leaders elected after %v; writers %v, CLIs %v, follower %v", k+1, r.node, r.role,
			r.elected.Round(time.Millisecond), roundAll(r.writers), roundAll(r.cli), r.follow.Round(time.Millisecond))
		c.Start(target)
		for i := range jstest.Size {
			c.WaitHealthy(i, llRecover)
		}
	}
	cancel()
	wg.Wait()

	var w, cl, worstW, worstC, fo, el, lagW, lagC []time.Duration
	for _, r := range results {
		el = append(el, r.elected)
		lagW = append(lagW, slices.Max(r.writers)-r.elected)
		lagC = append(lagC, slices.Max(r.cli)-r.elected)
		w = append(w, r.writers...)
		cl = append(cl, r.cli...)
		worstW = append(worstW, slices.Max(r.writers))
		worstC = append(worstC, slices.Max(r.cli))
		fo = append(fo, r.follow)
	}
	t.Logf("%d kills; time from the kill to each client's next success:", len(results))
	t.Logf("  writer (long-lived connection): %s; worst writer per kill: %s", dist(w), dist(worstW))
	t.Logf("  CLI (connection per append):    %s; worst CLI per kill: %s", dist(cl), dist(worstC))
	t.Logf("  follower (first event appended after the kill): %s", dist(fo))
	t.Logf("  leaders elected (survivors' /jsz): %s", dist(el))
	t.Logf("  after the election, worst writer: %s; worst CLI: %s", dist(lagW), dist(lagC))
	for _, ck := range []struct {
		name string
		c    *llClock
	}{{"writers", writers}, {"CLIs", clis}, {"follower", follow}} {
		for msg, n := range ck.c.errs {
			t.Logf("  %s failed %d× (then went on): %s", ck.name, n, msg)
		}
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// dist prints the distribution of ds: n, p50, p90 and the worst.
func dist(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[int(p*float64(len(s)-1)+0.5)].Round(10 * time.Millisecond) }
	return fmt.Sprintf("n=%d p50 %v p90 %v max %v", len(s), at(0.5), at(0.9), s[len(s)-1].Round(10*time.Millisecond))
}

// waitRecovered polls cond until it holds; when llRecover passes first, the test fails and
// the goroutines' stacks go to a file, to show where a client hangs.
func waitRecovered(t *testing.T, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(llRecover)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			path := filepath.Join(os.TempDir(), fmt.Sprintf("leaderloss-goroutines-%d.txt", os.Getpid()))
			if f, ferr := os.Create(path); ferr == nil {
				_ = pprof.Lookup("goroutine").WriteTo(f, 2)
				f.Close()
			}
			t.Fatalf("not recovered %s after the kill: %v (goroutines in %s)", llRecover, err, path)
		}
		<-tick.C
	}
}
