package e2e

// Every session command on another node's session (@name@node): info, logs [-f], history,
// wait, proxy and events --session name@node, on two mcpctl nodes of the loopback cluster,
// with the rule of remote calls (only sessions opened with --remote), and secrets kept out
// of a log shipped to another node.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
	"github.com/nats-io/nats-server/v2/server"
)

// appendLog appends lines to node n's log of session, as its bridge or server would.
func (n *cnode) appendLog(session string, lines ...string) {
	n.t.Helper()
	f, err := os.OpenFile(filepath.Join(n.home, "logs", "sessions", session+".log"), os.O_WRONLY|os.O_APPEND, 0o600)
	must(n.t, err)
	defer f.Close()
	for _, l := range lines {
		_, err := fmt.Fprintln(f, l)
		must(n.t, err)
	}
}

func TestCluster_SessionCommandsOnAnotherNode(t *testing.T) {
	c := jstest.StartCluster(t)
	a := clusterNode(t, c, "na")
	b := clusterNode(t, c, "nb")
	a.connectTest("s")
	a.ok("connect", "@closed", "--", serverBin) // not --remote
	const secret = "hdr-secret-5f3a9c1e7b"
	const bearer = "tok-2b7e151628aed2a6abf7158809cf4f3c"
	url, _ := startHTTPServer(t, "--require-header", "X-Secret-Token="+secret)
	a.ok("connect", "--remote", "@h", url, "-H", "X-Secret-Token: "+secret)

	t.Run("info", func(t *testing.T) {
		r := b.ok("@s@na", "info")
		for _, want := range []string{"session:   @s@na (ready", "tools:", "add"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("info @s@na does not say %q:\n%s", want, r)
			}
		}
		var local, remote struct {
			Session    projector.Session `json:"session"`
			Initialize json.RawMessage   `json:"initialize"`
			Tools      []string          `json:"tools"`
		}
		a.jsonOK(&local, "@s", "info")
		b.jsonOK(&remote, "@s@na", "info")
		if remote.Session.Name != "s" || remote.Session.Node != "na" || len(remote.Initialize) == 0 {
			t.Errorf("info --json @s@na: session %s@%s, initialize %s", remote.Session.Name, remote.Session.Node, remote.Initialize)
		}
		if !slices.Equal(local.Tools, remote.Tools) || len(remote.Tools) == 0 {
			t.Errorf("info --json tools: remote %v, local %v", remote.Tools, local.Tools)
		}
	})

	t.Run("logs", func(t *testing.T) {
		a.appendLog("s", "first marker line", "second marker line")
		local := a.ok("@s", "logs", "-n", "2")
		if r := b.ok("@s@na", "logs", "-n", "2"); r.Stdout != "first marker line\nsecond marker line\n" || r.Stdout != local.Stdout {
			t.Errorf("mcpctl @s@na logs -n 2 printed %q, the owner's logs -n 2 %q", r.Stdout, local.Stdout)
		}
		// --json: JSON Lines, as for a local session.
		want := `{"session":"s@na","line":"first marker line"}` + "\n" + `{"session":"s@na","line":"second marker line"}` + "\n"
		if r := b.ok("--json", "@s@na", "logs", "-n", "2"); r.Stdout != want {
			t.Errorf("mcpctl --json @s@na logs -n 2 printed %q, want %q", r.Stdout, want)
		}
		if r := b.ok("@s@na", "logs", "-n", "0"); !strings.HasSuffix(r.Stdout, "second marker line\n") || strings.Count(r.Stdout, "\n") < 3 {
			t.Errorf("logs -n 0 @s@na (the whole log):\n%s", r)
		}
	})

	t.Run("logs -f follows and ends when the client stops", func(t *testing.T) {
		for _, withJSON := range []bool{false, true} {
			args := []string{"@s@na", "logs", "-f", "-n", "1"}
			if withJSON {
				args = append([]string{"--json"}, args...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			cmd := b.cmd(ctx, args...)
			var out lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			must(t, cmd.Start())
			marker := fmt.Sprintf("followed line json=%v", withJSON)
			testwait.For(t, 20*time.Second, func() error {
				if !strings.Contains(out.String(), "\n") {
					return fmt.Errorf("nothing printed yet: %q", out.String())
				}
				return nil
			})
			appended := time.Now()
			a.appendLog("s", marker)
			printed := marker + "\n"
			if withJSON {
				printed = `"line":"` + marker + `"}` + "\n"
			}
			testwait.For(t, 20*time.Second, func() error {
				if !strings.Contains(out.String(), printed) {
					return fmt.Errorf("logs -f has not printed the appended line: %q", out.String())
				}
				return nil
			})
			t.Logf("a line appended on node A reached logs -f on node B after %s (hub polls every 100ms)", time.Since(appended).Round(time.Millisecond))
			must(t, cmd.Process.Signal(syscall.SIGINT))
			err := cmd.Wait()
			cancel()
			// As a local logs -f: a command ended by a signal exits 128+n.
			if cmd.ProcessState.ExitCode() != 130 {
				t.Errorf("logs -f @s@na ended by SIGINT: %v, want exit 130\n%s", err, out.String())
			}
		}
	})

	t.Run("logs of a session with a secret header", func(t *testing.T) {
		b.ok("@h@na", "wait", "--for", "ready")
		// What a server or an HTTP library could print about its requests.
		a.appendLog("h", "debug: sent X-Secret-Token: "+secret, "debug: Authorization: Bearer "+bearer)
		if r := a.ok("@h", "logs"); !strings.Contains(r.Stdout, secret) || !strings.Contains(r.Stdout, bearer) {
			t.Fatalf("the owner's log should hold the lines as written (else this test proves nothing):\n%s", r)
		}
		for _, args := range [][]string{{"@h@na", "logs", "-n", "0"}, {"--json", "@h@na", "logs"}} {
			r := b.ok(args...)
			if strings.Contains(r.Stdout, secret) || strings.Contains(r.Stdout, bearer) {
				t.Errorf("mcpctl %v ships a secret:\n%s", args, r)
			}
			if !strings.Contains(r.Stdout, "debug: sent X-Secret-Token: [REDACTED]") || !strings.Contains(r.Stdout, "Bearer [REDACTED]") {
				t.Errorf("mcpctl %v: want the lines with the values redacted:\n%s", args, r)
			}
		}
	})

	t.Run("logs of a stdio server that prints its secret env", func(t *testing.T) {
		const envSecret = "env-secret-9d8c7b6a5f"
		a.ok("connect", "--remote", "@e", "-e", "API_KEY="+envSecret, "--", serverBin, "--print-env", "API_KEY")
		// The owner's log shows what the server printed (else this test proves nothing).
		testwait.For(t, 10*time.Second, func() error {
			if r := a.ok("@e", "logs"); !strings.Contains(r.Stdout, "API_KEY is "+envSecret) {
				return fmt.Errorf("the owner's log does not show the server's line yet:\n%s", r)
			}
			return nil
		})
		r := b.ok("@e@na", "logs")
		if strings.Contains(r.Stdout, envSecret) || !strings.Contains(r.Stdout, "API_KEY is [REDACTED]") {
			t.Errorf("logs @e@na: want the env value redacted:\n%s", r)
		}
	})

	t.Run("history", func(t *testing.T) {
		if r := b.ok("@s@na", "history"); !strings.Contains(r.Stdout, "@s@na: ready, generation 1") || !strings.Contains(r.Stdout, "generation 1 ") {
			t.Errorf("history @s@na:\n%s", r)
		}
		type hist struct {
			Session     string            `json:"session"`
			State       projector.Session `json:"state"`
			Generations []json.RawMessage `json:"generations"`
		}
		var local, remote hist
		a.jsonOK(&local, "@s", "history")
		b.jsonOK(&remote, "@s@na", "history")
		if remote.Session != "s" || remote.State.Node != "na" || len(remote.Generations) != len(local.Generations) || len(local.Generations) == 0 {
			t.Errorf("history --json @s@na: %s %s@%s with %d generations, the owner's has %d", remote.Session, remote.State.Name, remote.State.Node,
				len(remote.Generations), len(local.Generations))
		}
	})

	t.Run("wait", func(t *testing.T) {
		if r := b.ok("@s@na", "wait", "--for", "ready"); strings.TrimSpace(r.Stdout) != "@s@na: ready (generation 1)" {
			t.Errorf("wait @s@na:\n%s", r)
		}
		var w struct {
			Session string            `json:"session"`
			For     string            `json:"for"`
			State   projector.Session `json:"state"`
		}
		b.jsonOK(&w, "@s@na", "wait", "--for", "ready")
		if w.Session != "s@na" || w.For != "ready" || w.State.Status != projector.StatusReady || w.State.Node != "na" {
			t.Errorf("wait --json @s@na: %+v", w)
		}
	})

	t.Run("events --session name@node", func(t *testing.T) {
		want := a.events("s")
		got := b.events("s@na")
		if fmt.Sprint(seqsOf(got)) != fmt.Sprint(seqsOf(want)) || len(got) == 0 {
			t.Errorf("events --session s@na on B: %v, the owner's --session s: %v", seqsOf(got), seqsOf(want))
		}
		for _, e := range got {
			if e.Node != "na" || e.Session != "s" {
				t.Errorf("event %d is %s@%s", e.Seq, e.Session, e.Node)
			}
		}
		if r := b.ok("events", "--session", "s@na"); !strings.Contains(r.Stdout, "created") || strings.Count(r.Stdout, "\n") != len(want) {
			t.Errorf("events --session s@na (human), want %d lines:\n%s", len(want), r)
		}
	})

	t.Run("proxy", func(t *testing.T) {
		in := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":"two","method":"tools/call","params":{"name":"add","arguments":{"a":40,"b":2}}}
`
		for _, withJSON := range []bool{false, true} {
			args := []string{"@s@na", "proxy"}
			if withJSON {
				args = append([]string{"--json"}, args...)
			}
			r := b.runIn([]byte(in), args...)
			if r.Code != 0 {
				t.Fatalf("proxy:\n%s", r)
			}
			answers := map[string]string{}
			sc := bufio.NewScanner(strings.NewReader(r.Stdout))
			for sc.Scan() {
				var m struct {
					ID     any             `json:"id"`
					Result json.RawMessage `json:"result"`
					Error  json.RawMessage `json:"error"`
				}
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("proxy printed %q: %v", sc.Text(), err)
				}
				answers[fmt.Sprint(m.ID)] = string(m.Result) + string(m.Error)
			}
			if len(answers) != 2 || !strings.Contains(answers["1"], `"serverInfo"`) || !strings.Contains(answers["two"], `"42"`) {
				t.Errorf("proxy @s@na (--json %v): answers %v\n%s", withJSON, answers, r)
			}
		}
	})

	t.Run("refused for a session not opened --remote", func(t *testing.T) {
		call := b.run("@closed@na", "tools-call", "add", "a:=1", "b:=2")
		if call.Code != 1 || !strings.Contains(call.Stderr, "@closed@na is not open to calls from other nodes") {
			t.Fatalf("the remote call's refusal changed:\n%s", call)
		}
		for _, args := range [][]string{
			{"@closed@na", "info"}, {"@closed@na", "logs"}, {"@closed@na", "logs", "-f"}, {"@closed@na", "history"},
			{"@closed@na", "history", "--events"}, {"@closed@na", "wait", "--for", "ready"}, {"@closed@na", "proxy"},
			{"events", "--session", "closed@na"},
		} {
			for _, withJSON := range []bool{false, true} {
				if withJSON {
					args = append([]string{"--json"}, args...)
				}
				r := b.runIn([]byte{}, args...)
				if r.Code != 1 || firstLine(r.Stderr) != firstLine(call.Stderr) && !withJSON {
					t.Errorf("mcpctl %v: exit %d, want 1 and %q:\n%s", args, r.Code, firstLine(call.Stderr), r)
				}
				if withJSON && !strings.Contains(r.Stderr, "is not open to calls from other nodes") {
					t.Errorf("mcpctl %v: %s", args, r)
				}
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, cmd := range [][]string{{"info"}, {"logs"}, {"logs", "-f"}, {"history"}, {"wait", "--for", "ready"}, {"proxy"}} {
			r := b.run(append([]string{"@s@n.a"}, cmd...)...)
			if r.Code != 1 || !strings.Contains(r.Stderr, "n.a") {
				t.Errorf("%v on @s@n.a: want exit 1 naming the node:\n%s", cmd, r)
			}
			start := time.Now()
			r = b.runIn([]byte{}, append([]string{"--timeout", "20s", "@s@nx"}, cmd...)...)
			if r.Code != 3 || !strings.Contains(r.Stderr, "node nx") {
				t.Errorf("%v on @s@nx (no such node): want exit 3 naming node nx:\n%s", cmd, r)
			}
			t.Logf("%v on an unknown node: exit %d after %s", cmd, r.Code, time.Since(start).Round(time.Millisecond))
		}
		if r := b.run("events", "--session", "s@nx"); r.Code != 3 || !strings.Contains(r.Stderr, "node nx") {
			t.Errorf("events --session s@nx: want exit 3 naming node nx:\n%s", r)
		}
		if r := b.run("events", "--session", "s@n.a"); r.Code != 1 {
			t.Errorf("events --session s@n.a: want exit 1:\n%s", r)
		}
	})
}

func seqsOf(evs []events.Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// TestCluster_SessionCommandsNeedNATSPermission: node B's user may not publish on
// mcpctl.rpc.>, so none of the session commands reaches node A's session (exit 4, as a
// remote call), while A's own commands work.
func TestCluster_SessionCommandsNeedNATSPermission(t *testing.T) {
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
	a.connectTest("s")
	a.appendLog("s", "a line only node A's user may read")

	for _, args := range [][]string{
		{"@s@na", "info"}, {"@s@na", "logs"}, {"@s@na", "logs", "-f"}, {"@s@na", "history"}, {"@s@na", "wait", "--for", "ready"},
		{"@s@na", "proxy"}, {"events", "--session", "s@na"},
	} {
		r := b.runIn([]byte{}, append([]string{"--timeout", "20s"}, args...)...)
		if r.Code != 4 || strings.Contains(r.Stdout, "node A's user") || !strings.Contains(r.Stderr, "does not allow this client") {
			t.Errorf("mcpctl %v from a client without publish permission on mcpctl.rpc.>: want exit 4:\n%s", args, r)
		}
	}
	if r := a.ok("@s", "logs"); !strings.Contains(r.Stdout, "node A's user") {
		t.Errorf("the owner's logs:\n%s", r)
	}
}
