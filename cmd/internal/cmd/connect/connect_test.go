package connect

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

// secret is a header value no event, output or error message may carry.
const secret = "s3cret-token-value"

// logged returns every event in the hub's log, oldest first.
func logged(t *testing.T, h *cmdtest.Hub) []events.Event {
	t.Helper()
	var out []events.Event
	if err := h.Log.Read(context.Background(), events.Query{}, func(e events.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("read the log: %v", err)
	}
	return out
}

// secretFiles returns the names of the files in the home's secrets directory.
func secretFiles(t *testing.T, h *cmdtest.Hub) []string {
	t.Helper()
	ents, err := os.ReadDir(h.Home.SecretsDir())
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("read the secrets dir: %v", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// eventJSON is e as stored, for "this text is not in the event" checks.
func eventJSON(t *testing.T, e events.Event) string {
	t.Helper()
	b, err := e.Marshal()
	if err != nil {
		t.Fatalf("marshal %s: %v", e.Type, err)
	}
	return string(b)
}

func TestConnect_NoWaitRecordsOneCreatedEvent(t *testing.T) {
	t.Run("a URL with a header: the header's value is in a 0600 file, never in the event", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "-H", "Authorization: Bearer "+secret, "--no-wait")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("connect --no-wait: exit %d, stderr %q, want 0 and nothing", r.Code, r.ErrOut)
		}
		if want := "@docs created: https://mcp.example.com/mcp"; !strings.Contains(r.Out, want) {
			t.Errorf("connect stdout = %q, want it to contain %q", r.Out, want)
		}
		evs := logged(t, h)
		if len(evs) != 1 || evs[0].Type != events.KindCreated {
			t.Fatalf("log after connect = %v, want exactly one created event", evs)
		}
		e := evs[0]
		if e.Session != "docs" || e.Node != cmdtest.Node || e.Generation != 1 {
			t.Errorf("created = @%s node %s gen %d, want @docs node %s gen 1", e.Session, e.Node, e.Generation, cmdtest.Node)
		}
		if e.Server == nil || e.Server.Transport != events.TransportHTTP || e.Server.URL != "https://mcp.example.com/mcp" {
			t.Fatalf("created server = %+v, want http https://mcp.example.com/mcp", e.Server)
		}
		if !slices.Equal(e.Server.HeaderNames, []string{"Authorization"}) {
			t.Errorf("created header names = %v, want [Authorization]", e.Server.HeaderNames)
		}
		if e.Restart != events.RestartOnFailure {
			t.Errorf("created restart = %q, want the default %q", e.Restart, events.RestartOnFailure)
		}
		if js := eventJSON(t, e); strings.Contains(js, secret) {
			t.Errorf("created event carries the header value: %s", js)
		}
		if strings.Contains(r.Out+r.ErrOut, secret) {
			t.Errorf("connect printed the header value: %q %q", r.Out, r.ErrOut)
		}
		if e.Server.Secrets == "" {
			t.Fatal("created event names no secrets file")
		}
		if files := secretFiles(t, h); !slices.Equal(files, []string{e.Server.Secrets}) {
			t.Errorf("secrets dir = %v, want only the file the event names (%s)", files, e.Server.Secrets)
		}
		path := filepath.Join(h.Home.SecretsDir(), e.Server.Secrets)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("secrets file: %v", err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("secrets file mode = %o, want 600", mode)
		}
		sec, err := homedir.ReadSecrets(h.Home, e.Server.Secrets)
		if err != nil {
			t.Fatalf("read secrets: %v", err)
		}
		if got := sec.Headers["Authorization"]; got != "Bearer "+secret {
			t.Errorf("secrets Authorization = %q, want the value given with -H", got)
		}
	})

	t.Run("a URL query goes to the secrets file and the event shows it REDACTED", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp?api_key="+secret, "--no-wait")
		if r.Code != 0 {
			t.Fatalf("connect: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		evs := logged(t, h)
		if len(evs) != 1 {
			t.Fatalf("log = %v, want one created event", evs)
		}
		if js := eventJSON(t, evs[0]); strings.Contains(js, secret) || !strings.Contains(evs[0].Server.URL, "api_key=REDACTED") {
			t.Errorf("created event = %s, want the query value REDACTED", js)
		}
		if evs[0].Session != "example" {
			t.Errorf("session = %q, want it named after the host (example)", evs[0].Session)
		}
		sec, err := homedir.ReadSecrets(h.Home, evs[0].Server.Secrets)
		if err != nil || sec.URL != "https://mcp.example.com/mcp?api_key="+secret {
			t.Errorf("secrets URL = %q (%v), want the real URL", sec.URL, err)
		}
	})

	t.Run("a command after -- is a stdio server named after it; -e values stay secret", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdConnect, "", "connect", "--no-wait", "-e", "TOKEN="+secret, "--restart", "never", "--", "mcptestserver", "--flag", "x")
		if r.Code != 0 {
			t.Fatalf("connect -- cmd: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		evs := logged(t, h)
		if len(evs) != 1 || evs[0].Type != events.KindCreated {
			t.Fatalf("log = %v, want one created event", evs)
		}
		e := evs[0]
		if e.Session != "mcptestserver" || e.Server.Transport != events.TransportStdio || e.Server.Command != "mcptestserver" ||
			!slices.Equal(e.Server.Args, []string{"--flag", "x"}) {
			t.Errorf("created = @%s %+v, want @mcptestserver stdio mcptestserver --flag x", e.Session, *e.Server)
		}
		if !slices.Equal(e.Server.EnvNames, []string{"TOKEN"}) || e.Restart != events.RestartNever {
			t.Errorf("created env names %v restart %q, want [TOKEN] never", e.Server.EnvNames, e.Restart)
		}
		if js := eventJSON(t, e); strings.Contains(js, secret) {
			t.Errorf("created event carries the env value: %s", js)
		}
		sec, err := homedir.ReadSecrets(h.Home, e.Server.Secrets)
		if err != nil || sec.Env["TOKEN"] != secret {
			t.Errorf("secrets env TOKEN = %q (%v), want the -e value", sec.Env["TOKEN"], err)
		}
	})

	t.Run("--json prints the session, the action and its state", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdConnect, "", "connect", "--json", "https://mcp.example.com/mcp", "@docs", "--no-wait")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("connect --json: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		var got struct {
			Session string `json:"session"`
			Action  string `json:"action"`
			State   struct {
				Session    string `json:"session"`
				Status     string `json:"status"`
				Generation uint64 `json:"generation"`
			} `json:"state"`
		}
		if err := json.Unmarshal([]byte(r.Out), &got); err != nil {
			t.Fatalf("connect --json stdout is not one JSON object: %v\n%s", err, r.Out)
		}
		if got.Session != "docs" || got.Action != "created" || got.State.Session != "docs" || got.State.Status != "starting" || got.State.Generation != 1 {
			t.Errorf("connect --json = %s, want session docs, action created, state starting at generation 1", r.Out)
		}
	})
}

func TestConnect_HeadersFromAFileOrStdin(t *testing.T) {
	t.Run("-H @file reads one header a line, skipping blanks and comments", func(t *testing.T) {
		h := cmdtest.New(t)
		file := filepath.Join(t.TempDir(), "docs.headers")
		if err := os.WriteFile(file, []byte("# for docs\n\nAuthorization: Bearer "+secret+"\nX-Team: core\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "-H", "@"+file, "--no-wait")
		if r.Code != 0 {
			t.Fatalf("connect -H @file: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		evs := logged(t, h)
		if len(evs) != 1 || !slices.Equal(evs[0].Server.HeaderNames, []string{"Authorization", "X-Team"}) {
			t.Fatalf("log = %v, want one created event with header names [Authorization X-Team]", evs)
		}
		sec, err := homedir.ReadSecrets(h.Home, evs[0].Server.Secrets)
		if err != nil || sec.Headers["Authorization"] != "Bearer "+secret || sec.Headers["X-Team"] != "core" {
			t.Errorf("secrets headers = %v (%v), want the file's", sec.Headers, err)
		}
	})

	t.Run("-H - reads them from stdin", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdConnect, "Authorization: Bearer "+secret+"\n", "connect", "https://mcp.example.com/mcp", "@docs", "-H", "-", "--no-wait")
		if r.Code != 0 {
			t.Fatalf("connect -H -: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		evs := logged(t, h)
		if len(evs) != 1 || !slices.Equal(evs[0].Server.HeaderNames, []string{"Authorization"}) {
			t.Fatalf("log = %v, want one created event with header names [Authorization]", evs)
		}
		sec, err := homedir.ReadSecrets(h.Home, evs[0].Server.Secrets)
		if err != nil || sec.Headers["Authorization"] != "Bearer "+secret {
			t.Errorf("secrets headers = %v (%v), want stdin's", sec.Headers, err)
		}
	})
}

func TestConnect_AnExistingName(t *testing.T) {
	t.Run("open with the same server: reused, nothing appended", func(t *testing.T) {
		h := cmdtest.New(t)
		args := []string{"connect", "https://mcp.example.com/mcp", "@docs", "--no-wait"}
		if r := h.Run(t, NewCmdConnect, "", args...); r.Code != 0 {
			t.Fatalf("first connect: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		r := h.Run(t, NewCmdConnect, "", args...)
		if r.Code != 0 || !strings.Contains(r.Out, "@docs reused") {
			t.Errorf("second connect: exit %d, stdout %q, want 0 and @docs reused", r.Code, r.Out)
		}
		if evs := logged(t, h); len(evs) != 1 {
			t.Errorf("log after a reuse has %d events, want the one created", len(evs))
		}
	})

	t.Run("open with another server: exit 1, nothing appended, no secrets file left", func(t *testing.T) {
		h := cmdtest.New(t)
		if r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "--no-wait"); r.Code != 0 {
			t.Fatalf("first connect: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		before := secretFiles(t, h)
		r := h.Run(t, NewCmdConnect, "", "connect", "https://other.example.com/mcp", "@docs", "-H", "Authorization: "+secret, "--no-wait")
		if r.Code != 1 {
			t.Errorf("connect @docs to another server: exit %d, want 1", r.Code)
		}
		if !strings.Contains(r.ErrOut, "another server") || !strings.Contains(r.ErrOut, "mcpctl close @docs") {
			t.Errorf("stderr = %q, want it to say another server and hint at close @docs", r.ErrOut)
		}
		if r.Out != "" {
			t.Errorf("stdout = %q, want nothing", r.Out)
		}
		if evs := logged(t, h); len(evs) != 1 {
			t.Errorf("log has %d events, want only the first created", len(evs))
		}
		if after := secretFiles(t, h); !slices.Equal(after, before) {
			t.Errorf("secrets dir = %v, want it as before (%v)", after, before)
		}
	})

	t.Run("closed: created again at the next generation", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "docs")
		h.Append(t, events.New(events.KindClosed, cmdtest.Node, "docs", 1))
		r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "--no-wait")
		if r.Code != 0 || !strings.Contains(r.Out, "@docs created") {
			t.Fatalf("connect after close: exit %d, stdout %q, stderr %q", r.Code, r.Out, r.ErrOut)
		}
		evs := logged(t, h)
		if len(evs) != 3 || evs[2].Type != events.KindCreated || evs[2].Generation != 2 {
			t.Errorf("log = %v, want a third event: created at generation 2", evs)
		}
	})
}

func TestConnect_BadInputAppendsNothing(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "mcp.json")
	if err := os.WriteFile(config, []byte(`{"mcpServers": {"a": {"command": "x"}, "b": {"url": "https://b.example.com/mcp"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "list.json"), []byte(`["`+secret+`"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no server", []string{"@docs"}, "connect needs a server"},
		{"an unsupported URL scheme", []string{"ftp://h/mcp"}, "unsupported URL scheme"},
		{"a URL without a host", []string{"https:///mcp"}, "has no host"},
		{"a URL with credentials", []string{"https://u:" + secret + "@h/mcp"}, "carries credentials"},
		{"something that is no server", []string{"nothing-known"}, "cannot tell what server"},
		{"a header without a colon", []string{"https://h/mcp", "-H", "Bearer" + secret}, "no colon"},
		{"a header name with a space", []string{"https://h/mcp", "-H", "Bad Name: " + secret}, "malformed header 1"},
		{"a header on a stdio server", []string{"-H", "A: " + secret, "--", "srv"}, "-H headers apply to HTTP servers"},
		{"an -e without =", []string{"-e", secret, "--", "srv"}, "malformed --env 1"},
		{"an -e name that is no shell name", []string{"-e", "1X=" + secret, "--", "srv"}, "invalid environment variable name"},
		{"a server and a command", []string{"https://h/mcp", "--", "srv"}, "not both"},
		{"two servers", []string{"https://h/mcp", "https://i/mcp"}, "unexpected argument"},
		{"two names", []string{"https://h/mcp", "@a", "@b"}, "two session names"},
		{"another node's name", []string{"https://h/mcp", "@a@n2"}, "another node's"},
		{"an invalid name", []string{"https://h/mcp", "@bad/name"}, ""},
		{"an unknown restart policy", []string{"https://h/mcp", "--restart", "sometimes"}, "--restart"},
		{"a missing header file", []string{"https://h/mcp", "-H", "@" + filepath.Join(dir, "none")}, "-H @"},
		{"a missing config file", []string{filepath.Join(dir, "none.json")}, "does not exist"},
		{"a config entry that is not there", []string{config + ":c"}, "has no server \"c\""},
		{"one name for a file of several servers", []string{config, "@one"}, "names one session"},
		{"an unknown flag", []string{"https://h/mcp", "--bogus"}, "unknown flag"},
		{"an unknown --elicit policy", []string{"https://h/mcp", "--elicit", "maybe"}, "--elicit"},
		{"an --elicit JSON that does not parse", []string{"https://h/mcp", "--elicit", `{"token":"` + secret}, "not a JSON object"},
		{"an --elicit JSON that is no object", []string{"https://h/mcp", "--elicit", `{"a":1} {"b":"` + secret + `"}`}, "more than one JSON value"},
		{"an --elicit file that is not there", []string{"https://h/mcp", "--elicit", "@" + filepath.Join(dir, "none.json")}, "--elicit @"},
		{"an --elicit file that is no JSON object", []string{"https://h/mcp", "--elicit", "@" + filepath.Join(dir, "list.json")}, "not a JSON object"},
		{"a --root that does not exist", []string{"https://h/mcp", "--root", filepath.Join(dir, "nowhere")}, "--root"},
		{"a --root that is a file", []string{"https://h/mcp", "--root", config}, "not a directory"},
		{"an empty --root", []string{"https://h/mcp", "--root", ""}, "--root"},
		{"a blank --sampling-command", []string{"https://h/mcp", "--sampling-command", "  "}, "--sampling-command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := cmdtest.New(t)
			args := append([]string{"connect", "--no-wait"}, tc.args...)
			r := h.Run(t, NewCmdConnect, "", args...)
			if r.Code != 1 {
				t.Errorf("connect %q: exit %d, want 1 (stderr %q)", tc.args, r.Code, r.ErrOut)
			}
			if !strings.Contains(r.ErrOut, tc.want) || r.ErrOut == "" {
				t.Errorf("connect %q: stderr %q, want it to contain %q", tc.args, r.ErrOut, tc.want)
			}
			if strings.Contains(r.ErrOut, secret) {
				t.Errorf("connect %q: stderr shows a secret: %q", tc.args, r.ErrOut)
			}
			if r.Out != "" {
				t.Errorf("connect %q: stdout %q, want nothing", tc.args, r.Out)
			}
			if evs := logged(t, h); len(evs) != 0 {
				t.Errorf("connect %q appended %v, want nothing", tc.args, evs)
			}
			if files := secretFiles(t, h); len(files) != 0 {
				t.Errorf("connect %q left secrets files %v, want none", tc.args, files)
			}
		})
	}

	t.Run("--json: the error is JSON on stderr with code 1, stdout stays empty", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdConnect, "", "connect", "--json", "ftp://h/mcp")
		var doc struct {
			Error string `json:"error"`
			Code  int    `json:"code"`
		}
		if err := json.Unmarshal([]byte(r.ErrOut), &doc); err != nil {
			t.Fatalf("connect --json ftp://: stderr is not JSON: %v\n%s", err, r.ErrOut)
		}
		if r.Code != 1 || doc.Code != 1 || doc.Error == "" || r.Out != "" {
			t.Errorf("connect --json ftp://: exit %d, stderr %s, stdout %q, want 1, code 1 with an error, nothing", r.Code, r.ErrOut, r.Out)
		}
	})
}

func TestConnect_FromAConfigFile(t *testing.T) {
	t.Setenv("MCPCTL_TEST_TOKEN", secret)
	config := filepath.Join(t.TempDir(), "mcp.json")
	doc := `{"mcpServers": {
		"github": {"url": "https://api.github.example/mcp", "headers": {"Authorization": "Bearer ${MCPCTL_TEST_TOKEN}"}},
		"fs": {"command": "mcp-fs", "args": ["/tmp"], "env": {"ROOT": "${MCPCTL_TEST_ROOT:-/srv}"}}
	}}`
	if err := os.WriteFile(config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("file:entry connects that entry, named after it, ${VAR} expanded into the secrets", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdConnect, "", "connect", config+":github", "--no-wait")
		if r.Code != 0 {
			t.Fatalf("connect %s:github: exit %d, stderr %q", config, r.Code, r.ErrOut)
		}
		evs := logged(t, h)
		if len(evs) != 1 || evs[0].Session != "github" {
			t.Fatalf("log = %v, want one created event for @github", evs)
		}
		s := evs[0].Server
		if s.Transport != events.TransportHTTP || s.URL != "https://api.github.example/mcp" || s.Source != config+":github" {
			t.Errorf("created server = %+v, want http https://api.github.example/mcp from %s:github", *s, config)
		}
		if js := eventJSON(t, evs[0]); strings.Contains(js, secret) {
			t.Errorf("created event carries the expanded header value: %s", js)
		}
		sec, err := homedir.ReadSecrets(h.Home, s.Secrets)
		if err != nil || sec.Headers["Authorization"] != "Bearer "+secret {
			t.Errorf("secrets headers = %v (%v), want the expanded Authorization", sec.Headers, err)
		}
	})

	t.Run("file alone connects every entry, each as a session named after it", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdConnect, "", "connect", "--json", config, "--no-wait")
		if r.Code != 0 {
			t.Fatalf("connect %s: exit %d, stderr %q", config, r.Code, r.ErrOut)
		}
		var got []struct {
			Session string `json:"session"`
			Action  string `json:"action"`
		}
		if err := json.Unmarshal([]byte(r.Out), &got); err != nil {
			t.Fatalf("connect --json of a file of two servers: not a JSON array: %v\n%s", err, r.Out)
		}
		var names []string
		for _, g := range got {
			names = append(names, g.Session+" "+g.Action)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"fs created", "github created"}) {
			t.Errorf("connect --json %s = %v, want fs and github created", config, names)
		}
		byName := map[string]events.Event{}
		for _, e := range logged(t, h) {
			byName[e.Session] = e
		}
		if len(byName) != 2 {
			t.Fatalf("log has sessions %v, want fs and github", byName)
		}
		fs := byName["fs"].Server
		if fs == nil || fs.Transport != events.TransportStdio || fs.Command != "mcp-fs" || !slices.Equal(fs.EnvNames, []string{"ROOT"}) {
			t.Errorf("fs server = %+v, want stdio mcp-fs with env names [ROOT]", fs)
		}
		sec, err := homedir.ReadSecrets(h.Home, fs.Secrets)
		if err != nil || sec.Env["ROOT"] != "/srv" {
			t.Errorf("fs secrets env ROOT = %q (%v), want the ${VAR:-default} default /srv", sec.Env["ROOT"], err)
		}
	})

	t.Run("an unset ${VAR} without a default is refused", func(t *testing.T) {
		h := cmdtest.New(t)
		bad := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(bad, []byte(`{"servers": {"x": {"url": "https://x.example/mcp", "headers": {"A": "${MCPCTL_TEST_UNSET_VAR}"}}}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		r := h.Run(t, NewCmdConnect, "", "connect", bad+":x", "--no-wait")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "MCPCTL_TEST_UNSET_VAR is not set") {
			t.Errorf("connect with an unset variable: exit %d, stderr %q, want 1 naming the variable", r.Code, r.ErrOut)
		}
		if evs := logged(t, h); len(evs) != 0 {
			t.Errorf("log = %v, want nothing appended", evs)
		}
	})
}

func TestConnect_AskPolicy(t *testing.T) {
	t.Run("--elicit JSON, --root and --sampling-command are stored; the JSON only in the secrets file", func(t *testing.T) {
		h := cmdtest.New(t)
		root := t.TempDir()
		rel, err := filepath.Rel(mustGetwd(t), root)
		if err != nil {
			t.Fatal(err)
		}
		r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "--no-wait",
			"--elicit", `{"token": "`+secret+`"}`, "--root", rel, "--root", root, "--sampling-command", "llm -m local")
		if r.Code != 0 {
			t.Fatalf("connect: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		evs := logged(t, h)
		if len(evs) != 1 || evs[0].Server.Asks == nil {
			t.Fatalf("log = %v, want one created event with an ask policy", evs)
		}
		a := evs[0].Server.Asks
		if a.Elicit != events.ElicitContent || !slices.Equal(a.Roots, []string{root}) || a.SamplingCommand != "llm -m local" {
			t.Errorf("asks = %+v, want content, [%s] (absolute, once), the command", *a, root)
		}
		if js := eventJSON(t, evs[0]); strings.Contains(js, secret) {
			t.Errorf("created event carries the --elicit content: %s", js)
		}
		sec, err := homedir.ReadSecrets(h.Home, evs[0].Server.Secrets)
		if err != nil || string(sec.ElicitContent) != `{"token":"`+secret+`"}` {
			t.Errorf("secrets elicit content = %s (%v), want the JSON given", sec.ElicitContent, err)
		}
	})

	t.Run("--elicit @file reads the answer from a file", func(t *testing.T) {
		h := cmdtest.New(t)
		file := filepath.Join(t.TempDir(), "answer.json")
		if err := os.WriteFile(file, []byte("{\"name\": \"x\"}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "--no-wait", "--elicit", "@"+file)
		if r.Code != 0 {
			t.Fatalf("connect: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		evs := logged(t, h)
		sec, err := homedir.ReadSecrets(h.Home, evs[0].Server.Secrets)
		if err != nil || string(sec.ElicitContent) != `{"name":"x"}` || evs[0].Server.Asks.Elicit != events.ElicitContent {
			t.Errorf("asks %+v, secrets content %s (%v), want content {\"name\":\"x\"}", evs[0].Server.Asks, sec.ElicitContent, err)
		}
	})

	t.Run("--elicit defaults and cancel are stored; decline is the default and stores nothing", func(t *testing.T) {
		for _, tc := range []struct {
			flag string
			want events.ElicitPolicy
		}{{"defaults", events.ElicitDefaults}, {"cancel", events.ElicitCancel}, {"decline", ""}} {
			h := cmdtest.New(t)
			r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "--no-wait", "--elicit", tc.flag)
			if r.Code != 0 {
				t.Fatalf("connect --elicit %s: exit %d, stderr %q", tc.flag, r.Code, r.ErrOut)
			}
			evs := logged(t, h)
			var got events.ElicitPolicy
			if evs[0].Server.Asks != nil {
				got = evs[0].Server.Asks.Elicit
			}
			if got != tc.want || (tc.want == "" && evs[0].Server.Asks != nil) {
				t.Errorf("--elicit %s: asks %+v, want elicit %q", tc.flag, evs[0].Server.Asks, tc.want)
			}
			if tc.want == "" && len(secretFiles(t, h)) != 0 {
				t.Errorf("--elicit decline left a secrets file: %v", secretFiles(t, h))
			}
		}
	})

	t.Run("an open session connected again with another policy restarts with it", func(t *testing.T) {
		h := cmdtest.New(t)
		root := t.TempDir()
		if r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "--no-wait"); r.Code != 0 {
			t.Fatalf("connect: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "--no-wait", "--elicit", "defaults")
		if r.Code != 0 || !strings.Contains(r.Out, "reconfigured") {
			t.Fatalf("connect with another elicit policy: exit %d, out %q, stderr %q, want reconfigured", r.Code, r.Out, r.ErrOut)
		}
		r = h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "--no-wait", "--elicit", "defaults", "--root", root)
		if r.Code != 0 || !strings.Contains(r.Out, "reconfigured") {
			t.Fatalf("connect with roots added: exit %d, out %q, stderr %q, want reconfigured", r.Code, r.Out, r.ErrOut)
		}
		evs := logged(t, h)
		if len(evs) != 3 || evs[1].Type != events.KindRestartRequested || evs[2].Type != events.KindRestartRequested {
			t.Fatalf("events %v, want created and two restart_requested", evs)
		}
		if a := evs[1].Server.Asks; a == nil || a.Elicit != events.ElicitDefaults || evs[1].Fresh {
			t.Errorf("elicit changed: %+v fresh %v, want defaults and the MCP session kept (same capabilities)", a, evs[1].Fresh)
		}
		if a := evs[2].Server.Asks; a == nil || len(a.Roots) != 1 || a.Roots[0] != root || !evs[2].Fresh || evs[2].Server.Secrets != evs[0].Server.Secrets {
			t.Errorf("roots added: %+v fresh %v secrets %q, want the root, a fresh MCP session (roots declared now), the same secrets", a, evs[2].Fresh, evs[2].Server.Secrets)
		}
		if r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "--no-wait", "--elicit", "defaults", "--root", root); r.Code != 0 || !strings.Contains(r.Out, "reused") {
			t.Errorf("the same policy again: exit %d, out %q, want reused", r.Code, r.Out)
		}
		r = h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "--no-wait", "--elicit", `{"a":1}`, "--root", root)
		if r.Code != 1 || !strings.Contains(r.ErrOut, "close @docs") || strings.Contains(r.ErrOut, `"a"`) {
			t.Errorf("a new --elicit answer: exit %d, stderr %q, want 1 saying to close, without the answer", r.Code, r.ErrOut)
		}
		r = h.Run(t, NewCmdConnect, "", "connect", "https://other.example.com/mcp", "@docs", "--no-wait")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "another server") {
			t.Errorf("another URL: exit %d, stderr %q, want 1 naming another server", r.Code, r.ErrOut)
		}
		if n := len(logged(t, h)); n != 3 {
			t.Errorf("refused connects appended %d events", n-3)
		}
	})
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestConnect_WithoutAName(t *testing.T) {
	t.Run("a bare host: https://, named after the host", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdConnect, "", "connect", "mcp.example.com/mcp", "--no-wait")
		if r.Code != 0 || !strings.Contains(r.Out, "@example created") {
			t.Fatalf("connect mcp.example.com/mcp: exit %d, stdout %q, stderr %q; want @example created", r.Code, r.Out, r.ErrOut)
		}
		evs := logged(t, h)
		if len(evs) != 1 || evs[0].Server == nil || evs[0].Server.URL != "https://mcp.example.com/mcp" {
			t.Errorf("log = %+v, want one created event for https://mcp.example.com/mcp", evs)
		}
	})

	t.Run("an open session of the same URL is reused, whatever its name", func(t *testing.T) {
		h := cmdtest.New(t)
		if r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "--no-wait"); r.Code != 0 {
			t.Fatalf("first connect: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		// The sessions are looked up in the projection, which follows the log.
		if err := h.Follower.WaitPos(context.Background(), uint64(len(logged(t, h)))); err != nil {
			t.Fatal(err)
		}
		r := h.Run(t, NewCmdConnect, "", "connect", "mcp.example.com/mcp", "--no-wait")
		if r.Code != 0 || !strings.Contains(r.Out, "@docs reused") {
			t.Errorf("connect without a name: exit %d, stdout %q, stderr %q; want @docs reused", r.Code, r.Out, r.ErrOut)
		}
		if evs := logged(t, h); len(evs) != 1 {
			t.Errorf("log after a reuse has %d events, want the one created", len(evs))
		}
	})

	t.Run("the derived name taken by another server: exit 1, it says so, nothing appended", func(t *testing.T) {
		h := cmdtest.New(t)
		if r := h.Run(t, NewCmdConnect, "", "connect", "https://example.org/mcp", "@example", "--no-wait"); r.Code != 0 {
			t.Fatalf("first connect: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		before := secretFiles(t, h)
		r := h.Run(t, NewCmdConnect, "", "connect", "mcp.example.com/mcp", "--no-wait")
		if r.Code != 1 || r.Out != "" {
			t.Errorf("connect mcp.example.com/mcp: exit %d, stdout %q; want 1 and nothing", r.Code, r.Out)
		}
		for _, want := range []string{"exists with another server (https://example.org/mcp)", "@example is the name derived from https://mcp.example.com/mcp",
			"Try: name this one: mcpctl connect https://mcp.example.com/mcp @NAME"} {
			if !strings.Contains(r.ErrOut, want) {
				t.Errorf("stderr = %q, want %q", r.ErrOut, want)
			}
		}
		if evs := logged(t, h); len(evs) != 1 {
			t.Errorf("log has %d events, want only the first created", len(evs))
		}
		if after := secretFiles(t, h); !slices.Equal(after, before) {
			t.Errorf("secrets dir = %v, want it as before (%v)", after, before)
		}
	})
}

// lostAckLog stores the first created event it is given and reports the append as failed
// without a verdict (a stalled hub: timed out), then reports every retry of it as a lost
// compare-and-set, as the JetStream log does when the expected-sequence check runs before
// the duplicate window and its read for our own stored write fails too.
type lostAckLog struct {
	events.Log
	stored uint64
}

func (l *lostAckLog) Append(ctx context.Context, e events.Event, cond events.Expect) (uint64, error) {
	if e.Type != events.KindCreated {
		return l.Log.Append(ctx, e, cond)
	}
	if l.stored == 0 {
		seq, err := l.Log.Append(ctx, e, cond)
		if err != nil {
			return 0, err
		}
		l.stored = seq
		return 0, &events.SessionError{Op: "append created", Session: e.Session, Err: context.DeadlineExceeded}
	}
	return 0, &events.SessionError{Op: "append created", Session: e.Session, Err: events.ErrConflict}
}

// A create that was stored although its append reported a timeout, and whose retry reported
// a conflict, must not leave an open session naming a secrets file that the failed connect
// removed: every later start of it would fail on the missing file (found by the chaos soak).
func TestConnect_AStoredCreateReportedLostKeepsItsSecrets(t *testing.T) {
	h := cmdtest.New(t)
	lossy := &lostAckLog{Log: h.Log}
	h.Conn.Log = lossy
	r := h.Run(t, NewCmdConnect, "", "connect", "https://mcp.example.com/mcp", "@docs", "-H", "Authorization: Bearer "+secret, "--no-wait")
	if r.Code == 0 {
		t.Fatalf("connect with a lost acknowledgement: exit 0, want a failure; stdout %q", r.Out)
	}
	if lossy.stored == 0 {
		t.Fatal("the create was never appended")
	}
	var created events.Event
	for _, e := range logged(t, h) {
		if e.Type == events.KindCreated {
			created = e
		}
	}
	p, err := projector.Fold(context.Background(), h.Log, events.Query{}, nil)
	if err != nil {
		t.Fatalf("fold: %v", err)
	}
	s, _ := p.Get(cmdtest.Node, "docs")
	if s.IsOpen() {
		if _, err := homedir.ReadSecrets(h.Home, s.Server.Secrets); err != nil {
			t.Fatalf("@docs is left %s naming secrets %s, which are gone: %v", s.Status, s.Server.Secrets, err)
		}
		return
	}
	if files := secretFiles(t, h); slices.Contains(files, created.Server.Secrets) {
		t.Errorf("@docs was undone (%s) but its secrets file %s is left behind", s.Status, created.Server.Secrets)
	}
}
