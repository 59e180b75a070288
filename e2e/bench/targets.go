package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The targets of issue 12, reported (never asserted) as ratios against their floors.
const (
	targetVersion   = 1.5  // mcpctl --version / Go hello world
	targetWarm      = 2.5  // warm tools-list / tools-call / (hello world + one raw request)
	targetBridgePSS = 8.0  // MB of PSS per extra bridge
	targetHubStart  = 100. // ms from a cold home to the first answered command
)

// Row names the targets table looks up.
const (
	opHello       = "Go hello world process"
	opVersion     = "mcpctl --version"
	opHubFresh    = "hub auto-start: fresh home until `sessions` answers"
	opHubRestart  = "hub auto-start: existing home, hub stopped, until `sessions` answers"
	opFloorList   = "floor: hello + raw tools/list (one process)"
	opFloorCall   = "floor: hello + raw tools/call (one process)"
	opWarmList    = "warm tools-list"
	opWarmCallPfx = "warm tools-call "
)

// floorClientSrc is the floor of a warm call: the hello world plus one request on the bridge
// socket. It dials the socket, sends one newline-delimited JSON-RPC request (its second
// argument) and prints the answer, with bare system calls: the net package and
// encoding/json would add their own start-up (about 2-3 ms here) to what is meant as the
// least any client pays.
const floorClientSrc = `package main

import (
	"bytes"
	"os"
	"syscall"
)

func main() {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		fail(err.Error())
	}
	tv := syscall.Timeval{Sec: 30}
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: os.Args[1]}); err != nil {
		fail("dial: " + err.Error())
	}
	for req := []byte(os.Args[2] + "\n"); len(req) > 0; {
		n, err := syscall.Write(fd, req)
		if err != nil {
			fail("write: " + err.Error())
		}
		req = req[n:]
	}
	var buf []byte
	chunk := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(fd, chunk)
		if err != nil || n <= 0 {
			fail("read answer: no answer")
		}
		buf = append(buf, chunk[:n]...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			line := buf[:i+1]
			buf = buf[i+1:]
			// The answer has an id and a result or error before any "method" (notifications
			// and requests of the server have a method first).
			r := bytes.Index(line, []byte(` + "`\"result\"`" + `))
			if r < 0 {
				r = bytes.Index(line, []byte(` + "`\"error\"`" + `))
			}
			m := bytes.Index(line, []byte(` + "`\"method\"`" + `))
			if r < 0 || !bytes.Contains(line, []byte(` + "`\"id\"`" + `)) || (m >= 0 && m < r) {
				continue
			}
			os.Stdout.Write(line)
			if bytes.HasPrefix(line[r:], []byte(` + "`\"error\"`" + `)) {
				os.Exit(1)
			}
			return
		}
	}
}

func fail(s string) {
	os.Stderr.WriteString(s + "\n")
	os.Exit(1)
}
`

// floorRequest is the JSON-RPC line the floor client sends for op "list" or "call:<tool>".
func floorRequest(what string) string {
	if tn, ok := strings.CutPrefix(what, "call:"); ok {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{"a":1,"b":2}}}`, tn)
	}
	return `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
}

// hubStarts times the hub's auto-start: `mcpctl sessions --json` on a home that does not
// exist yet (the hub creates its store, token and identity), then again on the same home
// after `hub stop`. Each sample has its own home; the hub is stopped after every sample.
func (b *bench) hubStarts(ctx context.Context) error {
	fresh := b.row("hub", opHubFresh, "no hub running, MCPCTL_HOME does not exist; fork to exit of the first command")
	again := b.row("hub", opHubRestart, "the same home right after `hub stop`")
	for i := range b.c.hubStarts {
		home := filepath.Join(b.env.Tmp, fmt.Sprintf("hs%d", i))
		b.homes = append(b.homes, home)
		t := &tool{Name: "mcpctl", exe: b.env.MCPCTL, env: append(os.Environ(), "MCPCTL_HOME="+home)}
		fresh.add("mcpctl", t.run(ctx, "sessions", "--json"))
		if r := t.run(ctx, "hub", "stop"); r.Err != nil {
			return r.Err
		}
		again.add("mcpctl", t.run(ctx, "sessions", "--json"))
		if r := t.run(ctx, "hub", "stop"); r.Err != nil {
			return r.Err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// pss is what /proc/<pid>/smaps_rollup says about a process, in kB.
type pss struct{ RSS, PSS, PSSAnon, PSSFile int }

func readPSS(pid int) pss {
	kb := procKB(pid, "smaps_rollup")
	return pss{RSS: kb["Rss"], PSS: kb["Pss"], PSSAnon: kb["Pss_Anon"], PSSFile: kb["Pss_File"]}
}

func (p pss) plus(q pss) pss {
	return pss{p.RSS + q.RSS, p.PSS + q.PSS, p.PSSAnon + q.PSSAnon, p.PSSFile + q.PSSFile}
}

// procSum is the memory of a set of processes.
type procSum struct {
	N int
	pss
}

// bridgeMemResult is the memory of N extra sessions to the Go test server.
type bridgeMemResult struct {
	N, Opened           int
	AllBefore, AllAfter procSum // every mcpctld bridge of the home, before and after opening the N
	Bridges             procSum // the N sessions' bridges
	Servers             procSum // their MCP servers (the bridges' children)
	HubBefore, HubAfter pss
	ConnectMS           []float64
}

// bridgeMemory opens b.c.bridges sessions to the Go test server, reads the PSS of every
// bridge (only mcpctld bridge processes; the servers are summed apart), and closes them.
func (b *bench) bridgeMemory(ctx context.Context) (*bridgeMemResult, error) {
	t := b.tools[0]
	res := &bridgeMemResult{N: b.c.bridges}
	hub, err := mcpctlHubPID(b.env)
	if err != nil {
		return nil, err
	}
	daemon := filepath.Join(filepath.Dir(b.env.MCPCTL), "mcpctld")
	res.AllBefore = sumPSS(mapValues(mcpctldBridges(daemon)))
	res.HubBefore = readPSS(hub)
	names := make([]string, 0, res.N)
	defer func() {
		for _, n := range names {
			t.run(context.Background(), t.close(n)...)
		}
	}()
	srv := server{Command: b.env.TestServer}
	for i := range res.N {
		n := fmt.Sprintf("m%d", i)
		r := t.run(ctx, t.connect(n, srv)...)
		if r.Err != nil {
			logf("bridge memory: connect @%s: %v", n, r.Err)
			continue
		}
		names = append(names, n)
		res.ConnectMS = append(res.ConnectMS, ms(r.Dur))
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	res.Opened = len(names)
	time.Sleep(time.Second) // let the last bridges finish their start-up work
	all := mcpctldBridges(daemon)
	res.AllAfter = sumPSS(mapValues(all))
	res.HubAfter = readPSS(hub)
	children := childrenOf()
	var mine, servers []int
	for _, n := range names {
		if pid, ok := all[n]; ok {
			mine = append(mine, pid)
			servers = append(servers, children[pid]...)
		}
	}
	res.Bridges = sumPSS(mine)
	res.Servers = sumPSS(servers)
	logf("bridge memory: %d sessions, bridges PSS %s total (%s each), all bridges %s → %s, servers %s, hub %s → %s",
		res.Opened, fmtKB(res.Bridges.PSS), fmtKB(res.Bridges.PSS/max(1, res.Bridges.N)),
		fmtKB(res.AllBefore.PSS), fmtKB(res.AllAfter.PSS), fmtKB(res.Servers.PSS), fmtKB(res.HubBefore.PSS), fmtKB(res.HubAfter.PSS))
	return res, nil
}

// marginalKB is the PSS each extra bridge adds to all the home's bridges together.
func (r *bridgeMemResult) marginalKB() float64 {
	if r == nil || r.Opened == 0 {
		return math.NaN()
	}
	return float64(r.AllAfter.PSS-r.AllBefore.PSS) / float64(r.Opened)
}

func sumPSS(pids []int) procSum {
	var s procSum
	for _, pid := range pids {
		p := readPSS(pid)
		if p.RSS == 0 {
			continue
		}
		s.N++
		s.pss = s.pss.plus(p)
	}
	return s
}

func mapValues(m map[string]int) []int {
	out := make([]int, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// mcpctldBridges maps session name → pid of every live `mcpctld bridge` process of exe.
func mcpctldBridges(exe string) map[string]int {
	out := map[string]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
		if len(args) < 2 || args[0] != exe || args[1] != "bridge" {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := strings.LastIndexByte(string(st), ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
				continue
			}
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--session" {
				out[args[i+1]] = pid
			}
		}
	}
	return out
}

// childrenOf maps each pid to its children's pids.
func childrenOf() map[int][]int {
	out := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(st), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			out[ppid] = append(out[ppid], pid)
		}
	}
	return out
}

// target is one line of the targets table.
type target struct {
	What, Measured, Floor, Value, Target string
	Met                                  string
}

func metMark(v, limit float64) string {
	switch {
	case math.IsNaN(v):
		return "not measured"
	case v <= limit:
		return "✅ met"
	}
	return fmt.Sprintf("❌ missed (%.2f× the target)", v/limit)
}

func median(r *row, tool string) float64 {
	if r == nil {
		return math.NaN()
	}
	return quantile(r.Samples[tool], .5)
}

func (res *results) targets() []target {
	var ts []target
	ratio := func(what string, m, f float64, limit float64) {
		v := m / f
		ts = append(ts, target{What: what, Measured: fmtMS(m), Floor: fmtMS(f), Value: fmtRatio(v),
			Target: fmt.Sprintf("≤ %.1f×", limit), Met: metMark(v, limit)})
	}
	ratio("`mcpctl --version` vs a Go hello world process", median(res.find("floor", opVersion), "mcpctl"),
		median(res.find("floor", opHello), "floor"), targetVersion)
	for _, s := range []string{"go", "everything"} {
		for _, r := range res.Rows {
			if r.Group != s {
				continue
			}
			var floor *row
			switch {
			case r.Op == opWarmList:
				floor = res.find(s, opFloorList)
			case strings.HasPrefix(r.Op, opWarmCallPfx):
				floor = res.find(s, opFloorCall)
			}
			if floor == nil {
				continue
			}
			ratio(fmt.Sprintf("%s: warm `mcpctl @s %s` vs hello world + one raw request on the bridge socket", s,
				strings.TrimPrefix(r.Op, "warm ")), median(r, "mcpctl"), median(floor, "floor"), targetWarm)
		}
	}
	if m := res.BridgeMem; m != nil {
		v := m.marginalKB() / 1024
		ts = append(ts, target{
			What:     fmt.Sprintf("PSS per extra bridge (%d sessions to the Go test server; Δ PSS of all mcpctld bridges / %d)", m.Opened, m.Opened),
			Measured: fmt.Sprintf("%.1f MB", v), Floor: "–", Value: fmt.Sprintf("%.1f MB", v),
			Target: fmt.Sprintf("≤ %.0f MB", targetBridgePSS), Met: metMark(v, targetBridgePSS)})
	}
	for _, op := range []string{opHubFresh, opHubRestart} {
		r := res.find("hub", op)
		if r == nil {
			continue
		}
		v := median(r, "mcpctl")
		ts = append(ts, target{What: strings.Replace(op, "hub auto-start", "hub auto-start (median)", 1),
			Measured: fmtMS(v), Floor: "–", Value: fmtMS(v),
			Target: fmt.Sprintf("≤ %.0f ms", targetHubStart), Met: metMark(v, targetHubStart)})
	}
	return ts
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

func renderTargets(res *results) string {
	ts := res.targets()
	if len(ts) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| target | mcpctl (median) | floor (median) | ratio / value | target | met? |\n")
	b.WriteString("|---|--:|--:|--:|--:|---|\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", t.What, t.Measured, t.Floor, t.Value, t.Target, t.Met)
	}
	return b.String()
}

// renderBridgeMem details the N-session memory reading.
func renderBridgeMem(m *bridgeMemResult) string {
	if m == nil {
		return ""
	}
	var b strings.Builder
	per := func(s procSum) string {
		if s.N == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f MB (RSS %.1f MB)", float64(s.PSS)/1024/float64(s.N), float64(s.RSS)/1024/float64(s.N))
	}
	fmt.Fprintf(&b, "**Bridge memory at %d sessions** (%d of %d connects succeeded, connect median %s; PSS and RSS "+
		"from /proc/<pid>/smaps_rollup; PSS splits each shared page among the processes mapping it):\n\n",
		m.Opened, m.Opened, m.N, fmtMS(quantile(m.ConnectMS, .5)))
	b.WriteString("| processes | count | total PSS | PSS (anon + file) each | total RSS | per process |\n|---|--:|--:|--:|--:|--:|\n")
	row := func(name string, s procSum) {
		each := "–"
		if s.N > 0 {
			each = fmt.Sprintf("%s + %s", fmtKB(s.PSSAnon/s.N), fmtKB(s.PSSFile/s.N))
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", name, s.N, fmtKB(s.PSS), each, fmtKB(s.RSS), per(s))
	}
	row("the new sessions' mcpctld bridges", m.Bridges)
	row("all mcpctld bridges of the home, before", m.AllBefore)
	row("all mcpctld bridges of the home, after", m.AllAfter)
	row("the new sessions' MCP servers (Go test server, not counted above)", m.Servers)
	fmt.Fprintf(&b, "\nPer extra bridge (Δ all bridges / %d): **%.1f MB PSS**. Hub PSS %s → %s (%+.0f kB per session).\n\n",
		m.Opened, m.marginalKB()/1024, fmtKB(m.HubBefore.PSS), fmtKB(m.HubAfter.PSS),
		float64(m.HubAfter.PSS-m.HubBefore.PSS)/float64(max(1, m.Opened)))
	return b.String()
}
