package e2e

// External mode on a real three-node JetStream cluster on loopback, configured from
// docker-compose.yml's nats.conf (events/jetstream/jstest): the race scenarios, a NATS node
// killed during a restart storm, two mcpctl nodes sharing the cluster, and NATS permissions
// guarding remote calls.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

// cnode is one mcpctl node (a home and a node name) in external mode.
type cnode struct {
	*env // its extra holds the MCPCTL_NATS_* of this node
}

func newCNode(t testing.TB, node string, extra ...string) *cnode {
	t.Helper()
	dir, err := os.MkdirTemp(workDir, "c")
	if err != nil {
		t.Fatal(err)
	}
	n := &cnode{&env{t: t, home: dir, node: node, extra: extra}}
	t.Cleanup(n.stop)
	return n
}

// clusterNode is a node of cluster c with what c asks of its clients: compose's token, or a
// .creds file of its own (every node's hub and CLI use it), and with mutual TLS the CA and
// the client certificate.
func clusterNode(t testing.TB, c *jstest.Cluster, node string) *cnode {
	t.Helper()
	env := []string{"MCPCTL_NATS_URL=" + c.URL()}
	if op := c.Sec.Operator; op != nil {
		env = append(env, "MCPCTL_NATS_CREDS="+op.Creds(t, node, nil))
	} else {
		env = append(env, "MCPCTL_NATS_TOKEN="+c.Token)
	}
	if p := c.Sec.PKI; p != nil {
		env = append(env, "MCPCTL_NATS_TLS_CA="+p.CA, "MCPCTL_NATS_TLS_CERT="+p.ClientCert, "MCPCTL_NATS_TLS_KEY="+p.ClientKey)
	}
	return newCNode(t, node, env...)
}

// clusterSecurities are the ways the cluster suite runs: compose's token, decentralized
// authentication with a .creds file per node, and mutual TLS (with the token, as compose
// would add a tls block to its configuration).
var clusterSecurities = []struct {
	name string
	sec  func(t testing.TB) jstest.Security
}{
	{"token", func(testing.TB) jstest.Security { return jstest.Security{} }},
	{"creds", func(t testing.TB) jstest.Security { return jstest.Security{Operator: jstest.NewOperator(t)} }},
	{"mtls", func(t testing.TB) jstest.Security { return jstest.Security{PKI: jstest.NewPKI(t)} }},
}

// eachClusterSecurity runs test once per way of securing the cluster, on a cluster of its own.
func eachClusterSecurity(t *testing.T, test func(t *testing.T, c *jstest.Cluster)) {
	for _, cs := range clusterSecurities {
		t.Run(cs.name, func(t *testing.T) { test(t, jstest.StartSecureCluster(t, cs.sec(t))) })
	}
}

// sessions lists the sessions as `sessions --json` prints them (with --all-nodes: every node's).
func (n *cnode) sessions(allNodes bool) []projector.Session {
	n.t.Helper()
	var list []projector.Session
	args := []string{"sessions"}
	if allNodes {
		args = append(args, "--all-nodes")
	}
	n.jsonOK(&list, args...)
	return list
}

func (n *cnode) session(node, name string) projector.Session {
	n.t.Helper()
	for _, s := range n.sessions(true) {
		if s.Node == node && s.Name == name {
			return s
		}
	}
	n.t.Fatalf("node %s does not list %s@%s", n.node, name, node)
	return projector.Session{}
}

func (n *cnode) events(session string) []events.Event {
	n.t.Helper()
	r := n.ok("events", "--json", "--session", session)
	var out []events.Event
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if line == "" {
			continue
		}
		var ev events.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			n.t.Fatalf("decode event line %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

// connectTest opens a session to the test server, open to other nodes.
func (n *cnode) connectTest(name string) string {
	n.t.Helper()
	calls := filepath.Join(n.home, "calls-"+name+".log")
	n.ok("connect", "--remote", "@"+name, "--", serverBin, "--calls-log", calls)
	return calls
}

// stop closes this node's sessions and stops its hub, then makes sure nothing is left.
func (n *cnode) stop() {
	_ = n.cmd(context.Background(), "clean", "--all").Run()
	_ = n.cmd(context.Background(), "hub", "stop").Run()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) && len(pidsUnder(n.home)) > 0 {
		<-tick.C
	}
	for _, p := range pidsUnder(n.home) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// restartStorm runs count restarts of one session, from the nodes argsFor picks, and checks
// that all succeed, exactly one started the restart, and the log has exactly one request
// and one spawn for exactly one new generation.
func restartStorm(t *testing.T, owner *cnode, name string, count int, during func(), argsFor func(i int) (*cnode, []string)) {
	t.Helper()
	before := owner.session(owner.node, name)
	done := make(chan []result, 1)
	go func() {
		done <- runManyOn(t, count, func(i int) (*env, []string) { n, args := argsFor(i); return n.env, args })
	}()
	if during != nil {
		during()
	}
	rs := <-done
	defer func() {
		if t.Failed() {
			for _, ev := range owner.events(name) {
				t.Logf("%d %s g%d %s %s pid=%d %s", ev.Seq, ev.Type, ev.Generation, ev.Time.Format("15:04:05.000"), ev.Actor.Command, ev.Actor.PID, firstNonEmpty(ev.Reason, ev.Error))
			}
			b, _ := os.ReadFile(filepath.Join(owner.home, "logs", "hub.log"))
			t.Logf("hub log:\n%s", b)
		}
	}()
	started := 0
	for i, r := range rs {
		if r.Code != 0 {
			t.Fatalf("restart %d:\n%s", i, r)
		}
		var out struct {
			Started    bool   `json:"started"`
			Generation uint64 `json:"generation"`
			Status     string `json:"status"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
			t.Fatalf("restart %d: %v\n%s", i, err, r)
		}
		if out.Generation != before.Generation+1 || out.Status != "ready" {
			t.Fatalf("restart %d: generation %d %s, want %d ready\n%s", i, out.Generation, out.Status, before.Generation+1, r)
		}
		if out.Started {
			started++
		}
	}
	if started != 1 {
		t.Errorf("%d of %d restarts say they started it, want exactly 1", started, count)
	}
	var requested, spawned []uint64
	for _, ev := range owner.events(name) {
		if ev.Generation <= before.Generation {
			continue
		}
		switch ev.Type {
		case events.KindRestartRequested:
			requested = append(requested, ev.Generation)
		case events.KindBridgeSpawned:
			spawned = append(spawned, ev.Generation)
		}
	}
	if len(requested) != 1 || len(spawned) != 1 {
		t.Fatalf("after generation %d the log has restart_requested for %v and bridge_spawned for %v, want one each",
			before.Generation, requested, spawned)
	}
	testwait.For(t, 10*time.Second, func() error {
		after := owner.session(owner.node, name)
		if pids := bridgePIDs(owner.home, name); after.Bridge == nil || len(pids) != 1 || pids[0] != after.Bridge.PID {
			return fmt.Errorf("live bridges %v, want only generation %d's", pids, after.Generation)
		}
		return nil
	})
}

func TestCluster_RaceScenariosHoldOnTheCluster(t *testing.T) {
	eachClusterSecurity(t, testRaceScenarios)
}

func testRaceScenarios(t *testing.T, c *jstest.Cluster) {
	a := clusterNode(t, c, "na")
	calls := a.connectTest("s")

	t.Run("32 parallel restarts join one generation", func(t *testing.T) {
		restartStorm(t, a, "s", 32, nil, func(int) (*cnode, []string) { return a, []string{"--json", "restart", "@s"} })
	})
	t.Run("kill -9 and 16 parallel calls restart once and run each call once", func(t *testing.T) {
		s := a.session("na", "s")
		if err := syscall.Kill(s.Bridge.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		rs := runManyOn(t, 16, func(i int) (*env, []string) {
			return a.env, []string{"@s", "tools-call", "add", fmt.Sprintf("a:=%d", i), "b:=1000"}
		})
		for i, r := range rs {
			if r.Code != 0 || strings.TrimSpace(r.Stdout) != fmt.Sprint(i+1000) {
				t.Fatalf("caller %d, want exit 0 and %d:\n%s", i, i+1000, r)
			}
		}
		if n := countCalls(t, calls, "add"); n != 16 {
			t.Errorf("calls log has %d add calls, want 16", n)
		}
		n := 0
		for _, ev := range a.events("s") {
			if ev.Type == events.KindRestartRequested && ev.Generation > s.Generation {
				n++
			}
		}
		if n != 1 {
			t.Errorf("restart_requested after the kill: %d, want exactly 1", n)
		}
	})
}

// streamLeader returns the index of the node leading the events stream.
func streamLeader(t testing.TB, c *jstest.Cluster) int {
	t.Helper()
	for i, s := range c.Servers {
		if s != nil && s.JetStreamIsStreamLeader(c.Account, events.EventsStream) {
			return i
		}
	}
	t.Fatal("no node leads the events stream")
	return -1
}

func TestCluster_NATSNodeKilledDuringARestartStorm(t *testing.T) {
	eachClusterSecurity(t, testNATSNodeKilled)
}

func testNATSNodeKilled(t *testing.T, c *jstest.Cluster) {
	a := clusterNode(t, c, "na")
	a.connectTest("s")
	before := a.events("s")

	restartStorm(t, a, "s", 16, func() {
		// Kill the events stream's leader while the storm is on: the election happens
		// under the restarts' conditional appends.
		testwait.For(t, 20*time.Second, func() error {
			evs := a.events("s")
			for _, ev := range evs {
				if ev.Type == events.KindRestartRequested && ev.Seq > before[len(before)-1].Seq {
					return nil
				}
			}
			return fmt.Errorf("no restart requested after %d yet: %v", before[len(before)-1].Seq, kindsOf(evs))
		})
		c.Stop(streamLeader(t, c))
	}, func(int) (*cnode, []string) { return a, []string{"--json", "restart", "@s"} })

	// No event acknowledged before the kill is lost, and the session works.
	after := a.events("s")
	seen := map[uint64]bool{}
	for _, ev := range after {
		seen[ev.Seq] = true
	}
	for _, ev := range before {
		if !seen[ev.Seq] {
			t.Errorf("event %d (%s) acknowledged before the kill is gone", ev.Seq, ev.Type)
		}
	}
	if r := a.ok("@s", "tools-call", "add", "a:=2", "b:=3"); strings.TrimSpace(r.Stdout) != "5" {
		t.Fatalf("call after the election:\n%s", r)
	}
}

func TestCluster_TwoNodesShareTheCluster(t *testing.T) {
	eachClusterSecurity(t, testTwoNodes)
}

func testTwoNodes(t *testing.T, c *jstest.Cluster) {
	a := clusterNode(t, c, "na")
	b := clusterNode(t, c, "nb")
	calls := a.connectTest("s")

	t.Run("node B lists node A's sessions with --all-nodes only", func(t *testing.T) {
		for _, s := range b.sessions(false) {
			t.Errorf("node B lists %s@%s without --all-nodes", s.Name, s.Node)
		}
		if s := b.session("na", "s"); s.Status != projector.StatusReady {
			t.Errorf("B sees s@na %s, want ready", s.Status)
		}
		if r := b.ok("sessions", "--all-nodes"); !strings.Contains(r.Stdout, "@s@na") {
			t.Errorf("the listing does not address the session as @s@na:\n%s", r)
		}
	})
	t.Run("a restart storm from both nodes makes one generation", func(t *testing.T) {
		restartStorm(t, a, "s", 16, nil, func(i int) (*cnode, []string) {
			if i%2 == 0 {
				return a, []string{"--json", "restart", "@s"}
			}
			return b, []string{"--json", "restart", "@s@na"}
		})
	})
	t.Run("node B calls a tool on node A's session", func(t *testing.T) {
		if r := b.ok("@s@na", "tools-call", "add", "a:=20", "b:=22"); strings.TrimSpace(r.Stdout) != "42" {
			t.Fatalf("remote call:\n%s", r)
		}
		if n := countCalls(t, calls, "add"); n != 1 {
			t.Errorf("calls log has %d add calls, want 1", n)
		}
	})
	t.Run("node B closes node A's session and A's bridge exits", func(t *testing.T) {
		b.ok("close", "@s@na")
		testwait.For(t, 10*time.Second, func() error {
			if pids := bridgePIDs(a.home, "s"); len(pids) > 0 {
				return fmt.Errorf("bridges of s still running: %v", pids)
			}
			return nil
		})
	})
}

// TestCluster_RemoteCallNeedsNATSPermission runs two nodes on a NATS server with one user
// per node: node B's user may not publish on mcpctl.rpc.>, so it cannot call node A's
// session (exit 4, the tool never runs), while everything else of B works.
func TestCluster_RemoteCallNeedsNATSPermission(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	port := freePort(t)
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf(`
listen: 127.0.0.1:%d
jetstream { store_dir: %q }
authorization {
  users: [
    { user: node-a, password: pa }
    { user: node-b, password: pb, permissions: { publish: { deny: ["mcpctl.rpc.>"] } } }
  ]
}
`, port, filepath.Join(dir, "js"))), 0o600))
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	url := fmt.Sprintf("MCPCTL_NATS_URL=nats://127.0.0.1:%d", port)
	a := newCNode(t, "na", url, "MCPCTL_NATS_USER=node-a", "MCPCTL_NATS_PASSWORD=pa", "MCPCTL_NATS_REPLICAS=1")
	b := newCNode(t, "nb", url, "MCPCTL_NATS_USER=node-b", "MCPCTL_NATS_PASSWORD=pb", "MCPCTL_NATS_REPLICAS=1")
	calls := a.connectTest("s")

	if s := b.session("na", "s"); s.Status != projector.StatusReady {
		t.Fatalf("B sees s@na %s, want ready", s.Status)
	}
	r := b.run("--timeout", "10s", "@s@na", "tools-call", "add", "a:=1", "b:=2")
	if r.Code != 4 {
		t.Errorf("a call without publish permission on mcpctl.rpc.>: want exit 4:\n%s", r)
	}
	if n := countCalls(t, calls, "add"); n != 0 {
		t.Errorf("the tool ran %d times for a client without permission", n)
	}
	if r := a.ok("@s", "tools-call", "add", "a:=1", "b:=2"); strings.TrimSpace(r.Stdout) != "3" {
		t.Errorf("the owner's call:\n%s", r)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
