package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// server is one MCP server both tools connect to.
type server struct {
	Key      string // entry name in mcp.json, and the label in the report
	Command  string
	Args     []string
	Tool     string   // a cheap tool to call
	ToolArgs []string // its arguments, k:=v
}

// tool runs one CLI with its own home.
type tool struct {
	Name string
	env  []string
	// argv builders; the session name has no "@".
	connect func(session string, s server) []string
	op      func(session, op string, args ...string) []string
	restart func(session string) []string
	close   func(session string) []string
	exe     string
	// bridgeMatch reports whether a process command line is a bridge of session.
	bridgeMatch func(cmdline []string, session string) bool
}

func newMCPCTL(env *environment) *tool {
	return &tool{
		Name: "mcpctl",
		exe:  env.MCPCTL,
		env:  append(os.Environ(), "MCPCTL_HOME="+env.MCPCTLHome),
		connect: func(session string, s server) []string {
			return append([]string{"connect", "@" + session, "--", s.Command}, s.Args...)
		},
		op: func(session, op string, args ...string) []string {
			return append(append([]string{"@" + session, op}, args...), "--json")
		},
		restart: func(session string) []string { return []string{"restart", "@" + session} },
		close:   func(session string) []string { return []string{"close", "@" + session} },
		bridgeMatch: func(cl []string, session string) bool {
			exe := filepath.Join(filepath.Dir(env.MCPCTL), "mcpctld")
			return len(cl) >= 4 && cl[0] == exe && cl[1] == "bridge" && contains(cl, "--session", session)
		},
	}
}

func newMCPC(env *environment) *tool {
	return &tool{
		Name: "mcpc",
		exe:  env.MCPC,
		env:  append(os.Environ(), "MCPC_HOME_DIR="+env.MCPCHome),
		connect: func(session string, s server) []string {
			return []string{"--json", "connect", env.MCPConfig + ":" + s.Key, "@" + session}
		},
		op: func(session, op string, args ...string) []string {
			return append([]string{"--json", "@" + session, op}, args...)
		},
		restart: func(session string) []string { return []string{"--json", "restart", "@" + session} },
		close:   func(session string) []string { return []string{"--json", "close", "@" + session} },
		bridgeMatch: func(cl []string, session string) bool {
			if len(cl) < 3 || !strings.HasSuffix(cl[1], filepath.Join("dist", "bridge", "index.js")) {
				return false
			}
			return cl[2] == "@"+session
		},
	}
}

func contains(cl []string, flag, value string) bool {
	for i := 0; i+1 < len(cl); i++ {
		if cl[i] == flag && cl[i+1] == value {
			return true
		}
	}
	return false
}

// result of one command.
type result struct {
	Dur    time.Duration
	Err    error
	Stdout []byte
}

// run executes the tool with args, stdin from /dev/null, and times it from fork to exit.
func (t *tool) run(ctx context.Context, args ...string) result {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.exe, args...)
	cmd.Env = t.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		err = fmt.Errorf("%s %s: %v: %s", t.Name, strings.Join(args, " "), err, bytes.TrimSpace(lastBytes(errb.Bytes(), 400)))
	}
	return result{Dur: d, Err: err, Stdout: out.Bytes()}
}

// runGated runs n copies of the tool with args, all launched first and held at a gate (a
// shell waiting on its stdin, which then execs the tool in the same process), then released
// together: a storm whose processes all exist before any of them acts, on a machine that
// would otherwise start them over hundreds of milliseconds. Both tools are launched alike.
func (t *tool) runGated(ctx context.Context, n int, args ...string) []result {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	type proc struct {
		cmd       *exec.Cmd
		gate      io.WriteCloser
		out, errb bytes.Buffer
	}
	ps := make([]*proc, n)
	res := make([]result, n)
	for i := range ps {
		p := &proc{}
		p.cmd = exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", `read _; exec "$0" "$@" </dev/null`, t.exe}, args...)...)
		p.cmd.Env = t.env
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errb
		gate, err := p.cmd.StdinPipe()
		if err == nil {
			err = p.cmd.Start()
		}
		if err != nil {
			res[i].Err = err
			continue
		}
		p.gate = gate
		ps[i] = p
	}
	start := time.Now()
	for _, p := range ps {
		if p != nil {
			p.gate.Close()
		}
	}
	for i, p := range ps {
		if p == nil {
			continue
		}
		err := p.cmd.Wait()
		res[i].Dur = time.Since(start)
		res[i].Stdout = p.out.Bytes()
		if err != nil {
			res[i].Err = fmt.Errorf("%s %s: %v: %s", t.Name, strings.Join(args, " "), err, bytes.TrimSpace(lastBytes(p.errb.Bytes(), 400)))
		}
	}
	return res
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// mustRun runs a setup step whose failure ends the benchmark.
func (t *tool) mustRun(ctx context.Context, args ...string) ([]byte, error) {
	r := t.run(ctx, args...)
	return r.Stdout, r.Err
}

// mcpctlBridge returns the pid and socket of session's bridge, from the projection.
func mcpctlBridge(ctx context.Context, t *tool, session string) (int, string, error) {
	pid, sock, _, err := mcpctlSession(ctx, t, session)
	return pid, sock, err
}

// mcpctlSession returns the pid and socket of session's bridge and the session's node.
func mcpctlSession(ctx context.Context, t *tool, session string) (int, string, string, error) {
	out, err := t.mustRun(ctx, "sessions", "--json")
	if err != nil {
		return 0, "", "", err
	}
	var ss []struct {
		Node    string `json:"node"`
		Session string `json:"session"`
		Bridge  *struct {
			PID    int    `json:"pid"`
			Socket string `json:"socket"`
		} `json:"bridge"`
	}
	if err := json.Unmarshal(out, &ss); err != nil {
		return 0, "", "", fmt.Errorf("mcpctl sessions --json: %w", err)
	}
	for _, s := range ss {
		if s.Session == session && s.Bridge != nil {
			return s.Bridge.PID, s.Bridge.Socket, s.Node, nil
		}
	}
	return 0, "", "", fmt.Errorf("mcpctl: no bridge for @%s", session)
}

// mcpcBridge returns the pid and socket of session's bridge, from mcpc's sessions.json.
func mcpcBridge(env *environment, session string) (int, string, error) {
	b, err := os.ReadFile(filepath.Join(env.MCPCHome, "sessions.json"))
	if err != nil {
		return 0, "", err
	}
	var f struct {
		Sessions map[string]struct {
			PID int `json:"pid"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, "", fmt.Errorf("mcpc sessions.json: %w", err)
	}
	s, ok := f.Sessions["@"+session]
	if !ok || s.PID == 0 {
		return 0, "", fmt.Errorf("mcpc: no bridge for @%s", session)
	}
	return s.PID, filepath.Join(env.MCPCHome, "bridges", "@"+session+"."+strconv.Itoa(s.PID)+".sock"), nil
}

// mcpctlHubPID reads the hub's pid from its address file.
func mcpctlHubPID(env *environment) (int, error) {
	b, err := os.ReadFile(filepath.Join(env.MCPCTLHome, "hub.json"))
	if err != nil {
		return 0, err
	}
	var a struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return 0, err
	}
	return a.PID, nil
}

// countSpawned counts session's bridge_spawned events in the mcpctl log.
func countSpawned(ctx context.Context, t *tool, session string) (int, error) {
	out, err := t.mustRun(ctx, "events", "--session", session, "--type", "bridge_spawned", "--format", "{{.Seq}}")
	if err != nil {
		return 0, err
	}
	return len(strings.Fields(string(out))), nil
}
