package e2e

// External mode's refusals and bad input: wrong TLS pieces and foreign credentials exit 4
// naming the cause, a server URL with credentials in it is refused before anything dials,
// an unreachable cluster is exit 3, a node name that is no subject token exit 1. None of
// them starts a hub or leaves a process.

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
)

// bareCNode is a node whose cleanup runs no command: a command would dial the cluster, and
// these tests count dials. noTrace checks that nothing needs cleaning.
func bareCNode(t testing.TB, node string, extra ...string) *cnode {
	t.Helper()
	dir, err := os.MkdirTemp(workDir, "c")
	if err != nil {
		t.Fatal(err)
	}
	return &cnode{&env{t: t, home: dir, node: node, extra: extra}}
}

// noTrace checks that a refused command left no process and no hub behind in n's home.
func noTrace(t *testing.T, n *cnode) {
	t.Helper()
	if pids := pidsUnder(n.home); len(pids) > 0 {
		t.Errorf("processes left under %s: %v", n.home, leftoverProcesses(n.home))
	}
	if _, err := os.Stat(filepath.Join(n.home, "hub.json")); err == nil {
		t.Errorf("a hub.json was written in %s", n.home)
	}
}

func TestCluster_RefusedCertificatesAndCredentialsExit4(t *testing.T) {
	op := jstest.NewOperator(t)
	pki := jstest.NewPKI(t)
	c := jstest.StartSecureCluster(t, jstest.Security{Operator: op, PKI: pki})
	creds := op.Creds(t, "na", nil)
	base := func(mod map[string]string) []string {
		env := map[string]string{
			"MCPCTL_NATS_URL": c.URL(), "MCPCTL_NATS_CREDS": creds, "MCPCTL_NATS_TLS_CA": pki.CA,
			"MCPCTL_NATS_TLS_CERT": pki.ClientCert, "MCPCTL_NATS_TLS_KEY": pki.ClientKey,
		}
		for k, v := range mod {
			env[k] = v
		}
		var out []string
		for k, v := range env {
			out = append(out, k+"="+v)
		}
		return out
	}
	t.Run("the right creds and certificate work", func(t *testing.T) {
		n := newCNode(t, "na", base(nil)...)
		n.ok("sessions")
	})
	t.Run("the same as flags, which reach the hub the CLI starts", func(t *testing.T) {
		n := bareCNode(t, "nf") // no environment: its cleanup would run in embedded mode
		flags := []string{"--nats-url", c.URL(), "--nats-creds", creds, "--nats-tls-ca", pki.CA,
			"--nats-tls-cert", pki.ClientCert, "--nats-tls-key", pki.ClientKey}
		t.Cleanup(func() {
			_ = n.cmd(context.Background(), append(flags, "clean", "--all")...).Run()
			_ = n.cmd(context.Background(), append(flags, "hub", "stop")...).Run()
			for _, p := range pidsUnder(n.home) {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		})
		n.ok(append(flags, "connect", "@f", "--", serverBin)...)
		if r := n.ok(append(flags, "@f", "tools-call", "add", "a:=2", "b:=5")...); strings.TrimSpace(r.Stdout) != "7" {
			t.Errorf("call:\n%s", r)
		}
		n.ok(append(flags, "close", "@f")...)
	})
	stranger := jstest.NewOperator(t).Creds(t, "stranger", nil)
	for _, tc := range []struct {
		name string
		mod  map[string]string
		want string
	}{
		{"the servers' certificate checked against another CA", map[string]string{"MCPCTL_NATS_TLS_CA": pki.OtherCA},
			"the NATS server's certificate is not signed by a CA this client trusts (" + pki.OtherCA + ")"},
		{"an expired client certificate", map[string]string{"MCPCTL_NATS_TLS_CERT": pki.ExpiredClientCert, "MCPCTL_NATS_TLS_KEY": pki.ExpiredClientKey},
			"the client certificate " + pki.ExpiredClientCert + " has expired"},
		{"a client certificate of another CA", map[string]string{"MCPCTL_NATS_TLS_CERT": pki.OtherClientCert, "MCPCTL_NATS_TLS_KEY": pki.OtherClientKey},
			"(" + pki.OtherClientCert + ")"},
		{"creds of another operator", map[string]string{"MCPCTL_NATS_CREDS": stranger},
			"the NATS cluster refused the credentials (creds file " + stranger + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newCNode(t, "na", base(tc.mod)...)
			r := n.run("sessions")
			if r.Code != 4 || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("want exit 4 saying %q:\n%s", tc.want, r)
			}
			noTrace(t, n)
		})
	}
}

func TestCluster_BadInput(t *testing.T) {
	// A listener that counts the connections it is offered: a refused URL must not dial.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var dials atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.Close()
		}
	}()
	addr := l.Addr().String()
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		want   string
		secret string
	}{
		{"user and password in the URL", []string{"MCPCTL_NATS_URL=nats://alice:s3cret@" + addr}, []string{"sessions"}, 1, "use the creds options", "s3cret"},
		{"a token in the URL", []string{"MCPCTL_NATS_URL=nats://t0ken-value@" + addr}, []string{"sessions"}, 1, "use the creds options", "t0ken-value"},
		{"a token in --nats-url", nil, []string{"--nats-url", "nats://t0ken-value@" + addr, "sessions"}, 1, "use the creds options", "t0ken-value"},
		{"a node name with a dot", []string{"MCPCTL_NATS_URL=nats://" + addr, "MCPCTL_NODE=a.b"}, []string{"sessions"}, 1, "MCPCTL_NODE", ""},
		{"a node name with a wildcard", []string{"MCPCTL_NATS_URL=nats://" + addr, "MCPCTL_NODE=a*"}, []string{"sessions"}, 1, "MCPCTL_NODE", ""},
		{"a target node with a dot", []string{"MCPCTL_NATS_URL=nats://" + addr}, []string{"restart", "@s@a.b"}, 1, "a.b", ""},
		{"a target node with a wildcard", []string{"MCPCTL_NATS_URL=nats://" + addr}, []string{"close", "@s@>"}, 1, ">", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := bareCNode(t, "na", tc.env...)
			r := n.run(tc.args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("want exit %d saying %q:\n%s", tc.code, tc.want, r)
			}
			if tc.secret != "" && strings.Contains(r.Stderr+r.Stdout, tc.secret) {
				t.Errorf("the output repeats the secret:\n%s", r)
			}
			if d := dials.Load(); d != 0 {
				t.Errorf("%d connections were made", d)
			}
			noTrace(t, n)
		})
	}
	t.Run("an unreachable cluster is exit 3", func(t *testing.T) {
		n := bareCNode(t, "na", "MCPCTL_NATS_URL=nats://127.0.0.1:"+strconv.Itoa(freePort(t)))
		start := time.Now()
		r := n.run("--timeout", "20s", "sessions")
		if r.Code != 3 || !strings.Contains(r.Stderr, "connect to the NATS cluster") {
			t.Errorf("want exit 3 saying it could not connect:\n%s", r)
		}
		t.Logf("refused after %s", time.Since(start).Round(time.Millisecond))
		noTrace(t, n)
	})
}

// TestCluster_StreamsOfAnotherReplicaCountAreRefused: a CLI that expects three replicas on a
// cluster whose streams were made with one is told so (exit 1), and changes nothing there.
func TestCluster_StreamsOfAnotherReplicaCountAreRefused(t *testing.T) {
	s := jstest.StartServer(t, "tok", false)
	url, token := "MCPCTL_NATS_URL="+s.ClientURL(), "MCPCTL_NATS_TOKEN="+s.Token
	one := newCNode(t, "na", url, token, "MCPCTL_NATS_REPLICAS=1")
	one.ok("sessions") // makes the streams, with one replica
	headBefore := one.ok("events", "--json").Stdout

	n := bareCNode(t, "nb", url, token) // expects the default, 3
	r := n.run("sessions")
	if r.Code != 1 || !strings.Contains(r.Stderr, "MCPCTL_EVENTS has 1 replicas, mcpctl expects 3") || !strings.Contains(r.Stderr, "nothing was created or changed") {
		t.Fatalf("want exit 1 naming the replica counts:\n%s", r)
	}
	noTrace(t, n)
	one.ok("sessions") // the streams still serve the node that made them
	if after := one.ok("events", "--json").Stdout; after != headBefore {
		t.Errorf("the log changed:\nbefore %s\nafter  %s", headBefore, after)
	}
}
