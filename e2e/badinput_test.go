package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

// badCase is one entry of the bad-input catalogue: a command that must fail with an exact
// exit code, say what is wrong (and what to do, when there is a hint), and change nothing:
// not the event log, not the session list, not the files under the home, not the processes.
type badCase struct {
	name   string
	args   []string // {cf} is replaced with the directory of config fixtures, {srv} with the test server
	stdin  []byte
	env    []string
	code   int
	msg    []string // all must appear on stderr
	absent []string // none may appear on stderr or stdout (a secret the input carried)
	stdout bool     // a tool's own error text may be printed on stdout
	hint   string   // must appear on a "Try:" line; "" when no hint is required
	// attempt: by design the log keeps the failed attempt (created … closed, cleaned); the
	// session list, files and processes must still be as they were.
	attempt bool
	// home runs the case on another MCPCTL_HOME ({cf}/…, a fixture): its files must stay as
	// they were and no process may run on it.
	home string
}

// catalogueRow is one line of the printed catalogue.
type catalogueRow struct {
	Name, Command string
	Exit          int
	Outcome       string
}

var (
	catalogueMu sync.Mutex
	catalogue   []catalogueRow
)

func record(name, command string, exit int, outcome string) {
	catalogueMu.Lock()
	defer catalogueMu.Unlock()
	catalogue = append(catalogue, catalogueRow{name, command, exit, outcome})
}

// badInputCases is the catalogue. Grouped by what is bad.
func badInputCases() []badCase {
	long := strings.Repeat("a", 65)
	huge := strings.Repeat("n", 10000)
	big := append(append([]byte(`{"text":"`), bytes.Repeat([]byte("x"), 16<<20+10)...), []byte(`"}`)...)
	return []badCase{
		// ---- session names
		{name: "name with dots", args: []string{"connect", "@bad..name", "--", "{srv}"}, code: 1, msg: []string{`invalid session name "bad..name"`}, hint: "names match"},
		{name: "name with a slash", args: []string{"connect", "@../../etc", "--", "{srv}"}, code: 1, msg: []string{"invalid session name"}, hint: "names match"},
		{name: "name 65 chars", args: []string{"connect", "@" + long, "--", "{srv}"}, code: 1, msg: []string{"65 characters long, the limit is 64"}, hint: "names match"},
		{name: "name 10000 chars", args: []string{"@" + huge, "tools-list"}, code: 1, msg: []string{"10000 characters long"}, hint: "names match"},
		{name: "empty name", args: []string{"@", "tools-list"}, code: 1, msg: []string{"session name"}},
		{name: "name invalid UTF-8", args: []string{"connect", "@a\xff", "--", "{srv}"}, code: 1, msg: []string{"invalid session name"}, hint: "names match"},
		{name: "name with a space", args: []string{"@a b", "ping"}, code: 1, msg: []string{`invalid session name "a b"`}, hint: "names match"},
		{name: "name with a NATS wildcard", args: []string{"@a*", "ping"}, code: 1, msg: []string{"invalid session name"}, hint: "names match"},
		{name: "name with a NATS token separator", args: []string{"events", "--session", "a.>"}, code: 1, msg: []string{"invalid session name"}, hint: "names match"},
		{name: "unknown session", args: []string{"@nosuch", "tools-list"}, code: 1, msg: []string{"@nosuch: not found"}, hint: "mcpctl connect"},
		{name: "restart unknown session", args: []string{"restart", "@nosuch"}, code: 1, msg: []string{"not found"}, hint: "mcpctl connect"},
		{name: "close without session", args: []string{"close"}, code: 1, msg: []string{"close needs a session"}, hint: "mcpctl @name close"},
		{name: "two sessions", args: []string{"tools-list", "@t", "@t"}, code: 1, msg: []string{"tools-list"}},
		{name: "history unknown session", args: []string{"history", "@nosuch"}, code: 1, msg: []string{"nosuch"}},
		{name: "wait unknown session", args: []string{"wait", "@nosuch", "--for", "ready", "--timeout", "2s"}, code: 1, msg: []string{"nosuch"}},
		// ---- another node's sessions are named in full (@name@node), never as this node's @name
		{name: "restart another node's unknown session", args: []string{"restart", "@st@othernode"}, code: 1, msg: []string{"@st@othernode: not found"}, hint: "@st@othernode"},
		{name: "close another node's unknown session", args: []string{"@st@othernode", "close"}, code: 1, msg: []string{"@st@othernode: not found"}, hint: "@st@othernode"},
		{name: "call another node's unknown session", args: []string{"@st@othernode", "ping"}, code: 1, msg: []string{"@st@othernode: not found"}, hint: "@st@othernode"},
		// wait, history, logs, info, proxy ask the session's node first: nobody answers for a node without a hub
		{name: "wait for another node's unknown session", args: []string{"@st@othernode", "wait", "--for", "exited"}, code: 3, msg: []string{"no hub of node othernode answers"}},
		{name: "history of another node's unknown session", args: []string{"@st@othernode", "history"}, code: 3, msg: []string{"no hub of node othernode answers"}},
		{name: "logs of another node's session", args: []string{"@st@othernode", "logs"}, code: 3, msg: []string{"logs @st@othernode: no hub of node othernode answers"}, hint: "is node othernode on this cluster"},
		// ---- commands and flags in the wrong place
		{name: "unknown command", args: []string{"bogus"}, code: 1, msg: []string{`unknown command "bogus"`}, hint: "--help"},
		{name: "unknown session command", args: []string{"@t", "bogus"}, code: 1, msg: []string{`unknown command "bogus"`}, hint: "--help"},
		{name: "unknown hub command", args: []string{"hub", "bogus"}, code: 1, msg: []string{`unknown command "bogus" for "mcpctl hub"`}, hint: "--help"},
		{name: "unknown flag", args: []string{"tools-list", "@t", "--bogus"}, code: 1, msg: []string{"unknown flag: --bogus"}, hint: "tools-list --help"},
		{name: "unknown shorthand", args: []string{"@t", "ping", "-Z"}, code: 1, msg: []string{"unknown shorthand flag: 'Z'"}, hint: "--help"},
		{name: "flag without value", args: []string{"@t", "--timeout"}, code: 1, msg: []string{"flag needs an argument: --timeout"}, hint: "--help"},
		{name: "timeout not a duration", args: []string{"--timeout", "soon", "@t", "ping"}, code: 1, msg: []string{`invalid argument "soon" for "--timeout"`}, hint: "--help"},
		{name: "timeout zero", args: []string{"--timeout", "0", "@t", "ping"}, code: 1, msg: []string{`invalid argument "0" for "--timeout"`, "must be more than 0"}, hint: "--help"},
		{name: "timeout negative", args: []string{"@t", "tools-call", "echo", "text:=x", "--timeout", "-5s"}, code: 1, msg: []string{`invalid argument "-5s" for "--timeout"`, "must be more than 0"}, hint: "--help"},
		{name: "completion unknown shell", args: []string{"completion", "bogus"}, code: 1, msg: []string{`completion: unknown shell "bogus"`}, hint: "one of: bash, fish, powershell, zsh"},
		{name: "connect flag after -- goes to the server", args: []string{"connect", "@x", "--", "{srv}", "--restart", "bogus"}, code: 3, attempt: true, msg: []string{"did not start", "exit status 2"}, hint: "mcpctl @x logs"},
		{name: "restart policy unknown", args: []string{"connect", "@x", "--restart", "sometimes", "--", "{srv}"}, code: 1, msg: []string{"sometimes"}},
		{name: "tools-call without tool", args: []string{"@t", "tools-call"}, code: 1, msg: []string{"wrong number of arguments (0)"}, hint: "tools-call @session TOOL"},
		{name: "resources-read without URI", args: []string{"@t", "resources-read"}, code: 1, msg: []string{"wrong number of arguments (0)"}, hint: "resources-read @session URI"},
		{name: "connect without server", args: []string{"connect", "@x"}, code: 1, msg: []string{"connect needs a server"}, hint: "mcpctl connect https://host/mcp @name"},
		{name: "connect nothing after --", args: []string{"connect", "@x", "--"}, code: 1, msg: []string{"connect needs a server"}},
		{name: "connect empty command", args: []string{"connect", "@x", "--", ""}, code: 1, msg: []string{"no command after --"}},
		{name: "sessions with argument", args: []string{"sessions", "extra"}, code: 1, msg: []string{"extra"}},
		{name: "doctor with argument", args: []string{"doctor", "extra"}, code: 1, msg: []string{"extra"}},
		// ---- tool arguments
		{name: "arg with = not :=", args: []string{"@t", "tools-call", "echo", "text=hi"}, code: 1, msg: []string{`malformed argument "text=hi"`}, hint: "did you mean text:=hi?"},
		{name: "arg with empty key", args: []string{"@t", "tools-call", "echo", ":=hi"}, code: 1, msg: []string{"empty key"}},
		{name: "arg JSON array", args: []string{"@t", "tools-call", "echo", "[1]"}, code: 1, msg: []string{`malformed argument "[1]"`}, hint: "key:=value"},
		{name: "inline JSON broken", args: []string{"@t", "tools-call", "echo", "{bad"}, code: 1, msg: []string{"inline JSON"}, hint: `an object like {"query": "nats"}`},
		{name: "inline JSON not an object", args: []string{"@t", "tools-call", "echo", "{}x"}, code: 1, msg: []string{"inline JSON"}, hint: "an object like"},
		{name: "arg key invalid UTF-8", args: []string{"@t", "tools-call", "echo", "a\xff:=1"}, code: 1, msg: []string{"not valid UTF-8"}},
		{name: "arg value invalid UTF-8", args: []string{"@t", "tools-call", "echo", "text:=\xfe"}, code: 1, msg: []string{"not valid UTF-8"}},
		{name: "stdin JSON with a NUL byte", args: []string{"@t", "tools-call", "echo", "-"}, stdin: []byte("{\"text\":\"a\x00\"}"), code: 1, msg: []string{"JSON on stdin", `'\x00'`}, hint: "an object like"},
		{name: "stdin invalid UTF-8", args: []string{"@t", "tools-call", "echo", "-"}, stdin: []byte("{\"text\":\"\xff\"}"), code: 1, msg: []string{"JSON on stdin is not valid UTF-8"}},
		{name: "stdin JSON array", args: []string{"@t", "tools-call", "echo", "-"}, stdin: []byte(`[1,2]`), code: 1, msg: []string{"JSON on stdin"}, hint: "an object like"},
		{name: "stdin null", args: []string{"@t", "tools-call", "echo", "-"}, stdin: []byte(`null`), code: 1, msg: []string{"not a JSON object"}, hint: "an object like"},
		{name: "stdin 16 MiB", args: []string{"@t", "tools-call", "echo", "-"}, stdin: big, code: 1, msg: []string{"larger than 16 MiB"}},
		{name: "tool unknown (server error)", args: []string{"@t", "tools-call", "nosuchtool"}, code: 2, msg: []string{"tool 'nosuchtool' not found"}},
		{name: "tool missing required arg", args: []string{"@t", "tools-call", "echo"}, stdin: []byte{}, code: 2, stdout: true, msg: []string{`the tool reported an error: required argument "text" not found`}},
		{name: "prompt unknown", args: []string{"@t", "prompts-get", "nosuch"}, code: 2, msg: []string{"nosuch"}},
		{name: "resource unknown (-32002)", args: []string{"@t", "resources-read", "test://nope/x"}, code: 2, msg: []string{"server error " + resourceNotFound(), "resource not found"}},
		{name: "log level unknown", args: []string{"@t", "logging-set-level", "loud"}, code: 1, msg: []string{"loud"}},
		{name: "complete --context without =", args: []string{"@t", "complete", "--prompt", "greet", "style", "--context", "formal"}, code: 1, msg: []string{`--context "formal" is not NAME=VALUE`}, hint: "--context cuisine=japanese"},
		{name: "complete --context empty name", args: []string{"@t", "complete", "--resource", "test://items/{id}", "id", "--context", "=4"}, code: 1, msg: []string{`--context "=4" has an empty name`}, hint: "--context cuisine=japanese"},
		// ---- URLs
		{name: "URL scheme ftp", args: []string{"connect", "ftp://x/y", "@u"}, code: 1, msg: []string{`unsupported URL scheme "ftp"`}, hint: "http:// or https://"},
		{name: "URL scheme file", args: []string{"connect", "file:///etc/passwd", "@u"}, code: 1, msg: []string{`unsupported URL scheme "file"`}, hint: "http:// or https://"},
		{name: "URL scheme javascript", args: []string{"connect", "javascript:alert(1)", "@u"}, code: 1, msg: []string{`cannot tell what server "javascript:alert(1)" is`}, hint: "a URL (https://host/mcp)"},
		{name: "URL without host", args: []string{"connect", "http://", "@u"}, code: 1, msg: []string{`"http://" has no host`}},
		{name: "URL unparsable", args: []string{"connect", "http://[::1", "@u"}, code: 1, msg: []string{"invalid server URL", "missing ']'"}},
		{name: "URL with user:pass", args: []string{"connect", "https://alice:hunter2@example.com/mcp", "@u"}, code: 1, msg: []string{"carries credentials", "REDACTED"}, hint: "-H 'Authorization: Bearer"},
		{name: "URL with user only", args: []string{"connect", "https://alice@example.com/mcp", "@u"}, code: 1, msg: []string{"carries credentials"}, hint: "-H"},
		{name: "header without colon", args: []string{"connect", "http://127.0.0.1:1/mcp", "@u", "-H", "Authorization Bearer tok3n-v4lue"}, code: 1, msg: []string{"malformed header 1", "no colon"}, absent: []string{"tok3n-v4lue"}, hint: "-H 'Name: value'"},
		{name: "header without colon, second", args: []string{"connect", "http://127.0.0.1:1/mcp", "@u", "-H", "X-A: 1", "-H", "tok3n-v4lue"}, code: 1, msg: []string{"malformed header 2"}, absent: []string{"tok3n-v4lue"}, hint: "-H 'Name: value'"},
		{name: "header value with a control character", args: []string{"connect", "http://127.0.0.1:1/mcp", "@u", "-H", "X-A: tok3n\x1bv4lue"}, code: 1, msg: []string{"control character"}, absent: []string{"tok3n"}},
		{name: "header file missing", args: []string{"connect", "http://127.0.0.1:1/mcp", "@u", "-H", "@{cf}/nosuch.headers"}, code: 1, msg: []string{"nosuch.headers", "no such file"}},
		{name: "header file line without colon", args: []string{"connect", "http://127.0.0.1:1/mcp", "@u", "-H", "@{cf}/nocolon.headers"}, code: 1, msg: []string{"malformed header 2"}, absent: []string{"tok3n-v4lue"}},
		{name: "header stdin twice", args: []string{"connect", "http://127.0.0.1:1/mcp", "@u", "-H", "-", "-H", "-"}, stdin: []byte("X-A: 1\n"), code: 1, msg: []string{"-H - given twice"}},
		{name: "URL query value in an error", args: []string{"connect", "ftp://h/mcp?api_key=tok3n-v4lue", "@u"}, code: 1, msg: []string{`unsupported URL scheme "ftp"`}, absent: []string{"tok3n-v4lue"}},
		{name: "header name with space", args: []string{"connect", "http://127.0.0.1:1/mcp", "@u", "-H", "X Y: v"}, code: 1, msg: []string{"malformed header"}, hint: "-H 'Name: value'"},
		{name: "header value with newline", args: []string{"connect", "http://127.0.0.1:1/mcp", "@u", "-H", "X-A: a\r\nX-B: b"}, code: 1, msg: []string{"line break or NUL"}},
		{name: "unreachable URL", args: []string{"connect", "http://127.0.0.1:1/mcp", "@u"}, code: 3, attempt: true, msg: []string{"@u"}},
		// ---- config files
		{name: "config missing", args: []string{"connect", "{cf}/missing.json"}, code: 1, msg: []string{"missing.json does not exist"}},
		{name: "config empty", args: []string{"connect", "{cf}/empty.json"}, code: 1, msg: []string{"not valid JSON", "unexpected end of JSON input"}, hint: `{"mcpServers"`},
		{name: "config servers is an array", args: []string{"connect", "{cf}/wrongtype.json"}, code: 1, msg: []string{"mcpServers is a JSON array where an object is expected"}, hint: `{"mcpServers"`},
		{name: "config document is an array", args: []string{"connect", "{cf}/array.json"}, code: 1, msg: []string{"the document is a JSON array"}, hint: `{"mcpServers"`},
		{name: "config args is a string", args: []string{"connect", "{cf}/argsstr.json"}, code: 1, msg: []string{"is a JSON string where an array is expected"}, hint: `{"mcpServers"`},
		{name: "config no servers", args: []string{"connect", "{cf}/noservers.json"}, code: 1, msg: []string{"has no servers"}, hint: `{"mcpServers"`},
		{name: "config huge", args: []string{"connect", "{cf}/huge.json"}, code: 1, msg: []string{"more than the 4194304"}},
		{name: "config symlink loop", args: []string{"connect", "{cf}/loop1.json"}, code: 1, msg: []string{"too many levels of symbolic links"}},
		{name: "config is a directory", args: []string{"connect", "{cf}/dir.json"}, code: 1, msg: []string{"is not a regular file"}},
		{name: "config is a FIFO", args: []string{"connect", "{cf}/fifo.json"}, code: 1, msg: []string{"is not a regular file"}},
		{name: "config command empty", args: []string{"connect", "{cf}/emptycmd.json"}, code: 1, msg: []string{`neither "url" nor "command"`}},
		{name: "config NUL byte", args: []string{"connect", "{cf}/nul.json"}, code: 1, msg: []string{"not valid JSON", `'\x00'`}},
		{name: "config invalid UTF-8", args: []string{"connect", "{cf}/badutf.json"}, code: 1, msg: []string{"is not valid UTF-8"}},
		{name: "config entry unknown", args: []string{"connect", "{cf}/noentry.json:zz"}, code: 1, msg: []string{`has no server "zz"`}, hint: "one of: a"},
		{name: "config entry without url/command", args: []string{"connect", "{cf}/noentry.json"}, code: 1, msg: []string{`neither "url" nor "command"`}},
		{name: "config unset variable", args: []string{"connect", "{cf}/unset.json"}, code: 1, msg: []string{"NOPE_MCPCTL_VAR is not set"}},
		{name: "config URL with credentials", args: []string{"connect", "{cf}/creds.json"}, code: 1, msg: []string{"carries credentials"}, hint: "-H"},
		{name: "config URL scheme ws", args: []string{"connect", "{cf}/ws.json"}, code: 1, msg: []string{`unsupported URL scheme "ws"`}},
		{name: "config env name with =", args: []string{"connect", "{cf}/envkey.json"}, code: 1, msg: []string{`invalid environment variable name "A=B"`}, hint: "NAME=value"},
		{name: "config env name with a space", args: []string{"connect", "{cf}/envspace.json"}, code: 1, msg: []string{`invalid environment variable name "A B"`}},
		{name: "config header value with CRLF", args: []string{"connect", "{cf}/hdrcrlf.json"}, code: 1, msg: []string{"header X-A", "line break"}, absent: []string{"tok3n"}},
		{name: "config header name with a space", args: []string{"connect", "{cf}/hdrname.json"}, code: 1, msg: []string{`invalid header name "X Y"`}},
		// ---- events, sessions, wait
		{name: "events -n negative", args: []string{"events", "-n", "-1"}, code: 1, msg: []string{"-n -1: must be 0 or more"}},
		{name: "events --after-seq text", args: []string{"events", "--after-seq", "abc"}, code: 1, msg: []string{`invalid argument "abc" for "--after-seq"`}, hint: "events --help"},
		{name: "events --type unknown", args: []string{"events", "--type", "bogus"}, code: 1, msg: []string{`unknown event type "bogus"`}, hint: "one of: created"},
		{name: "events --since bogus", args: []string{"events", "--since", "bogus"}, code: 1, msg: []string{`--since "bogus": not an RFC 3339 time`}},
		{name: "events --since beyond a Duration", args: []string{"events", "--since", "106752d"}, code: 1, msg: []string{`--since "106752d": a duration longer than 106751d is not supported`}, hint: "an RFC 3339 time"},
		{name: "events --until beyond a Duration", args: []string{"events", "--until", "9999999999h"}, code: 1, msg: []string{`--until "9999999999h": a duration longer than 106751d`}, hint: "an RFC 3339 time"},
		{name: "events --after-seq 2^64-1", args: []string{"events", "--after-seq", "18446744073709551615"}, code: 1, msg: []string{"--after-seq 18446744073709551615: no event can come after the largest sequence"}, hint: "--after-seq 42"},
		{name: "events -f --after-seq 2^64-1", args: []string{"events", "-f", "--after-seq", "18446744073709551615"}, code: 1, msg: []string{"no event can come after the largest sequence"}, hint: "--after-seq 42"},
		{name: "events --after-notify-seq 2^64-1", args: []string{"events", "--notifications", "--after-notify-seq", "18446744073709551615"}, code: 1, msg: []string{"--after-notify-seq 18446744073709551615: no event can come after"}},
		{name: "events --format broken", args: []string{"events", "--format", "{{.Nope"}, code: 1, msg: []string{"--format", "unclosed action"}},
		{name: "sessions --at bogus", args: []string{"sessions", "--at", "yesterday"}, code: 1, msg: []string{`--at "yesterday"`}},
		{name: "wait --for unknown", args: []string{"wait", "@t", "--for", "bogus"}, code: 1, msg: []string{`--for "bogus"`}, hint: "one of: ready, exited"},
		// ---- environment
		{name: "-e name with a space", args: []string{"connect", "@x", "-e", "A B=1", "--", "{srv}"}, code: 1, msg: []string{`invalid environment variable name "A B"`}, hint: "NAME=value"},
		{name: "-e name starting with a digit", args: []string{"connect", "@x", "-e", "1A=1", "--", "{srv}"}, code: 1, msg: []string{`invalid environment variable name "1A"`}},
		{name: "-e without =", args: []string{"connect", "@x", "-e", "tok3n-v4lue", "--", "{srv}"}, code: 1, msg: []string{"malformed --env 1"}, absent: []string{"tok3n-v4lue"}},
		{name: "MCPCTL_NODE invalid", args: []string{"sessions"}, env: []string{"MCPCTL_NODE=a.b"}, code: 1, msg: []string{"MCPCTL_NODE"}},
		// ---- homes (fixtures under {cf}/homes): nothing may be created in them
		{name: "home is a shared directory (1777, like /tmp)", args: []string{"sessions"}, home: "{cf}/homes/shared", code: 1, msg: []string{"mode 1777, a directory shared with other users"}, hint: "MCPCTL_HOME=$(mktemp -d)"},
		{name: "home logs/ symlinked into a world-writable directory", args: []string{"@t", "ping"}, home: "{cf}/homes/logsym", code: 1, msg: []string{"logs is a symbolic link (to ", "/worldwritable)"}, hint: "rm "},
		{name: "home secrets/ symlinked into a world-writable directory", args: []string{"connect", "@x", "-e", "K=v", "--", "{srv}"}, home: "{cf}/homes/secsym", code: 1, msg: []string{"secrets is a symbolic link"}, hint: "rm "},
		{name: "home logs/ with mode 0755", args: []string{"sessions"}, home: "{cf}/homes/logsmode", code: 1, msg: []string{"logs has mode 0755"}, hint: "chmod 700 "},
		{name: "--json error is one JSON object", args: []string{"--json", "@nosuch", "ping"}, code: 1, msg: []string{`"code":1`, `"error":`, `"hint":`}},
	}
}

// writeConfigFixtures creates the config files the catalogue refers to as {cf}/….
func writeConfigFixtures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"empty.json":      "",
		"wrongtype.json":  `{"mcpServers": []}`,
		"array.json":      `[1,2]`,
		"argsstr.json":    `{"mcpServers":{"a":{"command":"x","args":"x"}}}`,
		"noservers.json":  `{"mcpServers":{}}`,
		"nul.json":        "{\"mcpServers\":{\"a\":{\"command\":\"x\x00y\"}}}",
		"badutf.json":     "{\"mcpServers\":{\"a\":{\"command\":\"\xff\"}}}",
		"noentry.json":    `{"mcpServers":{"a":{}}}`,
		"unset.json":      `{"mcpServers":{"a":{"url":"${NOPE_MCPCTL_VAR}"}}}`,
		"creds.json":      `{"servers":{"a":{"url":"https://bob:secret@example.com/mcp"}}}`,
		"ws.json":         `{"servers":{"a":{"url":"ws://127.0.0.1:1/mcp"}}}`,
		"emptycmd.json":   `{"servers":{"a":{"command":""}}}`,
		"envkey.json":     `{"servers":{"a":{"command":"x","env":{"A=B":"1"}}}}`,
		"envspace.json":   `{"servers":{"a":{"command":"x","env":{"A B":"1"}}}}`,
		"hdrcrlf.json":    `{"servers":{"a":{"url":"http://127.0.0.1:1/mcp","headers":{"X-A":"tok3n\r\nX-B: b"}}}}`,
		"hdrname.json":    `{"servers":{"a":{"url":"http://127.0.0.1:1/mcp","headers":{"X Y":"v"}}}}`,
		"nocolon.headers": "# comment\nX-A: 1\ntok3n-v4lue\n",
		"huge.json":       `{"servers":{}, "pad": "` + strings.Repeat(" ", 5<<20) + `"}`,
		"dir.json/keep":   "",
		"loopwrap/README": "",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Homes that must be refused, and the world-writable directory the symlinks point into.
	ww := filepath.Join(dir, "worldwritable")
	must(t, os.Mkdir(ww, 0o700))
	must(t, os.Chmod(ww, os.ModeSticky|0o777))
	for _, h := range []string{"shared", "logsym", "secsym", "logsmode"} {
		must(t, os.MkdirAll(filepath.Join(dir, "homes", h), 0o700))
	}
	must(t, os.Chmod(filepath.Join(dir, "homes", "shared"), os.ModeSticky|0o777))
	must(t, os.Symlink(ww, filepath.Join(dir, "homes", "logsym", "logs")))
	must(t, os.Symlink(ww, filepath.Join(dir, "homes", "secsym", "secrets")))
	must(t, os.Mkdir(filepath.Join(dir, "homes", "logsmode", "logs"), 0o700))
	must(t, os.Chmod(filepath.Join(dir, "homes", "logsmode", "logs"), 0o755))
	must(t, os.Symlink("loop2.json", filepath.Join(dir, "loop1.json")))
	must(t, os.Symlink("loop1.json", filepath.Join(dir, "loop2.json")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo.json"), 0o600))
	return dir
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ---- "nothing changed"

// homeState is what a failing command must leave as it was.
type homeState struct {
	Events   int
	Sessions []string
	Files    []string
	PIDs     []int
}

func (e *env) state() homeState {
	e.t.Helper()
	var st homeState
	st.Events = len(e.events())
	var list []projector.Session
	e.jsonOK(&list, "sessions")
	for _, s := range list {
		pid := 0
		if s.Bridge != nil {
			pid = s.Bridge.PID
		}
		st.Sessions = append(st.Sessions, fmt.Sprintf("%s %s gen=%d pid=%d", s.Name, s.Status, s.Generation, pid))
	}
	sort.Strings(st.Sessions)
	st.Files = homeListing(e.t, e.home)
	st.PIDs = pidsUnder(e.home)
	sort.Ints(st.PIDs)
	return st
}

// homeListing lists the home's files with their modes, and sizes outside the store (whose
// files grow with every event and KV write) and the logs.
func homeListing(t testing.TB, home string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(home, p)
		if rel == "logs" && d.IsDir() {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed while walking (a temp file)
		}
		line := fmt.Sprintf("%s %s", rel, fi.Mode())
		if !strings.HasPrefix(rel, "hub"+string(filepath.Separator)) && fi.Mode().IsRegular() {
			line += fmt.Sprintf(" %d", fi.Size())
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffState(before, after homeState, attempt bool) []string {
	var d []string
	if before.Events != after.Events && !attempt {
		d = append(d, fmt.Sprintf("event log: %d events before, %d after", before.Events, after.Events))
	}
	if attempt && after.Events < before.Events {
		d = append(d, fmt.Sprintf("event log shrank: %d → %d", before.Events, after.Events))
	}
	if a, b := strings.Join(before.Sessions, "\n"), strings.Join(after.Sessions, "\n"); a != b {
		d = append(d, fmt.Sprintf("sessions:\n  before %v\n  after  %v", before.Sessions, after.Sessions))
	}
	if a, b := strings.Join(before.Files, "\n"), strings.Join(after.Files, "\n"); a != b {
		d = append(d, fmt.Sprintf("files under the home:\n  before %v\n  after  %v", before.Files, after.Files))
	}
	if fmt.Sprint(before.PIDs) != fmt.Sprint(after.PIDs) {
		d = append(d, fmt.Sprintf("processes: before %v, after %v", before.PIDs, after.PIDs))
	}
	return d
}

// TestBadInput_Catalogue runs every case of the catalogue against a home with one live
// session (@t) and checks the exit code, the message, the hint and that nothing changed.
// `go test ./e2e -run TestBadInput -v` prints the catalogue; MCPCTL_CATALOGUE=file writes it
// as a Markdown table.
func TestBadInput_Catalogue(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.ok("connect", "@t", "--", serverBin)
	cf := writeConfigFixtures(t)
	cases := badInputCases()
	if len(cases) < 60 {
		t.Fatalf("the catalogue has %d cases, want at least 60", len(cases))
	}
	for _, c := range cases {
		c := c
		args := make([]string, len(c.args))
		for i, a := range c.args {
			a = strings.ReplaceAll(a, "{cf}", cf)
			args[i] = strings.ReplaceAll(a, "{srv}", serverBin)
		}
		cmdline := shortCommand(c.args)
		ok := t.Run(c.name, func(t *testing.T) {
			ce := &env{t: t, home: e.home, node: e.node}
			before := ce.state()
			extraEnv := c.env
			var otherHome string
			var otherBefore, wwBefore []string
			if c.home != "" {
				otherHome = strings.ReplaceAll(c.home, "{cf}", cf)
				extraEnv = append(append([]string(nil), c.env...), "MCPCTL_HOME="+otherHome)
				otherBefore = homeListing(t, otherHome)
				wwBefore = homeListing(t, filepath.Join(cf, "worldwritable"))
			}
			r := ce.runEnv(c.stdin, extraEnv, args...)
			if otherHome != "" {
				if after := homeListing(t, otherHome); strings.Join(after, "\n") != strings.Join(otherBefore, "\n") {
					t.Errorf("the refused home changed:\n  before %v\n  after  %v", otherBefore, after)
				}
				if after := homeListing(t, filepath.Join(cf, "worldwritable")); len(after) != len(wwBefore) {
					t.Errorf("files appeared in the world-writable directory: %v", after)
				}
				if pids := pidsUnder(otherHome); len(pids) > 0 {
					t.Errorf("processes run on the refused home: %v", pids)
				}
			}
			if r.Code != c.code {
				t.Errorf("exit %d, want %d\n%s", r.Code, c.code, r)
			}
			for _, m := range c.msg {
				if !strings.Contains(r.Stderr, m) {
					t.Errorf("stderr does not say %q\n%s", m, r)
				}
			}
			for _, m := range c.absent {
				if strings.Contains(r.Stderr+r.Stdout, m) {
					t.Errorf("the output repeats %q, a secret of the input\n%s", m, r)
				}
			}
			if c.hint != "" && !hasHint(r.Stderr, c.hint) {
				t.Errorf("no hint containing %q\n%s", c.hint, r)
			}
			if r.Stdout != "" && c.code != 0 && !c.stdout {
				t.Errorf("a failing command printed on stdout:\n%s", r)
			}
			if strings.Contains(r.Stderr, "panic") || strings.Contains(r.Stderr, "goroutine ") {
				t.Errorf("panic:\n%s", r)
			}
			if c.attempt {
				// A failed connect closes and cleans what it created; its bridge exits, and
				// the hub records that exit (after the process is gone: waited for too, or it
				// would land in the next case's window).
				testwait.For(t, 10*time.Second, func() error {
					if d := diffState(before, ce.state(), true); len(d) > 0 {
						return fmt.Errorf("%s", strings.Join(d, "\n"))
					}
					spawned := len(ce.events("--type", "bridge_spawned"))
					exited := len(ce.events("--type", "bridge_exited"))
					if spawned-exited != 1 { // @t's bridge lives on
						return fmt.Errorf("%d bridges spawned, %d exits recorded", spawned, exited)
					}
					return nil
				})
			} else if d := diffState(before, ce.state(), false); len(d) > 0 {
				t.Errorf("the failed command changed something:\n%s\n%s", strings.Join(d, "\n"), r)
			}
		})
		outcome := "ok"
		if !ok {
			outcome = "FAIL"
		}
		record(c.name, cmdline, c.code, outcome)
	}
	t.Run("signals", func(t *testing.T) { signalCases(t, e) })
	printCatalogue(t)
}

func hasHint(stderr, hint string) bool {
	if strings.HasPrefix(strings.TrimSpace(stderr), "{") {
		var doc struct{ Hint string }
		_ = json.Unmarshal([]byte(stderr), &doc)
		return strings.Contains(doc.Hint, hint)
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "Try: ") && strings.Contains(line, hint) {
			return true
		}
	}
	return false
}

// shortCommand renders a case's command for the catalogue, shortening huge or binary words.
func shortCommand(args []string) string {
	var out []string
	for _, a := range args {
		if len(a) > 24 {
			a = a[:12] + fmt.Sprintf("…(%d bytes)", len(a))
		}
		out = append(out, strings.ToValidUTF8(fmt.Sprintf("%q", a), "?"))
	}
	return "mcpctl " + strings.Join(out, " ")
}

func printCatalogue(t *testing.T) {
	catalogueMu.Lock()
	defer catalogueMu.Unlock()
	var b strings.Builder
	b.WriteString("| # | case | command | exit | outcome |\n|---|---|---|---|---|\n")
	for i, r := range catalogue {
		fmt.Fprintf(&b, "| %d | %s | `%s` | %d | %s |\n", i+1, r.Name, strings.ReplaceAll(r.Command, "|", `\|`), r.Exit, r.Outcome)
	}
	t.Logf("bad-input catalogue (%d cases):\n%s", len(catalogue), b.String())
	if p := os.Getenv("MCPCTL_CATALOGUE"); p != "" {
		must(t, os.WriteFile(p, []byte(b.String()), 0o644))
	}
}

// runEnv is runIn with extra environment variables.
func (e *env) runEnv(stdin []byte, extra []string, args ...string) result {
	e.t.Helper()
	if len(extra) == 0 {
		return e.runIn(stdin, args...)
	}
	cmd := e.cmd(e.t.Context(), args...)
	cmd.Env = append(cmd.Env, extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{Args: args, Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
	if r.Code < 0 {
		e.t.Fatalf("mcpctl %v: %v", args, err)
	}
	return r
}

// signalCase is SIGINT delivered to a command while it waits.
type signalCase struct {
	name  string
	args  []string
	ready func(t *testing.T, pid int) error // nil once the command is waiting
	check func(t *testing.T, before homeState, r result)
}

// signalCases: SIGINT during connect, wait and restart exits 130 (128+SIGINT, as shells
// expect) saying it was interrupted, and leaves no half state behind.
func signalCases(t *testing.T, e *env) {
	slow := "exec sleep 30"
	mark := filepath.Join(t.TempDir(), "started")
	slowRestart := fmt.Sprintf("if [ -e %s ]; then sleep 3; fi; touch %s; exec %s", mark, mark, serverBin)
	e.ok("connect", "@slowr", "--", "/bin/sh", "-c", slowRestart)
	waiting := func(t *testing.T, pid int) error {
		if !hasSocket(pid) {
			return fmt.Errorf("pid %d has not connected to the hub yet", pid)
		}
		return nil
	}
	eventSeen := func(session, kind string) func(*testing.T, int) error {
		return func(t *testing.T, pid int) error {
			ce := &env{t: t, home: e.home, node: e.node}
			for _, ev := range ce.sessionEvents(session) {
				if string(ev.Type) == kind && ev.Actor.PID == pid {
					return nil
				}
			}
			return fmt.Errorf("no %s event by pid %d yet", kind, pid)
		}
	}
	cases := []signalCase{
		{name: "SIGINT during connect", args: []string{"connect", "@slowsig", "--", "/bin/sh", "-c", slow},
			ready: eventSeen("slowsig", "created"),
			check: func(t *testing.T, before homeState, r result) {
				ce := &env{t: t, home: e.home, node: e.node}
				testwait.For(t, 10*time.Second, func() error {
					if d := diffState(before, ce.state(), true); len(d) > 0 {
						return fmt.Errorf("%s", strings.Join(d, "\n"))
					}
					return nil
				})
			}},
		{name: "SIGINT during wait", args: []string{"wait", "@t", "--for", "exited"}, ready: waiting,
			check: func(t *testing.T, before homeState, r result) {
				ce := &env{t: t, home: e.home, node: e.node}
				if d := diffState(before, ce.state(), false); len(d) > 0 {
					t.Errorf("an interrupted wait changed something:\n%s", strings.Join(d, "\n"))
				}
			}},
		{name: "SIGINT during restart", args: []string{"restart", "@slowr"}, ready: eventSeen("slowr", "restart_requested"),
			check: func(t *testing.T, before homeState, r result) {
				// The request was appended before the signal: the restart completes by itself,
				// once, and the session ends ready with one bridge and one socket.
				ce := &env{t: t, home: e.home, node: e.node}
				testwait.For(t, 15*time.Second, func() error {
					s, _ := ce.session("slowr")
					if s.Status != projector.StatusReady || s.Generation != 2 {
						return fmt.Errorf("slowr is %s at generation %d, want ready at 2", s.Status, s.Generation)
					}
					if b := bridgePIDs(e.home, "slowr"); len(b) != 1 {
						return fmt.Errorf("bridges of slowr: %v, want one", b)
					}
					if s := sockets(e.home, "slowr"); len(s) != 1 {
						return fmt.Errorf("sockets of slowr: %v, want one", s)
					}
					return nil
				})
				if n := len(ce.sessionEvents("slowr", "restart_requested")); n != 1 {
					t.Errorf("%d restart requests, want 1", n)
				}
			}},
	}
	for _, c := range cases {
		ok := t.Run(c.name, func(t *testing.T) {
			ce := &env{t: t, home: e.home, node: e.node}
			before := ce.state()
			cmd := ce.cmd(t.Context(), c.args...)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			must(t, cmd.Start())
			pid := cmd.Process.Pid
			testwait.For(t, 10*time.Second, func() error { return c.ready(t, pid) })
			must(t, cmd.Process.Signal(os.Interrupt))
			_ = cmd.Wait()
			r := result{Args: c.args, Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
			if r.Code != 130 || !strings.Contains(r.Stderr, "interrupt") {
				t.Errorf("want exit 130 (128+SIGINT) saying it was interrupted:\n%s", r)
			}
			c.check(t, before, r)
		})
		outcome := "ok"
		if !ok {
			outcome = "FAIL"
		}
		record(c.name, shortCommand(c.args)+" + SIGINT", 130, outcome)
	}
}

// hasSocket says whether a process holds a socket (the CLI has connected to the hub, so its
// signal handler is installed).
func hasSocket(pid int) bool {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if strings.HasPrefix(l, "socket:") {
			return true
		}
	}
	return false
}
