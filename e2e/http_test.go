package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

// TestHTTP_ExpiredSessionIsRecordedAndRestartGetsANewOne: the server forgets the MCP
// session (404, or 400 "unknown session"); the bridge records expired and exits, and
// `mcpctl restart` opens a new MCP session that works.
func TestHTTP_ExpiredSessionIsRecordedAndRestartGetsANewOne(t *testing.T) {
	skipIfServerSpeaks(t, protocolModern, "no MCP sessions (Mcp-Session-Id) to expire in that revision")
	t.Parallel()
	for _, mode := range []string{"404", "400"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := shared(t)
			name := uniqueName(t)
			// 3 POSTs per MCP session: initialize, initialized, one call.
			url, _ := startHTTPServer(t, "--expire-after", "3", "--expire-mode", mode)
			e.ok("connect", url, "@"+name)
			t.Cleanup(func() { e.run("close", "@"+name) })
			first, _ := e.session(name)
			if first.MCPSessionID == "" {
				t.Fatalf("no mcp_session_id recorded for an HTTP session: %+v", first)
			}
			if r := e.ok("@"+name, "tools-call", "add", "a:=1", "b:=2"); strings.TrimSpace(r.Stdout) != "3" {
				t.Fatalf("first call:\n%s", r)
			}
			r := e.run("@"+name, "tools-call", "add", "a:=1", "b:=2")
			// The bridge may exit (expired) before it answers the call in flight; then the
			// CLI can only say the bridge went away. Either way: exit 3, never a server error.
			if r.Code != 3 || !(strings.Contains(r.Stderr, "expired") || strings.Contains(r.Stderr, "the bridge went away")) {
				t.Fatalf("the call the server refused: want exit 3 saying expired\n%s", r)
			}
			testwait.For(t, 5*time.Second, func() error {
				if s, _ := e.session(name); s.Status != projector.StatusExpired || s.Bridge != nil {
					return fmt.Errorf("status %s bridge %+v, want expired without a bridge", s.Status, s.Bridge)
				}
				return nil
			})
			evs := e.sessionEvents(name)
			assertOrder(t, evs, step{events.KindBridgeReady, first.Generation}, step{events.KindExpired, first.Generation},
				step{events.KindBridgeExited, first.Generation})
			if n := countKind(evs, events.KindRestartRequested); n != 0 {
				t.Fatalf("an expired session was restarted without being asked: %v", kindsOf(evs))
			}

			var rr struct {
				Started    bool   `json:"started"`
				Generation uint64 `json:"generation"`
			}
			e.jsonOK(&rr, "restart", "@"+name)
			if !rr.Started || rr.Generation != first.Generation+1 {
				t.Fatalf("restart of an expired session: %+v, want started generation %d", rr, first.Generation+1)
			}
			if r := e.ok("@"+name, "tools-call", "add", "a:=2", "b:=2"); strings.TrimSpace(r.Stdout) != "4" {
				t.Fatalf("call after the restart:\n%s", r)
			}
			second, _ := e.session(name)
			if second.MCPSessionID == "" || second.MCPSessionID == first.MCPSessionID {
				t.Fatalf("mcp_session_id after restart %q, before %q: want a new one", second.MCPSessionID, first.MCPSessionID)
			}
		})
	}
}

// TestSecrets_NeverLeaveTheSecretsFile connects an HTTP session with a secret header and a
// stdio session with a secret env value, proves with whoami that both reached the server,
// and then looks for the values everywhere else: the events, the listing (the KV), every
// file under the home but secrets/, the logs, and every process's command line.
func TestSecrets_NeverLeaveTheSecretsFile(t *testing.T) {
	t.Parallel()
	e := shared(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	header := "s3cr3t-VALUE-" + suffix
	envValue := "env-s3cr3t-" + suffix
	hname, sname := uniqueName(t)+"-h", uniqueName(t)+"-s"

	url, srv := startHTTPServer(t, "--require-header", "X-Secret-Token="+header)
	// Without the header the server refuses: the header is what gets us in.
	r := e.run("connect", url, "@"+hname+"-noauth")
	if r.Code != 4 {
		t.Fatalf("connect without the required header: want exit 4 (auth)\n%s", r)
	}
	e.ok("connect", url, "@"+hname, "-H", "X-Secret-Token: "+header)
	t.Cleanup(func() { e.run("close", "@"+hname) })
	e.ok("connect", "@"+sname, "-e", "MCPTEST_SECRET="+envValue, "--", serverBin)
	t.Cleanup(func() { e.run("close", "@"+sname) })
	// A key in the URL's query is as secret as a header: the server needs it, nothing
	// else may show it.
	query := "q-s3cr3t-" + suffix
	qname := uniqueName(t) + "-q"
	qurl, qsrv := startHTTPServer(t, "--require-query", "api_key="+query)
	if r := e.run("connect", qurl, "@"+qname+"-noauth"); r.Code != 4 {
		t.Fatalf("connect without the query: want exit 4 (auth)\n%s", r)
	}
	e.ok("connect", qurl+"?api_key="+query+"&v=2", "@"+qname)
	t.Cleanup(func() { e.run("close", "@"+qname) })
	e.ok("@"+qname, "tools-call", "echo", "text:=q")
	e.ok("restart", "@"+qname)
	e.ok("@"+qname, "tools-call", "echo", "text:=q")
	if s, ok := e.session(qname); !ok || !strings.HasSuffix(s.Server.URL, "?api_key=REDACTED&v=REDACTED") {
		t.Errorf("@%s lists URL %q, want the query's values REDACTED", qname, s.Server.URL)
	}

	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	var who struct {
		Headers map[string]string `json:"headers"`
		Env     map[string]string `json:"env"`
	}
	whoami := func(session string) {
		r := e.ok("@"+session, "tools-call", "whoami")
		who.Headers, who.Env = nil, nil
		if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &who); err != nil {
			t.Fatalf("whoami output: %v\n%s", err, r)
		}
	}
	whoami(hname)
	if got := who.Headers["X-Secret-Token"]; got != sum(header) {
		t.Fatalf("the server saw X-Secret-Token hashed %q, want the hash of our value %q", got, sum(header))
	}
	whoami(sname)
	if got := who.Env["MCPTEST_SECRET"]; got != sum(envValue) {
		t.Fatalf("the server saw MCPTEST_SECRET hashed %q, want the hash of our value %q", got, sum(envValue))
	}
	// A restart reads the secrets again from their file.
	e.ok("restart", "@"+hname)
	whoami(hname)
	if got := who.Headers["X-Secret-Token"]; got != sum(header) {
		t.Fatalf("after restart the server saw X-Secret-Token hashed %q, want %q", got, sum(header))
	}

	secrets := []string{header, envValue, query}
	leak := func(where, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("secret %q appears in %s", s, where)
			}
		}
	}
	leak("mcpctl events --json", e.ok("events", "--json").Stdout)
	leak("mcpctl sessions --json", e.ok("--json", "sessions").Stdout)
	leak("mcpctl @"+hname+" --json", e.ok("--json", "@"+hname).Stdout)
	leak("mcpctl @"+hname+" logs", e.ok("@"+hname, "logs", "-n", "0").Stdout)
	leak("mcpctl @"+sname+" logs", e.ok("@"+sname, "logs", "-n", "0").Stdout)
	leak("mcpctl @"+qname+" logs", e.ok("@"+qname, "logs", "-n", "0").Stdout)
	leak("mcpctl @"+qname+" --json", e.ok("--json", "@"+qname).Stdout)
	for _, session := range []string{hname, sname} {
		var s projector.Session
		for _, ev := range e.sessionEvents(session, events.KindCreated) {
			if ev.Server != nil {
				s.Server = *ev.Server
			}
		}
		if len(s.Server.HeaderNames)+len(s.Server.EnvNames) != 1 {
			t.Errorf("@%s created event names %v %v, want the one secret's name", session, s.Server.HeaderNames, s.Server.EnvNames)
		}
	}
	secretsDir := filepath.Join(e.home, "secrets")
	found := 0
	err := filepath.WalkDir(e.home, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // files come and go under a live home
		}
		if d.IsDir() {
			if path == secretsDir {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		leak(path, string(b))
		found++
		return nil
	})
	if err != nil || found == 0 {
		t.Fatalf("walk %s: %v (%d files)", e.home, err, found)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if p == fmt.Sprintf("/proc/%d/cmdline", srv.Process.Pid) || p == fmt.Sprintf("/proc/%d/cmdline", qsrv.Process.Pid) {
			continue // the test server is told the value it requires on its command line
		}
		b, _ := os.ReadFile(p)
		leak(p, string(b))
	}
	// The values are in the secrets directory, and only there.
	var inSecrets int
	_ = filepath.WalkDir(secretsDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			for _, s := range secrets {
				if strings.Contains(string(b), s) {
					inSecrets++
				}
			}
			if fi, err := d.Info(); err == nil && fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("secrets file %s has mode %v, want 0600", path, fi.Mode().Perm())
			}
		}
		return nil
	})
	if inSecrets != len(secrets) {
		t.Errorf("found the secret values %d times under %s, want each once", inSecrets, secretsDir)
	}
}

// TestSecrets_HeadersFromFileAndStdin: -H @file and -H - give header values without putting
// them on the connecting CLI's command line; the server requires both, so a connect that
// works proves they arrived, and the log names them only.
func TestSecrets_HeadersFromFileAndStdin(t *testing.T) {
	t.Parallel()
	e := shared(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	fromFile, fromStdin := "file-"+suffix, "stdin-"+suffix
	url, _ := startHTTPServer(t, "--require-header", "X-Secret-File="+fromFile, "--require-header", "X-Secret-Stdin="+fromStdin)
	path := filepath.Join(t.TempDir(), "headers")
	must(t, os.WriteFile(path, []byte("# for the test\r\nX-Secret-File: "+fromFile+"\r\n\r\n"), 0o600))
	name := uniqueName(t)
	r := e.runIn([]byte("X-Secret-Stdin: "+fromStdin+"\n"), "connect", url, "@"+name, "-H", "@"+path, "-H", "-")
	if r.Code != 0 {
		t.Fatalf("connect with headers from a file and stdin: want exit 0\n%s", r)
	}
	t.Cleanup(func() { e.run("close", "@"+name) })
	e.ok("@"+name, "ping")
	evs := e.sessionEvents(name, events.KindCreated)
	if len(evs) == 0 || evs[len(evs)-1].Server == nil {
		t.Fatalf("no created event for @%s", name)
	}
	srv := evs[len(evs)-1].Server
	if got := strings.Join(srv.HeaderNames, ","); got != "X-Secret-File,X-Secret-Stdin" {
		t.Errorf("created event names headers %q, want X-Secret-File,X-Secret-Stdin", got)
	}
	out := e.ok("events", "--json", "--session", name).Stdout + e.ok("--json", "sessions").Stdout
	for _, v := range []string{fromFile, fromStdin} {
		if strings.Contains(out, v) {
			t.Errorf("a header value read from a file or stdin appears in events or sessions")
		}
	}
}

// TestConnect_ChangedRootsRestartTheSessionAndTellTheServer: connecting an open session
// again with other --root directories restarts it with them (a new generation, no close),
// keeps the server's MCP session and sends it notifications/roots/list_changed; a change
// of the declared capabilities (a sampling command added) starts a new MCP session
// instead; a new --elicit answer for an open session is refused and changes nothing.
func TestConnect_ChangedRootsRestartTheSessionAndTellTheServer(t *testing.T) {
	skipIfServerSpeaks(t, protocolModern, "no MCP session to keep in that revision: each request declares its roots")
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls.log")
	url, _ := startHTTPServer(t, "--calls-log", calls)
	e.ok("connect", url, "@"+name, "--root", dirA)
	t.Cleanup(func() { e.run("close", "@"+name) })
	if r := e.ok("@"+name, "tools-call", "roots"); strings.TrimSpace(r.Stdout) != "file://"+dirA {
		t.Fatalf("roots before: %q, want file://%s", r.Stdout, dirA)
	}
	first, _ := e.session(name)

	r := e.ok("connect", url, "@"+name, "--root", dirB)
	if !strings.Contains(r.Stdout, "reconfigured") {
		t.Errorf("connect with other roots: %s, want reconfigured", r.Stdout)
	}
	second, _ := e.session(name)
	if second.Generation != first.Generation+1 || second.Status != projector.StatusReady {
		t.Errorf("after the change: generation %d %s, want %d ready", second.Generation, second.Status, first.Generation+1)
	}
	if second.MCPSessionID == "" || second.MCPSessionID != first.MCPSessionID {
		t.Errorf("MCP session %q after the change, %q before: want it kept", second.MCPSessionID, first.MCPSessionID)
	}
	testwait.For(t, 10*time.Second, func() error {
		if n := countCalls(t, calls, "notifications/roots/list_changed"); n != 1 {
			return fmt.Errorf("the server got %d notifications/roots/list_changed, want 1", n)
		}
		return nil
	})
	if r := e.ok("@"+name, "tools-call", "roots"); strings.TrimSpace(r.Stdout) != "file://"+dirB {
		t.Errorf("roots after: %q, want file://%s", r.Stdout, dirB)
	}
	if r := e.ok("connect", url, "@"+name, "--root", dirB); !strings.Contains(r.Stdout, "reused") {
		t.Errorf("the same connect again: %s, want reused", r.Stdout)
	}
	// A crash: the next generation resumes the MCP session and hears the server outside
	// calls again (mcp-go opens its GET stream only after an initialize, which a resumed
	// session does not send: the roots/list below travels on that stream).
	if err := syscall.Kill(second.Bridge.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if r := e.ok("@"+name, "tools-call", "roots"); strings.TrimSpace(r.Stdout) != "file://"+dirB {
		t.Errorf("roots after a crash: %q, want file://%s", r.Stdout, dirB)
	}
	if s, _ := e.session(name); s.MCPSessionID != second.MCPSessionID || s.Generation != second.Generation+1 {
		t.Errorf("after the crash: MCP session %q generation %d, want %q resumed in generation %d", s.MCPSessionID, s.Generation, second.MCPSessionID, second.Generation+1)
	}
	second, _ = e.session(name)

	// Sampling declared too: the capabilities change, so a new MCP session.
	r = e.ok("connect", url, "@"+name, "--root", dirB, "--sampling-command", "cat")
	third, _ := e.session(name)
	if !strings.Contains(r.Stdout, "reconfigured") || third.Generation != second.Generation+1 || third.MCPSessionID == second.MCPSessionID {
		t.Errorf("sampling added: %s; generation %d, MCP session %q (was %q): want reconfigured, a new generation and MCP session",
			r.Stdout, third.Generation, third.MCPSessionID, second.MCPSessionID)
	}
	if n := countCalls(t, calls, "notifications/roots/list_changed"); n != 1 {
		t.Errorf("a new MCP session was sent roots/list_changed (%d in all)", n)
	}

	// An elicitation answer lives in the secrets file: not changed under an open session.
	before := len(e.sessionEvents(name))
	r = e.run("connect", url, "@"+name, "--root", dirB, "--sampling-command", "cat", "--elicit", `{"x":1}`)
	if r.Code != 1 || !strings.Contains(r.Stderr, "close @"+name) {
		t.Errorf("a new --elicit answer: want exit 1 saying to close first\n%s", r)
	}
	if n := len(e.sessionEvents(name)); n != before {
		t.Errorf("the refused connect appended %d events", n-before)
	}
}
