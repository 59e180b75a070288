package jstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NodeConfEnv names the configuration file a re-executed test binary runs as one NATS node
// of a ProcCluster (see RunNodeIfAsked).
const NodeConfEnv = "MCPCTL_JSTEST_NODE_CONF"

// RunNodeIfAsked runs this process as a NATS node when NodeConfEnv names a configuration,
// and never returns then (the node runs until it is killed). A test package that starts a
// ProcCluster calls it first in its TestMain: the nodes are that test binary, re-executed.
func RunNodeIfAsked() {
	conf := os.Getenv(NodeConfEnv)
	if conf == "" {
		return
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	opts.NoLog = true
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s.Start()
	s.WaitForShutdown()
	os.Exit(0)
}

// ProcCluster is the three-node cluster of the compose file with each node in a process of
// its own, so that a node can die the way a machine or a container dies: SIGKILL, no
// leadership handed over, no goodbye on the routes. (Cluster's nodes share the test's
// process, and stopping one is a graceful shutdown that steps its leaders down first.)
type ProcCluster struct {
	Token string
	Nodes []Node
	Confs []string
	procs []*exec.Cmd
	t     testing.TB
}

// StartProcCluster starts the nodes (the test binary, re-executed: its TestMain must call
// RunNodeIfAsked) and waits until each answers /healthz. They are killed when the test ends.
func StartProcCluster(t testing.TB) *ProcCluster {
	t.Helper()
	token, nodes, confs := writeConfs(t, Security{})
	c := &ProcCluster{Token: token, Nodes: nodes, Confs: confs, procs: make([]*exec.Cmd, Size), t: t}
	t.Cleanup(func() {
		for i := range Size {
			c.Kill(i)
		}
	})
	for i := range Size {
		c.Start(i)
	}
	for i := range Size {
		c.WaitHealthy(i, 60*time.Second)
	}
	return c
}

// Start starts node i (again) from its configuration file and store.
func (c *ProcCluster) Start(i int) {
	c.t.Helper()
	if c.procs[i] != nil {
		c.t.Fatalf("node %d is running", i+1)
	}
	self, err := os.Executable()
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), NodeConfEnv+"="+c.Confs[i])
	// The node dies with the test process, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("node %d: %v", i+1, err)
	}
	c.procs[i] = cmd
}

// Kill kills node i with SIGKILL and reaps it. A node already down is left alone.
func (c *ProcCluster) Kill(i int) {
	cmd := c.procs[i]
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	c.procs[i] = nil
}

// Running reports whether node i has a process.
func (c *ProcCluster) Running(i int) bool { return c.procs[i] != nil }

// URLs lists the client URLs of every node, running or not.
func (c *ProcCluster) URLs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, "nats://127.0.0.1:"+strconv.Itoa(n.ClientPort))
	}
	return out
}

// URL is URLs joined with commas, as MCPCTL_NATS_URL takes it.
func (c *ProcCluster) URL() string { return strings.Join(c.URLs(), ",") }

var monitorClient = &http.Client{Timeout: 2 * time.Second}

// Healthy reports whether node i answers its /healthz with 200: JetStream enabled, and its
// meta group, streams and consumers current.
func (c *ProcCluster) Healthy(i int) error {
	resp, err := monitorClient.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", c.Nodes[i].HTTPPort))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return fmt.Errorf("node %d: /healthz %d %s", i+1, resp.StatusCode, body.Error)
	}
	return nil
}

// WaitHealthy polls Healthy(i) until it holds or timeout passes (then the test fails).
func (c *ProcCluster) WaitHealthy(i int, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := c.Healthy(i)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node %d not healthy after %s: %v", i+1, timeout, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a monitoring endpoint; nothing to wait on
	}
}

// Leaders returns the node (0-based) leading the meta group and, for each of streams (of
// the global account), the node leading it, as the first running node that knows them all
// reports them (-1: none known).
func (c *ProcCluster) Leaders(streams ...string) (meta int, leaders []int, err error) {
	for i := range Size {
		if c.procs[i] == nil {
			continue
		}
		var jsz struct {
			Meta *struct {
				Leader string `json:"leader"`
			} `json:"meta_cluster"`
			Accounts []struct {
				Streams []struct {
					Name    string `json:"name"`
					Cluster *struct {
						Leader string `json:"leader"`
					} `json:"cluster"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		resp, err := monitorClient.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz?accounts=true&streams=true", c.Nodes[i].HTTPPort))
		if err != nil {
			continue
		}
		err = json.NewDecoder(resp.Body).Decode(&jsz)
		resp.Body.Close()
		if err != nil || jsz.Meta == nil {
			continue
		}
		meta = c.index(jsz.Meta.Leader)
		leaders = make([]int, len(streams))
		all := meta >= 0
		for k, name := range streams {
			leaders[k] = -1
			for _, a := range jsz.Accounts {
				for _, s := range a.Streams {
					if s.Name == name && s.Cluster != nil {
						leaders[k] = c.index(s.Cluster.Leader)
					}
				}
			}
			all = all && leaders[k] >= 0
		}
		if all {
			return meta, leaders, nil
		}
	}
	return -1, nil, fmt.Errorf("no running node knows the leaders of the meta group and of %v", streams)
}

func (c *ProcCluster) index(name string) int {
	for i, n := range c.Nodes {
		if n.Name == name {
			return i
		}
	}
	return -1
}

// CPU returns the processor time node i's process has used so far (user and system, from
// /proc/<pid>/stat), 0 when it is not running.
func (c *ProcCluster) CPU(i int) time.Duration {
	cmd := c.procs[i]
	if cmd == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: the fields start after its closing parenthesis.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clockTicks
}
