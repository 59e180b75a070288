package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/jetstream"
)

// The hostile neighbour is another uid on the same machine. The test creates one (as root,
// with useradd) and runs the probes below as that user: it must not reach a bridge, read the
// hub token, or publish to the hub.
const neighbourUser = "mcpctl-e2e-nb"

// neighbour returns the uid/gid of a second local user, creating it when running as root.
func neighbour(t *testing.T) (uid, gid uint32) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("hostile-neighbour tests need root in CI (to create a second user); running as uid %d", os.Geteuid())
		}
		t.Skipf("hostile-neighbour tests need root to create a second user (running as uid %d)", os.Geteuid())
	}
	u, err := user.Lookup(neighbourUser)
	if err != nil {
		useradd, lerr := exec.LookPath("useradd")
		if lerr != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("useradd not found: cannot create the second user")
			}
			t.Skip("useradd not found: cannot create a second user")
		}
		if out, err := exec.Command(useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", neighbourUser).CombinedOutput(); err != nil &&
			!strings.Contains(string(out), "already exists") {
			t.Fatalf("useradd %s: %v\n%s", neighbourUser, err, out)
		}
		if u, err = user.Lookup(neighbourUser); err != nil {
			t.Fatal(err)
		}
	}
	id, _ := strconv.Atoi(u.Uid)
	g, _ := strconv.Atoi(u.Gid)
	return uint32(id), uint32(g)
}

// asNeighbour runs the probe as the other user and returns its output.
func asNeighbour(t *testing.T, uid, gid uint32, env ...string) string {
	t.Helper()
	// The test binary lives in a directory only root can enter: give the neighbour a copy.
	dir, err := os.MkdirTemp("", "mcpctl-nb-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "probe")
	if out, err := exec.Command("go", "build", "-o", bin, "./hostileprobe").CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "PATH=/usr/bin:/bin"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("probe as uid %d: %v\n%s", uid, err, out)
	}
	return string(out)
}

// TestHostile_AnotherUserCannotReachBridgeTokenOrHub: with the home as mcpctl makes it, the
// other user cannot connect to the bridge socket, read the token or publish to the hub; and
// when the socket is made reachable by hand (home 0711, socket 0777), the bridge still
// refuses the connection because of its peer-uid check.
func TestHostile_AnotherUserCannotReachBridgeTokenOrHub(t *testing.T) {
	uid, gid := neighbour(t)
	t.Parallel()
	e := isolated(t)
	e.ok("connect", "@t", "--", serverBin)
	socks := sockets(e.home, "t")
	if len(socks) != 1 {
		t.Fatalf("sockets of @t: %v", socks)
	}
	addr, err := jetstream.ReadAddress(filepath.Join(e.home, "hub.json"))
	must(t, err)
	before := len(e.events())

	out := asNeighbour(t, uid, gid, "MCPCTL_HOSTILE_SOCKET="+socks[0], "MCPCTL_HOSTILE_TOKEN="+filepath.Join(e.home, "hub.token"),
		"MCPCTL_HOSTILE_NATS="+addr.URL)
	for _, want := range []string{"socket: dial error", "permission denied", "token: read error", "nats: connect error"} {
		if !strings.Contains(out, want) {
			t.Errorf("the other user's probe does not show %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"ANSWERED", "READ ", "CONNECTED"} {
		if strings.Contains(out, bad) {
			t.Errorf("the other user got through (%s):\n%s", bad, out)
		}
	}

	t.Run("peer uid check behind open modes", func(t *testing.T) {
		// Simulate a careless chmod: the file modes no longer protect the socket.
		for dir := filepath.Dir(e.home); dir != "/"; dir = filepath.Dir(dir) {
			fi, err := os.Stat(dir)
			must(t, err)
			if mode := fi.Mode().Perm(); mode&0o001 == 0 {
				must(t, os.Chmod(dir, mode|0o011))
				t.Cleanup(func() { _ = os.Chmod(dir, mode) })
			}
		}
		must(t, os.Chmod(e.home, 0o711))
		must(t, os.Chmod(filepath.Join(e.home, "bridges"), 0o711))
		must(t, os.Chmod(socks[0], 0o777))
		t.Cleanup(func() {
			_ = os.Chmod(socks[0], 0o600)
			_ = os.Chmod(filepath.Join(e.home, "bridges"), 0o700)
			_ = os.Chmod(e.home, 0o700)
		})
		out := asNeighbour(t, uid, gid, "MCPCTL_HOSTILE_SOCKET="+socks[0])
		if strings.Contains(out, "ANSWERED") || !strings.Contains(out, "socket: no answer") {
			t.Errorf("the bridge served (or did not refuse) another uid:\n%s", out)
		}
	})
	// The bridge still serves its owner and nothing was recorded on behalf of the neighbour.
	e.ok("@t", "ping")
	if after := len(e.events()); after != before {
		t.Errorf("the neighbour's attempts changed the log: %d → %d events", before, after)
	}
}

// TestHostile_HomeAndFileModes: what mcpctl creates is private (home, bridges, secrets, logs
// 0700; token, secrets files, sockets 0600), and a home that others can enter is refused with
// the chmod that fixes it — by commands and by doctor.
func TestHostile_HomeAndFileModes(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.ok("connect", "@m", "-e", "MCPTEST_SECRET=s3cr3t-mode", "--", serverBin)
	want := map[string]os.FileMode{
		".": 0o700, "bridges": 0o700, "secrets": 0o700, "logs": 0o700, "hub.token": 0o600,
	}
	for rel, mode := range want {
		fi, err := os.Stat(filepath.Join(e.home, rel))
		must(t, err)
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %04o, want %04o", rel, fi.Mode().Perm(), mode)
		}
	}
	for _, pattern := range []string{"secrets/*", "bridges/*.sock"} {
		m, _ := filepath.Glob(filepath.Join(e.home, pattern))
		if len(m) == 0 {
			t.Errorf("no %s", pattern)
		}
		for _, p := range m {
			fi, err := os.Stat(p)
			must(t, err)
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s has mode %04o: others can reach it", p, fi.Mode().Perm())
			}
		}
	}

	must(t, os.Chmod(e.home, 0o755))
	t.Cleanup(func() { _ = os.Chmod(e.home, 0o700) })
	for _, args := range [][]string{{"sessions"}, {"@m", "ping"}, {"connect", "@n", "--", serverBin}} {
		r := e.run(args...)
		if r.Code != 1 || !strings.Contains(r.Stderr, "mode 0755") || !hasHint(r.Stderr, "chmod 700 "+e.home) {
			t.Errorf("with a 0755 home: want exit 1 naming the mode and `chmod 700 %s`:\n%s", e.home, r)
		}
	}
	r := e.run("doctor")
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "chmod 700 "+e.home) {
		t.Errorf("doctor with a 0755 home: want a failure naming `chmod 700 %s`:\n%s", e.home, r)
	}
	must(t, os.Chmod(e.home, 0o700))
	e.ok("@m", "ping")
}

// TestSecrets_NotInAnyProcessEnvironmentOrArgv complements TestSecrets_NeverLeaveTheSecretsFile
// (events, KV, files, logs, argv): a header value and an env value given to connect appear in
// no process's environment or argv — not the CLI's children, the hub's, or the bridges' —
// except the stdio MCP server's own environment, where the env value is meant to be. The
// server's environment has no MCPCTL_* variable at all (it is the connecting CLI's, filtered).
func TestSecrets_NotInAnyProcessEnvironmentOrArgv(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	envValue, header := "env-leak-"+suffix, "hdr-leak-"+suffix
	e.ok("connect", "@envs", "-e", "MCPTEST_SECRET="+envValue, "--", serverBin)
	url, srv := startHTTPServer(t, "--require-header", "X-Secret-Token="+header)
	e.ok("connect", url, "@hdrs", "-H", "X-Secret-Token: "+header)
	e.ok("restart", "@envs")
	e.ok("@envs", "ping")
	e.ok("@hdrs", "ping")

	// The home's processes, and the bridges' servers: those get the connecting CLI's
	// environment, without MCPCTL_HOME, so pidsUnder does not see them.
	pids := pidsUnder(e.home)
	for _, b := range homeBridges(e.home) {
		for _, c := range childrenOf(b) {
			if !slices.Contains(pids, c) {
				pids = append(pids, c)
			}
		}
	}
	checked, seenInServer := 0, false
	for _, pid := range pids {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		isServer := strings.HasPrefix(string(cmdline), serverBin+"\x00") || string(cmdline) == serverBin
		if isServer && strings.Contains(string(environ), envValue) {
			seenInServer = true
		}
		if isServer && strings.Contains("\x00"+string(environ), "\x00MCPCTL_") {
			t.Errorf("pid %d (the stdio server) has an MCPCTL_* variable in its environment", pid)
		}
		for _, v := range []string{envValue, header} {
			if strings.Contains(string(cmdline), v) {
				t.Errorf("pid %d (%s) has a secret in its argv", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
			if strings.Contains(string(environ), v) && !(isServer && v == envValue) {
				t.Errorf("pid %d (%s) has a secret in its environment", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
		}
		checked++
	}
	if checked < 3 || !seenInServer {
		// The probe must be able to see a secret where it belongs, or it proves nothing.
		t.Fatalf("checked %d processes; env value seen in the stdio server's environment: %v", checked, seenInServer)
	}
	_ = srv
}
