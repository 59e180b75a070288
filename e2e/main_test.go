// Package e2e runs the real mcpctl binary as separate processes against real MCP servers,
// on one shared MCPCTL_HOME by default (the hard case: one hub, many sessions, many CLI
// processes at once). Every test asserts what the user sees and what the log recorded.
//
// Servers: our own e2e/mcptestserver (built by TestMain), and the MCP reference server
// @modelcontextprotocol/server-everything from npm, pinned in e2e/package.json and
// installed with `(cd e2e && npm ci)` (.ci/run does it). Without node or the package its
// tests fail when CI is set and are skipped otherwise.
//
// Running it:
//
//	go test ./e2e                              # the suite (CI: go test -race -count=1 ./...)
//	go test ./e2e -count=10                    # flake hunting: the whole suite 10 times in one run
//	go test ./e2e -run 'Storms|Chaos' -count=5 -storms.rounds=5
//	go test ./e2e -run Chaos -v -chaos.rounds=200 -chaos.duration=15m -chaos.seed=N
//	go test ./e2e -run X -keep-home            # keep the homes under $TMPDIR/mcpctl-e2e-*
//	MCPCTL_E2E_SERVER_PROTOCOL=2026-07-28 go test ./e2e   # every mcptestserver speaks only that revision (or 2025-11-25)
//
// Test flags go after the package (go test stops reading its own flags at the first one it
// does not know). The chaos test prints its seed; -chaos.seed replays the same schedule.
// At the end TestMain fails the run if any process it started (marked with E2E_MCPCTL_RUN
// in its environment, so servers are found too) is still running, and kills it.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

var (
	mcpctlBin  string // the built CLI
	serverBin  string // the built MCP test server
	sharedHome string // the MCPCTL_HOME most tests share
	workDir    string
)

// The suite's server mode: MCPCTL_E2E_SERVER_PROTOCOL=2025-11-25 or 2026-07-28 builds
// mcptestserver so that it speaks only that revision (its --protocol-only); unset, it is
// the server's default (the initialize handshake; server/discover only with --modern).
const (
	serverProtocolEnv = "MCPCTL_E2E_SERVER_PROTOCOL"
	protocolLegacy    = "2025-11-25"
	protocolModern    = "2026-07-28"
)

// serverProtocol is the revision every mcptestserver of this run speaks ("" for the default).
var serverProtocol string

// skipIfServerSpeaks skips a test about behaviour that revision does not have, when the
// run's servers speak only that revision.
func skipIfServerSpeaks(t testing.TB, revision, why string) {
	t.Helper()
	if serverProtocol == revision {
		t.Skipf("%s=%s: %s", serverProtocolEnv, revision, why)
	}
}

// resourceNotFound is the code the run's servers give an unknown resource: -32002, which
// 2026-07-28 replaced with -32602 (invalid params).
func resourceNotFound() string {
	if serverProtocol == protocolModern {
		return "-32602"
	}
	return "-32002"
}

var keepHome = flag.Bool("keep-home", false, "keep the shared home after the run (for debugging)")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	workDir, err = os.MkdirTemp("", "mcpctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if !*keepHome {
			os.RemoveAll(workDir)
		}
	}()
	mcpctlBin = filepath.Join(workDir, "mcpctl")
	serverBin = filepath.Join(workDir, "mcptestserver")
	serverProtocol = os.Getenv(serverProtocolEnv)
	switch serverProtocol {
	case "", protocolLegacy, protocolModern:
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: want %s, %s or unset\n", serverProtocolEnv, serverProtocol, protocolLegacy, protocolModern)
		return 2
	}
	if serverProtocol != "" {
		fmt.Fprintf(os.Stderr, "e2e: every mcptestserver speaks only protocol %s (%s)\n", serverProtocol, serverProtocolEnv)
	}
	for bin, pkg := range map[string]string{mcpctlBin: "../cmd/mcpctl",
		filepath.Join(workDir, "mcpctld"): "../cmd/mcpctld", serverBin: "./mcptestserver",
		filepath.Join(workDir, "subprobe"): "./subprobe"} {
		args := []string{"build", "-o", bin}
		if bin == serverBin {
			// The server's --protocol-only default: every command line that starts it, in
			// tests, scripts and configs alike, gets the mode without naming it.
			args = append(args, "-ldflags", "-X main.defaultProtocolOnly="+serverProtocol)
		}
		out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	// Short home path: bridge sockets live under it and sun_path is 108 bytes.
	sharedHome = filepath.Join(workDir, "h")
	// Every process the suite starts inherits this, so the leftover check below also finds
	// servers whose command line and MCPCTL_HOME say nothing of workDir (node, npm).
	os.Setenv(runMarker, workDir)
	code := m.Run()
	stopHub(sharedHome)
	// Processes ending by themselves (a bridge's server group, a killed hub's children) get
	// a moment; what is still there then was left behind, and is killed after the report.
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(pidsUnder(workDir)) > 0 && time.Now().Before(deadline) {
		<-tick.C
	}
	if left := leftoverProcesses(workDir); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: processes left behind after the suite:\n  %s\n", strings.Join(left, "\n  "))
		for _, p := range pidsUnder(workDir) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}

// runMarker names the environment variable that marks the processes of this run. It is not
// an MCPCTL_* name: stdio servers get the connecting CLI's environment without those, and
// the marker must reach them. (The hub and bridges do not get it; their MCPCTL_HOME marks them.)
const runMarker = "E2E_MCPCTL_RUN"

// homeMarker names the variable that marks what a CLI on a home started: stdio servers get
// the connecting CLI's environment but not its MCPCTL_HOME, so this is how pidsUnder(home)
// finds them.
const homeMarker = "E2E_MCPCTL_HOME"

// stopHub ends a home's hub and every bridge started from it, as a user cleaning up would.
func stopHub(home string) {
	// The node the tests' sessions are on (env.cmd): clean --all closes only this node's.
	cmd := exec.Command(mcpctlBin, "clean", "--all")
	cmd.Env = append(os.Environ(), "MCPCTL_HOME="+home, "MCPCTL_NODE=e2e")
	_ = cmd.Run()
	// Closed bridges learn of it from the hub: one that lost its hub earlier (a test
	// killed or stopped it) needs the running one a little longer to see it.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) && len(homeBridges(home)) > 0 {
		<-tick.C
	}
	cmd = exec.Command(mcpctlBin, "hub", "stop")
	cmd.Env = append(os.Environ(), "MCPCTL_HOME="+home, "MCPCTL_NODE=e2e")
	_ = cmd.Run()
	// Bridges exit by themselves once closed; wait for them, then make sure.
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(leftoverProcesses(home)) > 0 {
		<-tick.C
	}
	for _, p := range pidsUnder(home) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// homeBridges lists the live bridge processes of exactly this home, of any session.
func homeBridges(home string) []int {
	var out []int
	for _, p := range pidsUnder(home) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p))
		if args := strings.Split(string(b), "\x00"); len(args) > 1 && args[1] == "bridge" &&
			bytes.Contains(append([]byte{0}, env...), []byte("\x00MCPCTL_HOME="+home+"\x00")) {
			out = append(out, p)
		}
	}
	return out
}

// pidsUnder lists processes whose command line or environment mentions dir (our binaries
// live there, every process we start gets MCPCTL_HOME or the home marker under it, and the
// run's marker is workDir).
func pidsUnder(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		environ, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue // a zombie is not running; its parent reaps it
		}
		environ = append([]byte{0}, environ...)
		if bytes.Contains(cmdline, []byte(dir)) || bytes.Contains(environ, []byte("\x00MCPCTL_HOME="+dir+"\x00")) ||
			bytes.Contains(environ, []byte("\x00MCPCTL_HOME="+dir+"/")) ||
			bytes.Contains(environ, []byte("\x00"+homeMarker+"="+dir+"\x00")) ||
			bytes.Contains(environ, []byte("\x00"+homeMarker+"="+dir+"/")) ||
			bytes.Contains(environ, []byte("\x00"+runMarker+"="+dir+"\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func leftoverProcesses(dir string) []string {
	var out []string
	for _, p := range pidsUnder(dir) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		out = append(out, fmt.Sprintf("%d %s", p, strings.ReplaceAll(string(b), "\x00", " ")))
	}
	return out
}

// ---- running the CLI

// env is one MCPCTL_HOME (and node) the CLI runs against.
type env struct {
	t     testing.TB
	home  string
	node  string
	extra []string // more environment, e.g. MCPCTL_NATS_* of a cluster node
}

// shared returns the suite's shared home.
func shared(t testing.TB) *env {
	return &env{t: t, home: sharedHome, node: "e2e"}
}

// isolated returns a fresh home of the test's own; its hub is stopped at cleanup.
func isolated(t testing.TB) *env {
	t.Helper()
	dir, err := os.MkdirTemp(workDir, "i")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, home: dir, node: "e2e"}
	t.Cleanup(func() { stopHub(dir) })
	return e
}

type result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

func (r result) String() string {
	return fmt.Sprintf("mcpctl %s\n  exit %d\n  stdout: %s\n  stderr: %s", strings.Join(r.Args, " "), r.Code,
		strings.TrimSpace(r.Stdout), strings.TrimSpace(r.Stderr))
}

// cmd prepares mcpctl with args on this home.
func (e *env) cmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, mcpctlBin, args...)
	cmd.Env = append(os.Environ(), "MCPCTL_HOME="+e.home, "MCPCTL_NODE="+e.node, "NO_COLOR=1", homeMarker+"="+e.home)
	cmd.Env = append(cmd.Env, e.extra...)
	return cmd
}

// run runs mcpctl and returns what it printed and its exit code.
func (e *env) run(args ...string) result {
	return e.runIn(nil, args...)
}

func (e *env) runIn(stdin []byte, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.cmd(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{Args: args, Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("mcpctl %v: %v", args, err)
	}
	return r
}

// ok runs mcpctl and fails the test unless it exits 0.
func (e *env) ok(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.Code != 0 {
		e.t.Fatalf("want exit 0:\n%s", r)
	}
	return r
}

// jsonOK runs mcpctl --json and decodes stdout into v.
func (e *env) jsonOK(v any, args ...string) result {
	e.t.Helper()
	r := e.ok(append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(r.Stdout), v); err != nil {
		e.t.Fatalf("decode JSON of %s: %v", r, err)
	}
	return r
}

// events returns the log's events as `mcpctl events --json` prints them.
func (e *env) events(args ...string) []events.Event {
	e.t.Helper()
	r := e.ok(append([]string{"events", "--json"}, args...)...)
	var out []events.Event
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if line == "" {
			continue
		}
		var ev events.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			e.t.Fatalf("decode event line %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

// sessionEvents returns one session's events, optionally of some kinds.
func (e *env) sessionEvents(session string, kinds ...events.Kind) []events.Event {
	e.t.Helper()
	args := []string{"--session", session}
	for _, k := range kinds {
		args = append(args, "--type", string(k))
	}
	return e.events(args...)
}

// session returns the listed state of one session (the KV, through `mcpctl sessions`).
func (e *env) session(name string) (projector.Session, bool) {
	e.t.Helper()
	var list []projector.Session
	e.jsonOK(&list, "sessions")
	for _, s := range list {
		if s.Name == name {
			return s, true
		}
	}
	return projector.Session{}, false
}

// connectTest opens a stdio session to the Go test server with its own calls log and
// returns the log's path.
func (e *env) connectTest(name string, extra ...string) string {
	e.t.Helper()
	calls := filepath.Join(workDir, "calls-"+name+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".log")
	args := append([]string{"connect", "@" + name}, extra...)
	args = append(args, "--", serverBin, "--calls-log", calls)
	e.ok(args...)
	e.t.Cleanup(func() { e.run("close", "@"+name) })
	return calls
}

// ---- polling

// ---- the machine

// bridgePIDs lists the live `mcpctl bridge` processes of a session on a home.
func bridgePIDs(home, session string) []int {
	var pids []int
	for _, p := range pidsUnder(home) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) >= 4 && args[1] == "bridge" {
			for i, a := range args {
				if a == "--session" && i+1 < len(args) && args[i+1] == session {
					pids = append(pids, p)
				}
			}
		}
	}
	return pids
}

// sockets lists the socket files of a session under a home.
func sockets(home, session string) []string {
	m, _ := filepath.Glob(filepath.Join(home, "bridges", session+".*.sock"))
	return m
}

// countCalls counts the lines of a calls log for one tool.
func countCalls(t testing.TB, path, tool string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		var c struct{ Tool string }
		if json.Unmarshal([]byte(line), &c) == nil && c.Tool == tool {
			n++
		}
	}
	return n
}

func countKind(evs []events.Event, k events.Kind) int {
	n := 0
	for _, e := range evs {
		if e.Type == k {
			n++
		}
	}
	return n
}

// uniqueName returns a session name unique to the test.
func uniqueName(t testing.TB) string {
	n := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	return strings.Trim(n, "-") + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
}
