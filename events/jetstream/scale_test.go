package jetstream_test

// The scale simulation: how many mcpctl nodes and sessions one three-node cluster carries.
// Each simulated node does on the cluster what a hub and its CLIs do: it follows its own
// node's events and writes each session's state and its position to the KV bucket (the
// projector); each of its sessions goes through restart cycles (restart_requested,
// bridge_spawned, bridge_ready: conditional appends, as the CLI, the supervisor and the
// bridge make them), and each cycle a waiter watches the session's key until the new
// generation is ready there (what `mcpctl restart` waits on). Skipped unless -scale.nodes
// lists node counts; see docs/cluster.md, "Scale".

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
)

var (
	scaleNodes    = flag.String("scale.nodes", "", "comma-separated simulated node counts (empty: skip TestClusterScale)")
	scaleSessions = flag.Int("scale.sessions", 4, "sessions per simulated node")
	scaleCycle    = flag.Duration("scale.cycle", 4*time.Second, "mean time between two restarts of one session")
	scaleDuration = flag.Duration("scale.duration", 20*time.Second, "how long each node count runs")
)

// scaleState is what the simulated projector writes under a session's key.
type scaleState struct {
	Generation uint64 `json:"generation"`
	Status     string `json:"status"`
	Seq        uint64 `json:"seq"`
}

// scaleStats collects one round's measurements.
type scaleStats struct {
	mu       sync.Mutex
	appendL  []time.Duration // one conditional append
	readyL   []time.Duration // restart requested → the waiter's watch shows it ready
	watchL   []time.Duration // watch created → its first value (a consumer creation)
	events   atomic.Int64
	kvPuts   atomic.Int64
	cycles   atomic.Int64
	failures atomic.Int64
}

func (s *scaleStats) add(l *[]time.Duration, d time.Duration) {
	s.mu.Lock()
	*l = append(*l, d)
	s.mu.Unlock()
}

func TestClusterScale(t *testing.T) {
	if *scaleNodes == "" {
		t.Skip("-scale.nodes not set")
	}
	var counts []int
	for _, f := range strings.Split(*scaleNodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("-scale.nodes %q: %q is not a positive count", *scaleNodes, f)
		}
		counts = append(counts, n)
	}
	c := jstest.StartProcCluster(t)
	opts := jetstream.ClusterOptions{URLs: c.URLs(), Token: c.Token}
	var xs, ys []float64
	for round, n := range counts {
		w, cpu := scaleRound(t, c, opts, round, n)
		xs, ys = append(xs, w), append(ys, cpu)
	}
	if len(xs) >= 2 {
		// The servers' CPU as a line over the write rate: what one write costs, and what
		// the cluster burns idle (heartbeats, Raft, the simulated nodes' consumers).
		slope, icept := fitLine(xs, ys)
		t.Logf("servers' CPU ≈ %.3f cores + %.0f µs × replicated writes/s (least squares over %d rounds)", icept, slope*1e6, len(xs))
	}
}

// fitLine returns the least-squares line y = slope·x + icept.
func fitLine(xs, ys []float64) (slope, icept float64) {
	var sx, sy, sxx, sxy float64
	n := float64(len(xs))
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	slope = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	return slope, (sy - slope*sx) / n
}

// scaleRound runs nodes simulated nodes and returns the replicated writes per second
// (events and KV puts) and the servers' CPU in cores.
func scaleRound(t *testing.T, c *jstest.ProcCluster, opts jetstream.ClusterOptions, round, nodes int) (float64, float64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &scaleStats{}
	var wg sync.WaitGroup
	var conns []func()
	defer func() {
		for _, cl := range conns {
			cl()
		}
	}()
	for j := range nodes {
		cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
		nc, log, store, err := jetstream.ConnectCluster(cctx, opts, true)
		ccancel()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc.Close)
		node := fmt.Sprintf("r%dn%d", round, j)
		head, err := log.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The projector of this node.
		wg.Go(func() {
			err := log.Follow(ctx, events.Query{Node: node, AfterSeq: head}, func(e events.Event) error {
				status := map[events.Kind]string{events.KindCreated: "starting", events.KindRestartRequested: "starting",
					events.KindBridgeSpawned: "starting", events.KindBridgeReady: "ready"}[e.Type]
				b, _ := json.Marshal(scaleState{Generation: e.Generation, Status: status, Seq: e.Seq})
				if err := store.Put(ctx, node+"."+e.Session, b); err != nil {
					return err
				}
				if err := store.Put(ctx, "=position."+node, []byte(strconv.FormatUint(e.Seq, 10))); err != nil {
					return err
				}
				st.kvPuts.Add(2)
				return nil
			})
			if err != nil && ctx.Err() == nil {
				st.failures.Add(1)
				t.Logf("follower %s: %v", node, err)
			}
		})
		for k := range *scaleSessions {
			session := fmt.Sprintf("s%d", k)
			wg.Go(func() { scaleSession(ctx, st, log, store, node, session) })
		}
	}
	// Measure a window after every session has started its first cycle.
	time.Sleep(min(*scaleCycle, *scaleDuration/4)) // let the sessions' first cycles spread out (load, not a wait for a condition)
	cpu0 := clusterCPU(c)
	ev0, kv0, cy0 := st.events.Load(), st.kvPuts.Load(), st.cycles.Load()
	st.mu.Lock()
	st.appendL, st.readyL, st.watchL = nil, nil, nil
	st.mu.Unlock()
	start := time.Now()
	time.Sleep(*scaleDuration) // the measurement window (load runs meanwhile)
	elapsed := time.Since(start)
	cpu := clusterCPU(c) - cpu0
	ev, kv, cy := st.events.Load()-ev0, st.kvPuts.Load()-kv0, st.cycles.Load()-cy0
	cancel()
	wg.Wait()

	st.mu.Lock()
	defer st.mu.Unlock()
	offered := float64(nodes**scaleSessions) * 3 / scaleCycle.Seconds()
	t.Logf("%d nodes × %d sessions, a restart every %v per session (offered %.0f events/s):", nodes, *scaleSessions, *scaleCycle, offered)
	t.Logf("  events %.0f/s, KV puts %.0f/s, restarts %.1f/s; failures %d", float64(ev)/elapsed.Seconds(),
		float64(kv)/elapsed.Seconds(), float64(cy)/elapsed.Seconds(), st.failures.Load())
	t.Logf("  append %s; restart→ready seen in KV %s; watch creation %s", dist(st.appendL), dist(st.readyL), dist(st.watchL))
	writes := ev + kv
	if writes > 0 {
		t.Logf("  servers' CPU %.2f s of %.1f s (%.0f%% of one core); %.0f µs per replicated write (events + KV puts)",
			cpu.Seconds(), elapsed.Seconds(), 100*cpu.Seconds()/elapsed.Seconds(), float64(cpu.Microseconds())/float64(writes))
	}
	return float64(writes) / elapsed.Seconds(), cpu.Seconds() / elapsed.Seconds()
}

// scaleSession runs restart cycles of one session until ctx ends.
func scaleSession(ctx context.Context, st *scaleStats, log *jetstream.Log, store *jetstream.Store, node, session string) {
	appendTimed := func(e events.Event, last uint64) (uint64, error) {
		t0 := time.Now()
		seq, err := log.Append(ctx, e, events.After(last))
		if err == nil {
			st.add(&st.appendL, time.Since(t0))
			st.events.Add(1)
		}
		return seq, err
	}
	last, err := appendTimed(jstest.Created(node, session), 0)
	if err != nil {
		return
	}
	// Spread the first cycles over one period.
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(*scaleCycle))))
	defer timer.Stop()
	for gen := uint64(2); ; gen++ {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(time.Duration(float64(*scaleCycle) * (0.5 + rand.Float64())))
		t0 := time.Now()
		key := node + "." + session
		// The CLI: watch the key, request the restart, wait for the generation to be ready.
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		updates, err := store.Watch(wctx, key)
		if err != nil {
			wcancel()
			st.failures.Add(1)
			continue
		}
		ok := func() bool {
			seq, err := appendTimed(events.New(events.KindRestartRequested, node, session, gen), last)
			if err != nil {
				return false
			}
			spawned := events.New(events.KindBridgeSpawned, node, session, gen)
			spawned.PID = 1
			if seq, err = appendTimed(spawned, seq); err != nil {
				return false
			}
			if seq, err = appendTimed(events.New(events.KindBridgeReady, node, session, gen), seq); err != nil {
				return false
			}
			last = seq
			first := true
			for v := range updates {
				if first {
					st.add(&st.watchL, time.Since(t0))
					first = false
				}
				var s scaleState
				if json.Unmarshal(v, &s) == nil && s.Generation == gen && s.Status == "ready" {
					st.add(&st.readyL, time.Since(t0))
					return true
				}
			}
			return false
		}()
		wcancel()
		if ctx.Err() != nil {
			return
		}
		if !ok {
			st.failures.Add(1)
			// Re-read where the session is, as a CLI that lost a race would.
			if s, err := log.LastSeq(ctx, node, session); err == nil {
				last = s
			}
			continue
		}
		st.cycles.Add(1)
	}
}

func clusterCPU(c *jstest.ProcCluster) time.Duration {
	var sum time.Duration
	for i := range jstest.Size {
		sum += c.CPU(i)
	}
	return sum
}
