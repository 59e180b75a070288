package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestScripts runs the CLI grammar as testscript scripts (testdata/script/*.txtar): word
// orders, global flags anywhere, help, exit codes, --json shapes, where errors go. Each
// script gets its own MCPCTL_HOME (so its own hub), the binaries TestMain built first on
// PATH, and the test server as $MCPTESTSERVER; its hub and bridges are stopped when it ends.
//
// Commands added to testscript's own:
//
//	exits N prog args...            run prog like exec; fail unless it exits with status N
//	jsonfield stdout|stderr [PATH [JSON]]
//	                                the file is exactly one JSON document; PATH (dot-separated,
//	                                numbers index arrays) exists, and equals the JSON literal
//	                                when given; with ! the field is absent or different
//	httpserver start VAR [flags...] the test server on Streamable HTTP, its URL in $VAR
//	                                (and without its scheme, 127.0.0.1:PORT/mcp, in $VAR_BARE)
//	httpserver stop VAR             stop it (it is stopped at the end of the script anyway)
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                "testdata/script",
		RequireUniqueNames: true,
		Setup:              setupScript,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":      cmdExits,
			"jsonfield":  cmdJSONField,
			"httpserver": cmdHTTPServer,
		},
	})
}

// scriptState is what one script's commands share.
type scriptState struct {
	servers map[string]*httpServer
}

type scriptStateKey struct{}

func setupScript(e *testscript.Env) error {
	// Under workDir, like isolated(): short enough for the bridge sockets (sun_path is 108
	// bytes, and the script's $WORK is not), and found by the suite's leftover check.
	home, err := os.MkdirTemp(workDir, "s")
	if err != nil {
		return err
	}
	e.Setenv("PATH", workDir+string(os.PathListSeparator)+e.Getenv("PATH"))
	e.Setenv("MCPCTL_HOME", home)
	e.Setenv("MCPCTL_NODE", "e2e")
	e.Setenv("NO_COLOR", "1")
	e.Setenv("MCPTESTSERVER", serverBin)
	e.Setenv("RESOURCE_NOT_FOUND", resourceNotFound()) // its code depends on the server's revision
	// server-everything's entry point, for scripts that need its tools (they check it exists).
	if entry, err := filepath.Abs(filepath.Join("node_modules", everythingPkg, "dist", "index.js")); err == nil {
		e.Setenv("EVERYTHING", entry)
	}
	// testscript passes on almost nothing of the test's environment: the markers the
	// leftover check looks for must be set again (stdio servers get them from connect).
	e.Setenv(runMarker, workDir)
	e.Setenv(homeMarker, home)
	e.Values[scriptStateKey{}] = &scriptState{servers: map[string]*httpServer{}}
	e.Defer(func() { stopHub(home) })
	return nil
}

// cmdExits is exec with an exact exit status: `! exec` only says "not 0", and the exit
// codes are part of the grammar.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exits (say which status: exits N)")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exits N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad status %q", args[0])
	}
	got := 0
	var ee *exec.ExitError
	switch err := ts.Exec(args[1], args[2:]...); {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdJSONField checks that stdout or stderr is one JSON document, and optionally one of
// its fields.
func cmdJSONField(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 3 || (args[0] != "stdout" && args[0] != "stderr") {
		ts.Fatalf("usage: jsonfield stdout|stderr [PATH [JSON]]")
	}
	text := ts.ReadFile(args[0])
	dec := json.NewDecoder(strings.NewReader(text))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		ts.Fatalf("%s is not JSON: %v", args[0], err)
	}
	var extra any
	switch err := dec.Decode(&extra); {
	case err == nil:
		ts.Fatalf("%s holds more than one JSON document", args[0])
	case err != io.EOF:
		ts.Fatalf("%s has something after its JSON document: %v", args[0], err)
	}
	if len(args) == 1 {
		if neg {
			ts.Fatalf("unsupported: ! jsonfield without a path")
		}
		return
	}
	got, found := jsonPath(doc, args[1])
	if len(args) == 2 {
		switch {
		case found && neg:
			ts.Fatalf("%s has %s = %s, want it absent", args[0], args[1], compactJSON(got))
		case !found && !neg:
			ts.Fatalf("%s has no %s", args[0], args[1])
		}
		return
	}
	var want any
	if err := json.Unmarshal([]byte(args[2]), &want); err != nil {
		ts.Fatalf("jsonfield: the wanted value %q is not JSON (a string is '\"text\"'): %v", args[2], err)
	}
	equal := found && reflect.DeepEqual(got, want)
	switch {
	case !found && !neg:
		ts.Fatalf("%s has no %s, want %s", args[0], args[1], args[2])
	case !equal && !neg:
		ts.Fatalf("%s has %s = %s, want %s", args[0], args[1], compactJSON(got), args[2])
	case equal && neg:
		ts.Fatalf("%s has %s = %s, want anything else", args[0], args[1], args[2])
	}
}

// jsonPath follows a dot-separated path ("content.0.text") into a decoded document.
func jsonPath(doc any, path string) (any, bool) {
	v := doc
	for _, key := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[key]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// httpServer is one test server on Streamable HTTP that a script started.
type httpServer struct {
	cmd  *exec.Cmd
	done chan struct{} // its stdout reached EOF: the process ended
}

func (s *httpServer) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	_ = s.cmd.Wait()
}

// cmdHTTPServer starts and stops test servers on Streamable HTTP: a script needs one for
// what only HTTP has (a 401), and testscript's background exec cannot read the port the
// server chose before it ends.
func cmdHTTPServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! httpserver")
	}
	if len(args) < 2 || (args[0] != "start" && args[0] != "stop") {
		ts.Fatalf("usage: httpserver start VAR [flags...] | httpserver stop VAR")
	}
	st := ts.Value(scriptStateKey{}).(*scriptState)
	name := args[1]
	if args[0] == "stop" {
		s, ok := st.servers[name]
		if !ok {
			ts.Fatalf("httpserver stop: no server %s", name)
		}
		delete(st.servers, name)
		s.stop()
		return
	}
	if _, ok := st.servers[name]; ok {
		ts.Fatalf("httpserver start: %s is already running", name)
	}
	cmd := exec.Command(serverBin, append([]string{"--http", "127.0.0.1:0"}, args[2:]...)...)
	cmd.Env = append(os.Environ(), homeMarker+"="+ts.Getenv("MCPCTL_HOME"))
	stdout, err := cmd.StdoutPipe()
	ts.Check(err)
	logf, err := os.Create(ts.MkAbs("httpserver-" + name + ".log"))
	ts.Check(err)
	defer logf.Close() // the child has its own copy
	cmd.Stderr = logf
	ts.Check(cmd.Start())
	s := &httpServer{cmd: cmd, done: make(chan struct{})}
	st.servers[name] = s
	ts.Defer(func() {
		if st.servers[name] == s {
			s.stop()
		}
	})
	urls := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				urls <- u
			}
		}
	}()
	select {
	case u := <-urls:
		ts.Setenv(name, u)
		ts.Setenv(name+"_BARE", strings.TrimPrefix(u, "http://"))
	case <-s.done:
		ts.Fatalf("httpserver %s ended without a listening line (see %s)", name, logf.Name())
	case <-time.After(10 * time.Second):
		ts.Fatalf("httpserver %s printed no listening line within 10s", name)
	}
}
