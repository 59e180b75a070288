package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// row is one line of the report: an operation measured for one or both tools.
type row struct {
	Group   string               // server key, or "floor"
	Op      string               // operation
	Samples map[string][]float64 // tool name → milliseconds
	Fails   map[string]int       // tool name → failed samples
	Note    string
}

type stormResult struct {
	Server, Kind, Tool string
	N                  int
	Wall               time.Duration
	Fails              int
	FirstErr           string
	BridgesSeen        int // distinct new bridge processes seen in /proc during the storm
	BridgesSpawned     int // mcpctl: bridge_spawned events during the storm (-1: not applicable)
	LiveAfter          int // bridge processes of the session alive once things settled
}

type memResult struct {
	Server, Tool, Process  string
	StartKB, AfterKB       int
	StartPSS, AfterPSS     int
	StartAnonKB, StartFile int
	AfterAnonKB, AfterFile int
	Calls                  int
	Via                    string
}

type results struct {
	Env       *environment
	Config    config
	Date      time.Time
	Elapsed   time.Duration
	Rows      []*row
	Storms    []stormResult
	Memory    []memResult
	Budget    []budgetStep
	BridgeMem *bridgeMemResult
	Load      [2]string // /proc/loadavg at the start and the end
}

type bench struct {
	c       config
	env     *environment
	tools   []*tool // mcpctl first
	servers []server
	res     *results
	closers []func()
	homes   []string // further mcpctl homes of this run (hub start samples)
}

func newBench(c config, env *environment) *bench {
	b := &bench{c: c, env: env, res: &results{Env: env, Config: c, Date: time.Now()}}
	b.tools = []*tool{newMCPCTL(env)}
	if !c.noMCPC {
		b.tools = append(b.tools, newMCPC(env))
	}
	for _, k := range strings.Split(c.servers, ",") {
		switch strings.TrimSpace(k) {
		case "go":
			b.servers = append(b.servers, server{Key: "go", Command: env.TestServer, Tool: "add", ToolArgs: []string{"a:=1", "b:=2"}})
		case "everything":
			b.servers = append(b.servers, server{Key: "everything", Command: env.Node, Args: []string{env.EverythingJS, "stdio"},
				Tool: "get-sum", ToolArgs: []string{"a:=1", "b:=2"}})
		}
	}
	return b
}

func (b *bench) row(group, op, note string) *row {
	r := &row{Group: group, Op: op, Samples: map[string][]float64{}, Fails: map[string]int{}, Note: note}
	b.res.Rows = append(b.res.Rows, r)
	return r
}

func (r *row) add(tool string, res result) {
	if res.Err != nil {
		r.Fails[tool]++
		logf("%s %s/%s failed: %v", tool, r.Group, r.Op, res.Err)
		return
	}
	r.Samples[tool] = append(r.Samples[tool], ms(res.Dur))
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// interleave runs f for each tool, n times, alternating which tool goes first.
func (b *bench) interleave(n int, f func(i int, t *tool)) {
	for i := range n {
		b.interleaveOnce(i, func(t *tool) { f(i, t) })
	}
}

// interleaveOnce runs sample i of f for each tool, tool i mod len(tools) first.
func (b *bench) interleaveOnce(i int, f func(t *tool)) {
	for j := range b.tools {
		f(b.tools[(i+j)%len(b.tools)])
	}
}

// teardown closes what the benchmark opened, mcpctl's hub included.
func (b *bench) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	if len(b.tools) > 1 {
		b.tools[1].run(ctx, "--json", "clean", "all")
	}
	b.tools[0].run(ctx, "hub", "stop")
	homes := map[string]bool{"MCPCTL_HOME=" + b.env.MCPCTLHome: true, "MCPC_HOME_DIR=" + b.env.MCPCHome: true}
	for _, h := range b.homes {
		homes["MCPCTL_HOME="+h] = true
	}
	if n := endLeftovers(homes); n > 0 {
		logf("ended %d leftover processes of this run (bridges their tool no longer tracks)", n)
	}
}

// endLeftovers ends the processes this run started that outlived their tool's own cleanup:
// those whose environment names one of this run's homes. mcpc's restart storm orphans
// bridges that no longer appear in its sessions.json, so `mcpc clean all` cannot stop them.
func endLeftovers(homes map[string]bool) int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if homes[kv] {
				pids = append(pids, pid)
				break
			}
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return len(pids)
}

func (b *bench) runAll(ctx context.Context) error {
	b.res.Load[0] = loadavg()
	defer func() { b.res.Load[1] = loadavg() }()
	targetsOnly := b.c.only == "targets"
	// Before anything else runs a hub: the hub's auto-start from a cold home.
	if err := b.hubStarts(ctx); err != nil {
		return fmt.Errorf("hub start: %w", err)
	}
	// Main sessions, one per server and tool; the first mcpctl connect also starts the hub.
	for _, s := range b.servers {
		r := b.row(s.Key, "first connect", "mcpctl: the first one also starts the hub")
		for _, t := range b.tools {
			res := t.run(ctx, t.connect(s.Key, s)...)
			if res.Err != nil {
				return res.Err
			}
			r.add(t.Name, res)
			sess := s.Key
			b.closers = append(b.closers, func() { t.run(context.Background(), t.close(sess)...) })
		}
	}
	if !targetsOnly {
		if err := b.memory(ctx); err != nil {
			return err
		}
	}
	floorClient := &tool{Name: "floor", exe: b.env.FloorClient, env: os.Environ()}
	for _, s := range b.servers {
		_, sock, err := mcpctlBridge(ctx, b.tools[0], s.Key)
		if err != nil {
			return err
		}
		ops := []struct {
			label, cmd string
			args       []string
			floor      string // the floor measured alongside: op of its row
			raw        string // what the floor client asks
		}{
			{"tools-list", "tools-list", nil, opFloorList, floorRequest("list")},
			{"tools-call " + s.Tool, "tools-call", append([]string{s.Tool}, s.ToolArgs...), opFloorCall, floorRequest("call:" + s.Tool)},
			{"ping", "ping", nil, "", ""},
		}
		if targetsOnly {
			ops = ops[:2]
		}
		for _, op := range ops {
			for _, t := range b.tools { // warm-up, not counted
				t.run(ctx, t.op(s.Key, op.cmd, op.args...)...)
			}
			r := b.row(s.Key, "warm "+op.label, "")
			var fr *row
			if op.floor != "" {
				fr = b.row(s.Key, op.floor, "Go hello world + dial the bridge socket + one JSON-RPC line + its answer, "+
					"one process timed like the CLIs, sample by sample with the warm call above")
				floorClient.run(ctx, sock, op.raw) // warm-up
			}
			for i := range b.c.warm {
				b.interleaveOnce(i, func(t *tool) {
					r.add(t.Name, t.run(ctx, t.op(s.Key, op.cmd, op.args...)...))
				})
				if fr != nil {
					fr.add("floor", floorClient.run(ctx, sock, op.raw))
				}
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if err := b.floors(ctx); err != nil {
		return err
	}
	if b.c.bridges > 0 {
		m, err := b.bridgeMemory(ctx)
		if err != nil {
			return fmt.Errorf("bridge memory: %w", err)
		}
		b.res.BridgeMem = m
	}
	if targetsOnly {
		return ctx.Err()
	}
	for _, s := range b.servers {
		conn := b.row(s.Key, "connect until ready", "a new session; the hub is already running")
		cl := b.row(s.Key, "close", "")
		b.interleave(b.c.slow, func(i int, t *tool) {
			name := fmt.Sprintf("c%d%s", i, s.Key[:1])
			conn.add(t.Name, t.run(ctx, t.connect(name, s)...))
			cl.add(t.Name, t.run(ctx, t.close(name)...))
		})
		rs := b.row(s.Key, "restart until ready", "the command returns once the new bridge answers")
		b.interleave(b.c.slow, func(_ int, t *tool) {
			rs.add(t.Name, t.run(ctx, t.restart(s.Key)...))
		})
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if b.c.storm > 0 {
		for _, s := range b.servers {
			for _, t := range b.tools {
				b.res.Storms = append(b.res.Storms, b.storm(ctx, t, s, "calls"))
			}
			for _, t := range b.tools {
				b.res.Storms = append(b.res.Storms, b.storm(ctx, t, s, "restarts"))
			}
		}
	}
	return ctx.Err()
}

// floors measures what no CLI can beat: starting a Go process, and one request over the
// bridge socket from a process that is already running.
func (b *bench) floors(ctx context.Context) error {
	hello := &tool{Name: "go hello world", exe: b.env.Hello, env: os.Environ()}
	r := b.row("floor", opHello, "fork+exec+exit of the smallest Go binary, timed like the CLIs")
	v := b.row("floor", opVersion, "process start + package init of the mcpctl binary; no hub, no socket")
	hello.run(ctx) // warm-up, not counted
	b.tools[0].run(ctx, "--version")
	// Sample by sample, alternating which goes first.
	for i := range b.c.warm {
		if i%2 == 0 {
			r.add("floor", hello.run(ctx))
		}
		v.add("mcpctl", b.tools[0].run(ctx, "--version"))
		if i%2 == 1 {
			r.add("floor", hello.run(ctx))
		}
	}
	steps, err := b.budget(ctx, b.servers[0].Key)
	if err != nil {
		return fmt.Errorf("budget: %w", err)
	}
	b.res.Budget = steps
	for _, s := range b.servers {
		raw := b.row(s.Key, "raw tools/list over the bridge socket", "dial the socket named in the session state, one request, one answer; no CLI")
		for _, t := range b.tools {
			pid, sock, err := b.bridgeOf(ctx, t, s.Key)
			if err != nil {
				return err
			}
			_ = pid
			for range b.c.warm {
				start := time.Now()
				err := rawRequest(ctx, t.Name, sock, "list")
				raw.add(t.Name, result{Dur: time.Since(start), Err: err})
			}
		}
	}
	return nil
}

func (b *bench) bridgeOf(ctx context.Context, t *tool, session string) (int, string, error) {
	if t.Name == "mcpctl" {
		return mcpctlBridge(ctx, t, session)
	}
	return mcpcBridge(b.env, session)
}

// rawRequest dials a bridge socket and makes one request: tools/list ("list") or a call of
// the server's tool ("call:<tool>"). mcpctl's bridge speaks MCP JSON-RPC lines; mcpc's its
// own request/response envelope, also one JSON object per line.
func rawRequest(ctx context.Context, toolName, sock, what string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var req string
	tn, isCall := strings.CutPrefix(what, "call:")
	switch {
	case toolName == "mcpctl" && isCall:
		req = fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{"a":1,"b":2}}}`, tn)
	case toolName == "mcpctl":
		req = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	case isCall:
		req = fmt.Sprintf(`{"type":"request","id":"1","method":"callTool","params":{"name":%q,"arguments":{"a":1,"b":2}}}`, tn)
	default:
		req = `{"type":"request","id":"1","method":"listTools"}`
	}
	if _, err := c.Write([]byte(req + "\n")); err != nil {
		return err
	}
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("read answer: %w", err)
		}
		var m struct {
			ID     json.RawMessage `json:"id"`
			Type   string          `json:"type"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if json.Unmarshal(line, &m) != nil || len(m.ID) == 0 {
			continue // a notification
		}
		if len(m.Error) > 0 && string(m.Error) != "null" {
			return fmt.Errorf("error answer: %s", m.Error)
		}
		if len(m.Result) == 0 {
			return fmt.Errorf("answer without result: %.200s", line)
		}
		return nil
	}
}

// memory reads the RSS of each tool's bridge (and mcpctl's hub) right after start and after
// memCalls calls.
func (b *bench) memory(ctx context.Context) error {
	hub, err := mcpctlHubPID(b.env)
	if err != nil {
		return err
	}
	for _, s := range b.servers {
		for _, t := range b.tools {
			pid, sock, err := b.bridgeOf(ctx, t, s.Key)
			if err != nil {
				return err
			}
			procs := map[string]int{"bridge": pid}
			if t.Name == "mcpctl" {
				procs["hub"] = hub
			}
			start := map[string]rss{}
			startPSS := map[string]pss{}
			for p, pid := range procs {
				start[p] = readRSS(pid)
				startPSS[p] = readPSS(pid)
			}
			via := "CLI tools-call, 4 in parallel"
			var calls int
			if t.Name == "mcpctl" {
				calls = b.parallel(b.c.memCalls, 4, func() error {
					return t.run(ctx, t.op(s.Key, "tools-call", append([]string{s.Tool}, s.ToolArgs...)...)...).Err
				})
			} else {
				// mcpc's CLI costs ~0.5 s a call: 1,000 of them would take minutes. Its bridge
				// sees the same thing from a raw client: a connection and one callTool.
				via = "one connection + callTool each on the bridge socket (its CLI is too slow for 1,000), 4 in parallel"
				calls = b.parallel(b.c.memCalls, 4, func() error { return rawRequest(ctx, t.Name, sock, "call:"+s.Tool) })
			}
			for p, pid := range procs {
				after := readRSS(pid)
				b.res.Memory = append(b.res.Memory, memResult{Server: s.Key, Tool: t.Name, Process: p,
					StartPSS: startPSS[p].PSS, AfterPSS: readPSS(pid).PSS,
					StartKB: start[p].Total, StartAnonKB: start[p].Anon, StartFile: start[p].File,
					AfterKB: after.Total, AfterAnonKB: after.Anon, AfterFile: after.File, Calls: calls, Via: via})
			}
		}
	}
	sort.SliceStable(b.res.Memory, func(i, j int) bool { return b.res.Memory[i].Process > b.res.Memory[j].Process })
	return nil
}

// parallel runs f n times on k workers and returns how many succeeded.
func (b *bench) parallel(n, k int, f func() error) int {
	var (
		mu    sync.Mutex
		ok    int
		first error
		wg    sync.WaitGroup
	)
	jobs := make(chan struct{})
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				err := f()
				mu.Lock()
				if err == nil {
					ok++
				} else if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		logf("%d of %d calls failed, first: %v", n-ok, n, first)
	}
	return ok
}

type rss struct{ Total, Anon, File int }

func readRSS(pid int) rss {
	kb := procKB(pid, "status")
	return rss{Total: kb["VmRSS"], Anon: kb["RssAnon"], File: kb["RssFile"]}
}

// procKB reads the "Key:  N kB" lines of /proc/<pid>/<file> (nothing when it is gone).
func procKB(pid int, file string) map[string]int {
	out := map[string]int{}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return out
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(ln, ":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			out[k] = n
		}
	}
	return out
}

// storm starts b.c.storm processes of one kind at once against one session and waits for
// all of them; a watcher records every bridge process of the session it sees meanwhile.
func (b *bench) storm(ctx context.Context, t *tool, s server, kind string) stormResult {
	res := stormResult{Server: s.Key, Kind: kind, Tool: t.Name, N: b.c.storm, BridgesSpawned: -1}
	before := bridgePIDs(t, s.Key)
	spawnedBefore := 0
	if t.Name == "mcpctl" {
		spawnedBefore, _ = countSpawned(ctx, t, s.Key)
	}
	seen := map[int]bool{}
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for wctx.Err() == nil {
			for _, pid := range bridgePIDs(t, s.Key) {
				seen[pid] = true
			}
			time.Sleep(time.Millisecond)
		}
	}()
	args := t.op(s.Key, "tools-call", append([]string{s.Tool}, s.ToolArgs...)...)
	if kind == "restarts" {
		args = t.restart(s.Key)
	}
	// Wall time runs from the release of the gate to the last process's exit.
	for _, r := range t.runGated(ctx, b.c.storm, args...) {
		res.Wall = max(res.Wall, r.Dur)
		if r.Err != nil {
			res.Fails++
			if res.FirstErr == "" {
				res.FirstErr = oneLine(r.Err.Error())
			}
		}
	}
	// Let superseded bridges finish exiting before counting the live ones.
	deadline := time.Now().Add(10 * time.Second)
	for len(bridgePIDs(t, s.Key)) > 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stopWatch()
	<-watched
	for _, pid := range before {
		delete(seen, pid)
	}
	res.BridgesSeen = len(seen)
	res.LiveAfter = len(bridgePIDs(t, s.Key))
	if t.Name == "mcpctl" {
		if n, err := countSpawned(ctx, t, s.Key); err == nil {
			res.BridgesSpawned = n - spawnedBefore
		}
	}
	logf("storm %s/%s %s: %d in %s, %d failed, %d bridges seen, %d live after", s.Key, kind, t.Name, res.N,
		res.Wall.Round(time.Millisecond), res.Fails, res.BridgesSeen, res.LiveAfter)
	if res.Fails > 0 {
		logf("  first failure: %s", res.FirstErr)
	}
	// A session broken by the storm would spoil what follows: make sure it answers.
	if r := t.run(ctx, t.op(s.Key, "ping")...); r.Err != nil {
		logf("after the storm @%s does not answer %s: %v; restarting it", s.Key, t.Name, r.Err)
		t.run(ctx, t.restart(s.Key)...)
	}
	return res
}

// bridgePIDs lists the live (not zombie) bridge processes of session.
func bridgePIDs(t *tool, session string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(cl) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
		if !t.bridgeMatch(args, session) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := strings.LastIndexByte(string(st), ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
				continue
			}
		}
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// oneLine squeezes a multi-line error (mcpc prints JSON) into one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
