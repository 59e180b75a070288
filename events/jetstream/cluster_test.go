package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// TestCluster_ConfigIsTheComposeConfig fails when the loopback cluster the tests run and the
// three containers of docker-compose.yml would run differ in anything but addresses, ports,
// directories, names and the token.
func TestCluster_ConfigIsTheComposeConfig(t *testing.T) {
	path, err := jstest.FindCompose()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := jstest.ComposeNATSConf(data)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	nodes := []jstest.Node{
		{Name: "nats-1", ClientPort: 14222, HTTPPort: 18222, ClusterPort: 16222, StoreDir: filepath.Join(dir, "1")},
		{Name: "nats-2", ClientPort: 14223, HTTPPort: 18223, ClusterPort: 16223, StoreDir: filepath.Join(dir, "2")},
		{Name: "nats-3", ClientPort: 14224, HTTPPort: 18224, ClusterPort: 16224, StoreDir: filepath.Join(dir, "3")},
	}
	loop, err := jstest.LoopbackConf(conf, nodes, 0, "t")
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := jstest.DriftReport(conf, loop, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("the test cluster drifted from docker-compose.yml: %s", d)
	}
	// The comparison can fail: a setting changed on the way is reported.
	mutated := strings.Replace(loop, "sync_interval: always", "sync_interval: 2m", 1)
	if diffs, err := jstest.DriftReport(conf, mutated, dir); err != nil || len(diffs) == 0 {
		t.Errorf("DriftReport of a test config without sync always = %v, %v; want a difference", diffs, err)
	}
	// What the external mode relies on, as the containers load it.
	p := filepath.Join(dir, "node.conf")
	if err := os.WriteFile(p, []byte(loop), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := server.ProcessConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !o.JetStream || !o.SyncAlways {
		t.Errorf("compose nats.conf: jetstream %v, sync always %v; want both (an acknowledged event survives a crash)", o.JetStream, o.SyncAlways)
	}
	if o.Authorization != "t" {
		t.Errorf("compose nats.conf: token %q, want the NATS_TOKEN variable", o.Authorization)
	}
	if o.Cluster.Name != "mcpctl" || len(o.Routes) != jstest.Size {
		t.Errorf("compose nats.conf: cluster %q with %d routes, want mcpctl with %d", o.Cluster.Name, len(o.Routes), jstest.Size)
	}
	if o.ServerName != "nats-1" {
		t.Errorf("server name %q, want nats-1 from NATS_NAME", o.ServerName)
	}
}

func TestComposeNATSConf_RejectsAFileWithoutTheBlock(t *testing.T) {
	for name, doc := range map[string]string{
		"no configs":  "services:\n  a:\n    image: x\n",
		"no content":  "configs:\n  nats.conf:\n    file: ./nats.conf\nservices: {}\n",
		"other entry": "configs:\n  other.conf:\n    content: |\n      port: 1\n",
	} {
		if _, err := jstest.ComposeNATSConf([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func clusterOpts(c *jstest.Cluster) jetstream.ClusterOptions {
	return jetstream.ClusterOptions{URLs: c.URLs(), Token: c.Token}
}

func connect(t testing.TB, c *jstest.Cluster, longLived bool) *jetstream.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, log, _, err := jetstream.ConnectCluster(ctx, clusterOpts(c), longLived)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return log
}

func TestCluster_StreamsHaveThreeReplicasAndAppendsAreConditional(t *testing.T) {
	c := jstest.StartCluster(t)
	log := connect(t, c, false)
	ctx := context.Background()
	info, err := log.JetStream().Stream(ctx, events.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if r := info.CachedInfo().Config.Replicas; r != 3 {
		t.Errorf("events stream replicas = %d, want 3", r)
	}
	kv, err := log.JetStream().KeyValue(ctx, events.SessionBucket)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := kv.Status(ctx); st.(*njs.KeyValueBucketStatus).StreamInfo().Config.Replicas != 3 {
		t.Errorf("session bucket is not replicated 3 times")
	}
	created := events.New(events.KindCreated, "na", "s", 1)
	created.Server = &events.Server{Transport: events.TransportStdio, Command: "x"}
	seq, err := log.Append(ctx, created, events.After(0))
	if err != nil {
		t.Fatal(err)
	}
	// 16 writers expecting the same sequence: exactly one wins, the others get ErrConflict.
	var wins, conflicts int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, err := log.Append(ctx, events.New(events.KindRestartRequested, "na", "s", 2), events.After(seq))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, events.ErrConflict):
				conflicts++
			default:
				t.Errorf("append: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || conflicts != 15 {
		t.Errorf("16 conditional appends on the cluster: %d won, %d conflicts; want 1 and 15", wins, conflicts)
	}
}

// ack is one acknowledged conditional append.
type ack struct{ seq, expected uint64 }

// TestCluster_LeaderLossDuringConditionalAppends kills the node that leads the events stream
// while writers race conditional appends on one session: appends go on after the election,
// every acknowledged event is in the log, and each one directly follows the event its
// writer expected (no two writers won the same compare-and-set).
func TestCluster_LeaderLossDuringConditionalAppends(t *testing.T) {
	c := jstest.StartCluster(t)
	log := connect(t, c, true)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	created := events.New(events.KindCreated, "na", "storm", 1)
	created.Server = &events.Server{Transport: events.TransportStdio, Command: "x"}
	if _, err := log.Append(ctx, created, events.After(0)); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		acks     []ack
		afterKil int
		killed   = make(chan struct{})
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				last, err := log.LastSeq(ctx, "na", "storm")
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					continue
				}
				e := events.New(events.KindRestartRequested, "na", "storm", last)
				e.Reason = fmt.Sprintf("writer %d", w)
				seq, err := log.Append(ctx, e, events.After(last))
				if err != nil {
					if !errors.Is(err, events.ErrConflict) && ctx.Err() == nil {
						t.Logf("append (retried by the writer): %v", err)
					}
					continue
				}
				mu.Lock()
				acks = append(acks, ack{seq, last})
				select {
				case <-killed:
					afterKil++
				default:
				}
				mu.Unlock()
			}
		})
	}
	testwait.For(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acks) < 20 {
			return fmt.Errorf("%d appends acknowledged, want 20 before the kill", len(acks))
		}
		return nil
	})
	leader := -1
	for i, s := range c.Servers {
		if s != nil && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, events.EventsStream) {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no node leads the events stream")
	}
	c.Stop(leader)
	close(killed)
	start := time.Now()
	testwait.For(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if afterKil < 20 {
			return fmt.Errorf("%d appends acknowledged since the leader was killed, want 20", afterKil)
		}
		return nil
	})
	t.Logf("node %d (stream leader) killed; 20 acknowledged appends after %s", leader+1, time.Since(start).Round(time.Millisecond))
	close(stop)
	wg.Wait()

	// Every acknowledged event is in the log, right after the event its writer expected.
	var stored []events.Event
	if err := log.Read(ctx, events.Query{Node: "na", Session: "storm"}, func(e events.Event) error {
		stored = append(stored, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	prev := map[uint64]uint64{}
	for i, e := range stored {
		if i > 0 {
			prev[e.Seq] = stored[i-1].Seq
		}
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i].seq < acks[j].seq })
	for i, a := range acks {
		p, ok := prev[a.seq]
		if !ok {
			t.Errorf("acknowledged event %d is not in the log", a.seq)
			continue
		}
		if p != a.expected {
			t.Errorf("event %d follows %d, but its writer expected %d", a.seq, p, a.expected)
		}
		if i > 0 && acks[i-1].seq == a.seq {
			t.Errorf("two writers acknowledged with sequence %d", a.seq)
		}
	}
	if len(stored)-1 != len(acks) {
		t.Logf("%d events stored, %d acknowledged (an append whose ack was lost is stored once)", len(stored)-1, len(acks))
	}
}
