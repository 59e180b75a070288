package e2e

// The permission sets of docs/cluster.md ("Permissions per role"), loaded from the page and
// given to users of a decentralized-auth cluster: each role does what it may, and what it
// may not is refused with exit 4 naming the subject, with nothing appended.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
)

// reRolesBlock is the fenced block after the marker comment in docs/cluster.md.
var reRolesBlock = regexp.MustCompile("(?s)<!-- mcpctl-roles:[^>]*-->\\s*```\\n(.*?)```")

// docRoles reads the roles' permissions from docs/cluster.md as nats-server reads them.
func docRoles(t *testing.T) map[string]*server.Permissions {
	t.Helper()
	compose, err := jstest.FindCompose()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(compose), "docs", "cluster.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := reRolesBlock.FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/cluster.md has no mcpctl-roles block")
	}
	conf := filepath.Join(t.TempDir(), "roles.conf")
	vars := "LAPTOP_PASSWORD: a\nCI_PASSWORD: b\nOPS_PASSWORD: c\n"
	must(t, os.WriteFile(conf, []byte(vars+string(m[1])), 0o600))
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("the roles block of docs/cluster.md is no valid nats.conf: %v", err)
	}
	out := map[string]*server.Permissions{}
	for _, u := range opts.Users {
		out[u.Username] = u.Permissions
	}
	return out
}

// userJWTPermissions is a nats.conf permission set as a user JWT carries it.
func userJWTPermissions(p *server.Permissions) *jwt.Permissions {
	var jp jwt.Permissions
	if p.Publish != nil {
		jp.Pub.Allow, jp.Pub.Deny = p.Publish.Allow, p.Publish.Deny
	}
	if p.Subscribe != nil {
		jp.Sub.Allow, jp.Sub.Deny = p.Subscribe.Allow, p.Subscribe.Deny
	}
	if p.Response != nil {
		jp.Resp = &jwt.ResponsePermission{MaxMsgs: p.Response.MaxMsgs, Expires: p.Response.Expires}
	}
	return &jp
}

func TestCluster_PermissionsPerRole(t *testing.T) {
	roles := docRoles(t)
	for _, name := range []string{"laptop", "ci", "ops"} {
		if roles[name] == nil {
			t.Fatalf("docs/cluster.md has no permissions for the role %s", name)
		}
		for _, s := range roles[name].Publish.Allow {
			if s == "$JS.API.>" || s == ">" || s == "$JS.>" {
				t.Errorf("role %s may publish to %s", name, s)
			}
		}
	}
	op := jstest.NewOperator(t)
	c := jstest.StartSecureCluster(t, jstest.Security{Operator: op})
	node := func(name string) *cnode {
		return newCNode(t, name, "MCPCTL_NATS_URL="+c.URL(), "MCPCTL_NATS_CREDS="+op.Creds(t, name, userJWTPermissions(roles[name])))
	}
	laptop, ci, ops := node("laptop"), node("ci"), node("ops")
	calls := laptop.connectTest("s")

	refused := func(t *testing.T, n *cnode, subject string, args ...string) {
		t.Helper()
		before := laptop.events("s")
		r := n.run(append([]string{"--timeout", "20s"}, args...)...)
		if r.Code != 4 || !strings.Contains(r.Stderr, subject) {
			t.Errorf("%s as %s: want exit 4 naming %s:\n%s", strings.Join(args, " "), n.node, subject, r)
		}
		if after := laptop.events("s"); len(after) != len(before) {
			t.Errorf("%s as %s: %d events appended to laptop's session", strings.Join(args, " "), n.node, len(after)-len(before))
		}
	}
	add := func(n *cnode, target string, a, b int) {
		if r := n.ok(target, "tools-call", "add", fmt.Sprintf("a:=%d", a), fmt.Sprintf("b:=%d", b)); strings.TrimSpace(r.Stdout) != fmt.Sprint(a+b) {
			t.Errorf("%s as %s:\n%s", target, n.node, r)
		}
	}

	t.Run("node: its own sessions, calls, restarts", func(t *testing.T) {
		add(t2(laptop, t), "@s", 1, 2)
		laptop.ok("restart", "@s")
	})
	t.Run("every role reads the sessions and the log", func(t *testing.T) {
		for _, n := range []*cnode{laptop, ci, ops} {
			if s := t2(n, t).session("laptop", "s"); s.Status != "ready" {
				t.Errorf("%s sees s@laptop %s, want ready", n.node, s.Status)
			}
			t2(n, t).ok("events", "--json", "-n", "5")
			t2(n, t).ok("history", "@s@laptop")
			t2(n, t).ok("logs", "@s@laptop", "-n", "5") // streamed by laptop's hub to n's inbox
		}
		laptop.ok("history", "@s")
		laptop.ok("wait", "@s", "--for", "ready")
	})
	t.Run("caller: calls laptop's session", func(t *testing.T) {
		add(t2(ci, t), "@s@laptop", 20, 22)
		if n := countCalls(t, calls, "add"); n != 2 {
			t.Errorf("calls log has %d add calls, want 2", n)
		}
	})
	t.Run("caller: may not restart or close laptop's session", func(t *testing.T) {
		refused(t, t2(ci, t), "mcpctl.ev.laptop.s.restart_requested", "restart", "@s@laptop")
		refused(t, t2(ci, t), "mcpctl.ev.laptop.s.closed", "close", "@s@laptop")
	})
	t.Run("operator: may not call laptop's session", func(t *testing.T) {
		r := t2(ops, t).run("--timeout", "20s", "@s@laptop", "tools-call", "add", "a:=1", "b:=1")
		if r.Code != 4 || !strings.Contains(r.Stderr, "mcpctl.rpc.laptop.s") {
			t.Errorf("a call as ops: want exit 4 naming mcpctl.rpc.laptop.s:\n%s", r)
		}
		if n := countCalls(t, calls, "add"); n != 2 {
			t.Errorf("calls log has %d add calls, want 2", n)
		}
		if r := t2(ops, t).run("--timeout", "20s", "@s@laptop", "info"); r.Code != 4 || !strings.Contains(r.Stderr, "mcpctl.rpc.laptop.s") {
			t.Errorf("info as ops (it asks the bridge): want exit 4 naming mcpctl.rpc.laptop.s:\n%s", r)
		}
	})
	t.Run("operator: restarts and closes laptop's session", func(t *testing.T) {
		before := laptop.session("laptop", "s")
		t2(ops, t).ok("restart", "@s@laptop")
		if after := laptop.session("laptop", "s"); after.Generation != before.Generation+1 {
			t.Errorf("after ops' restart: generation %d, want %d", after.Generation, before.Generation+1)
		}
		t2(ops, t).ok("close", "@s@laptop")
		var kinds []events.Kind
		for _, ev := range laptop.events("s") {
			kinds = append(kinds, ev.Type)
		}
		if !slices.Contains(kinds, events.KindClosed) {
			t.Errorf("no closed event after ops' close: %v", kinds)
		}
	})
}

// t2 is n reporting to the subtest t.
func t2(n *cnode, t testing.TB) *cnode {
	return &cnode{&env{t: t, home: n.home, node: n.node, extra: n.extra}}
}

// TestSampleConfigs_GrantNoWholeJetStreamAPI: no configuration in the compose file, the
// README or docs/ lets a user publish to the whole JetStream API.
func TestSampleConfigs_GrantNoWholeJetStreamAPI(t *testing.T) {
	compose, err := jstest.FindCompose()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(compose)
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, compose, filepath.Join(root, "README.md"))
	grant := regexp.MustCompile(`["']\$+JS\.(API\.)?>["']`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range grant.FindAll(b, -1) {
			t.Errorf("%s grants %s", f, m)
		}
	}
}
