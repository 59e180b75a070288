// Command conformance is the client the MCP conformance suite runs in client mode
// (@modelcontextprotocol/conformance, pinned in e2e/package.json): it drives the mcpctl
// CLI the way a user would, so that what the suite's scenario servers see on the wire is
// what mcpctl and its bridge send.
//
//	conformance [-mcpctl PATH] SERVER_URL
//
// The suite appends SERVER_URL to the command it is given and sets
// MCP_CONFORMANCE_SCENARIO (the scenario's name), MCP_CONFORMANCE_PROTOCOL_VERSION (the
// revision the scenario runs at) and, for some scenarios, MCP_CONFORMANCE_CONTEXT (JSON
// with scenario data, e.g. the tool calls to make). MCPCTL_HOME must name a private home:
// the client ends by closing its session and stopping that home's hub, so that no process
// outlives it.
//
// What it does is what a generic client does with a server it knows nothing about:
//
//  1. mcpctl connect SERVER_URL @c (with --elicit defaults when this mcpctl has the flag:
//     the session's policy for servers that ask back is to accept with the defaults);
//  2. mcpctl @c (server info and capabilities);
//  3. mcpctl @c tools-list, then call tools: the calls MCP_CONFORMANCE_CONTEXT lists
//     (toolCalls) if it lists any, else every listed tool once, with arguments made from
//     its input schema (defaults, enums, else a value of the type, for required
//     properties only);
//  4. if the server declares resources: resources-list and resources-read of each; if it
//     declares prompts: prompts-list and prompts-get of each (required arguments filled);
//  5. mcpctl close @c; mcpctl hub stop.
//
// One scenario describes a step for the client's user beyond that, and it is carried out
// with ordinary mcpctl commands (see instructions). Nothing here talks to the server but
// mcpctl, and nothing depends on what mcpctl does not yet support beyond the --elicit
// probe above.
//
// Exit status: 0 when connect, tools-list and every tool call ran (a call the server
// answers with an error, exit 2, counts as run); 1 otherwise. Resource and prompt
// exploration never changes it. Every mcpctl command, its exit code and output are logged
// on stderr (the suite keeps it in the scenario's stderr.txt).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

const session = "@c"

// callTimeout bounds each mcpctl call, so that a call the server never answers does not
// run into the suite's own timeout (which would leave no time to clean up).
const callTimeout = "15s"

var (
	mcpctl  = flag.String("mcpctl", "mcpctl", "the mcpctl binary to drive")
	browser = flag.Bool("browser", false, "be a non-interactive browser: GET the URL argument, following redirects (for $BROWSER)")
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: conformance [-mcpctl PATH] SERVER_URL   (MCPCTL_HOME must be set)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *browser && flag.NArg() == 1 {
		os.Exit(browse(flag.Arg(0)))
	}
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(1)
	}
	if os.Getenv("MCPCTL_HOME") == "" {
		// It stops the home's hub at the end: never a user's own.
		fmt.Fprintln(os.Stderr, "conformance: MCPCTL_HOME must name a private home")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, flag.Arg(0))
	stop()
	cleanup()
	os.Exit(code)
}

// logf writes a line of the client's log on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "conformance: "+format+"\n", args...)
}

type result struct {
	code   int
	stdout []byte
	stderr string
}

// mc runs mcpctl with args (and stdin), logging the command and what it printed.
func mc(ctx context.Context, stdin []byte, args ...string) result {
	cmd := exec.CommandContext(ctx, *mcpctl, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.Bytes(), stderr: errb.String()}
	if err != nil {
		r.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
	}
	logf("$ mcpctl %s   -> exit %d in %s", strings.Join(args, " "), r.code, time.Since(start).Round(time.Millisecond))
	if s := strings.TrimSpace(out.String()); s != "" {
		logf("  stdout: %s", clip(s))
	}
	if s := strings.TrimSpace(errb.String()); s != "" {
		logf("  stderr: %s", clip(s))
	}
	if err != nil && r.code == -1 {
		logf("  error: %v", err)
	}
	return r
}

func clip(s string) string {
	const max = 4000
	if len(s) > max {
		return s[:max] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

// call runs one mcpctl command on the session with --json and a bounded timeout.
func call(ctx context.Context, stdin []byte, args ...string) result {
	return withLogin(ctx, func() result {
		return mc(ctx, stdin, append([]string{"--json", "--timeout", callTimeout, session}, args...)...)
	})
}

// hasFlag reports whether `mcpctl CMD --help` documents flag.
func hasFlag(ctx context.Context, cmd, flag string) bool {
	c := exec.CommandContext(ctx, *mcpctl, cmd, "--help")
	out, _ := c.Output()
	return bytes.Contains(out, []byte(flag+" ")) || bytes.Contains(out, []byte(flag+"="))
}

func run(ctx context.Context, url string) int {
	scenario := os.Getenv("MCP_CONFORMANCE_SCENARIO")
	logf("scenario %q at protocol %q, server %s", scenario, os.Getenv("MCP_CONFORMANCE_PROTOCOL_VERSION"), url)
	var conformanceCtx struct {
		ToolCalls []struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"toolCalls"`
	}
	if c := os.Getenv("MCP_CONFORMANCE_CONTEXT"); c != "" {
		logf("context: %s", c)
		if err := json.Unmarshal([]byte(c), &conformanceCtx); err != nil {
			logf("context is not the JSON expected: %v", err)
		}
	}

	// The revision the scenario is about, as a user who must speak it would pin it.
	connect := []string{"connect", url, session}
	if v := os.Getenv("MCP_CONFORMANCE_PROTOCOL_VERSION"); v != "" {
		connect = append(connect, "--protocol", v)
	}
	// The session's answer to a server that asks back (elicitation), where mcpctl has one.
	var callFlags []string
	switch {
	case hasFlag(ctx, "connect", "--elicit"):
		connect = append(connect, "--elicit", "defaults")
	case hasFlag(ctx, "tools-call", "--elicit"):
		callFlags = append(callFlags, "--elicit", "defaults")
	default:
		logf("this mcpctl has no --elicit flag: server asks are answered by its default")
	}
	if r := withLogin(ctx, func() result { return mc(ctx, nil, append([]string{"--timeout", "20s"}, connect...)...) }); r.code != 0 {
		logf("connect failed")
		return 1
	}
	info := call(ctx, nil)
	caps := capabilities(info.stdout)

	failed := false
	r := call(ctx, nil, "tools-list")
	if r.code != 0 {
		logf("tools-list failed")
		return 1
	}
	var tools struct {
		Tools []struct {
			Name        string         `json:"name"`
			InputSchema map[string]any `json:"inputSchema"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(r.stdout, &tools); err != nil {
		logf("tools-list --json is not {\"tools\": [...]}: %v", err)
		return 1
	}

	type toolCall struct {
		name string
		args []byte
	}
	var calls []toolCall
	if len(conformanceCtx.ToolCalls) > 0 {
		for _, c := range conformanceCtx.ToolCalls {
			args := []byte(c.Arguments)
			if len(args) == 0 {
				args = []byte("{}")
			}
			calls = append(calls, toolCall{c.Name, args})
		}
	} else if steps, ok := instructions[scenario]; ok {
		for _, step := range steps {
			if !step(ctx) {
				failed = true
			}
		}
	} else {
		for _, t := range tools.Tools {
			args, _ := json.Marshal(argsFor(t.InputSchema))
			calls = append(calls, toolCall{t.Name, args})
		}
	}
	for _, c := range calls {
		// Arguments on stdin: any JSON object, whatever its keys.
		r := call(ctx, c.args, append(append([]string{"tools-call"}, callFlags...), c.name, "-")...)
		if r.code != 0 && r.code != 2 {
			failed = true
		}
	}

	if caps == nil || caps["resources"] != nil {
		explore(ctx, "resources-list", "resources", "uri", "resources-read", nil)
	}
	if caps == nil || caps["prompts"] != nil {
		explore(ctx, "prompts-list", "prompts", "name", "prompts-get", promptArgs)
	}
	if failed {
		return 1
	}
	return 0
}

// cleanup closes the session and stops the home's hub, with a context of its own: it runs
// after a signal too.
func cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mc(ctx, nil, "close", session)
	mc(ctx, nil, "hub", "stop")
}

// capabilities finds the server's capabilities in `mcpctl --json @s`; nil if it shows none.
func capabilities(info []byte) map[string]any {
	var doc map[string]any
	if json.Unmarshal(info, &doc) != nil {
		return nil
	}
	var find func(v any, depth int) map[string]any
	find = func(v any, depth int) map[string]any {
		m, ok := v.(map[string]any)
		if !ok || depth > 3 {
			return nil
		}
		if c, ok := m["capabilities"].(map[string]any); ok {
			return c
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			if k != "session" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if c := find(m[k], depth+1); c != nil {
				return c
			}
		}
		return nil
	}
	return find(doc, 0)
}

// explore lists items with listCmd and runs getCmd on each (by key), with extra args.
func explore(ctx context.Context, listCmd, field, key, getCmd string, extra func(item map[string]any) []string) {
	r := call(ctx, nil, listCmd)
	if r.code != 0 {
		return
	}
	var list map[string][]map[string]any
	if json.Unmarshal(r.stdout, &list) != nil {
		return
	}
	for _, item := range list[field] {
		id, _ := item[key].(string)
		if id == "" {
			continue
		}
		args := []string{getCmd, id}
		if extra != nil {
			args = append(args, extra(item)...)
		}
		call(ctx, nil, args...)
	}
}

// promptArgs fills a prompt's required arguments (k:=v, a string).
func promptArgs(p map[string]any) []string {
	var out []string
	as, _ := p["arguments"].([]any)
	for _, a := range as {
		m, _ := a.(map[string]any)
		if name, _ := m["name"].(string); name != "" && m["required"] == true {
			out = append(out, name+":=x")
		}
	}
	return out
}

// argsFor makes arguments for a tool from its input schema: every required property gets
// a value (see valueFor); optional ones are left out, as a user would.
func argsFor(schema map[string]any) map[string]any {
	v, ok := valueFor(schema, schema, 0).(map[string]any)
	if !ok {
		return map[string]any{}
	}
	return v
}

// valueFor makes a value that a schema accepts, in the simple cases: its default, const or
// first enum value, else a value of its (first) type; objects get their required
// properties. Same-document $refs (#/...) are followed; nothing else is.
func valueFor(s map[string]any, root map[string]any, depth int) any {
	if s == nil || depth > 8 {
		return "x"
	}
	if d, ok := s["default"]; ok {
		return d
	}
	if c, ok := s["const"]; ok {
		return c
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	if ref, ok := s["$ref"].(string); ok && strings.HasPrefix(ref, "#/") {
		var cur any = root
		for _, part := range strings.Split(ref[2:], "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			m, _ := cur.(map[string]any)
			cur = m[part]
		}
		if m, ok := cur.(map[string]any); ok {
			return valueFor(m, root, depth+1)
		}
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if alts, ok := s[k].([]any); ok && len(alts) > 0 && s["type"] == nil && s["properties"] == nil {
			m, _ := alts[0].(map[string]any)
			return valueFor(m, root, depth+1)
		}
	}
	typ, _ := s["type"].(string)
	if ts, ok := s["type"].([]any); ok {
		for _, t := range ts {
			if t, _ := t.(string); t != "null" {
				typ = t
				break
			}
		}
	}
	if typ == "" && s["properties"] != nil {
		typ = "object"
	}
	switch typ {
	case "string":
		return "x"
	case "integer", "number":
		return 1
	case "boolean":
		return true
	case "array":
		return []any{}
	case "null":
		return nil
	case "object":
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			name, _ := r.(string)
			p, _ := props[name].(map[string]any)
			out[name] = valueFor(p, root, depth+1)
		}
		return out
	}
	return "x"
}

// instructions are the steps some scenarios ask of the client's user beyond the generic
// flow, in place of calling every tool. Each is done with plain mcpctl commands, so what
// it checks is still what mcpctl shows and sends.
var instructions = map[string][]func(ctx context.Context) bool{
	// "Round-trip the focal tool's inputSchema back via tools/call on json_schema_echo,
	// passing it verbatim as the schema argument" (the scenario's Client Implementation
	// Requirements): the schema is the one `mcpctl tools-get` shows.
	"json-schema-2020-12-preservation": {echoSchema("json_schema_2020_12_tool", "json_schema_echo")},
}

// echoSchema passes the input schema mcpctl shows for tool to echo as its schema argument.
func echoSchema(tool, echo string) func(ctx context.Context) bool {
	return func(ctx context.Context) bool {
		r := call(ctx, nil, "tools-get", tool)
		if r.code != 0 {
			return false
		}
		var t struct {
			InputSchema json.RawMessage `json:"inputSchema"`
		}
		if err := json.Unmarshal(r.stdout, &t); err != nil || len(t.InputSchema) == 0 {
			logf("tools-get %s --json has no inputSchema (%v)", tool, err)
			return false
		}
		args := append(append([]byte(`{"schema":`), t.InputSchema...), '}')
		r = call(ctx, args, "tools-call", echo, "-")
		return r.code == 0 || r.code == 2
	}
}
