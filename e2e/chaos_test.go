package e2e

// The chaos soak: rounds of random operations from several processes on several sessions
// while bridges, servers and the hub are killed with SIGKILL, the hub and bridges are
// stalled (SIGSTOP, SIGCONT 100–1500 ms later), and the home's filesystem (a tmpfs of its
// own) is filled up and freed again; then, once everything is quiet, the invariants of the
// design. The schedule (which operations, which kills, when)
// comes from a seed printed at the start: -chaos.seed=N replays the same schedule (the
// machine's timing still varies).
//
//	go test ./e2e -run Chaos -v                                  # the CI size
//	go test ./e2e -run Chaos -v -chaos.rounds=200 -chaos.duration=15m
//	go test ./e2e -run Chaos -v -chaos.seed=1234                 # replay a schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

var (
	chaosRounds   = flag.Int("chaos.rounds", 40, "rounds of the chaos soak (TestChaos_*)")
	chaosSeed     = flag.Uint64("chaos.seed", 0, "seed of the chaos schedule (0: from the clock; the seed is printed)")
	chaosDuration = flag.Duration("chaos.duration", 90*time.Second, "stop the chaos rounds after this long, whatever -chaos.rounds says")
)

const (
	chaosSessions = 4 // sessions the operations pick from
	chaosOps      = 6 // concurrent CLI operations per round
	// chaosDiskSize is the size of the tmpfs the chaos home lives on.
	chaosDiskSize = "128m"
)

// chaosRun runs mcpctl without touching t (it is called from many goroutines). Its limit
// is above the CLI's own 60 s wait for a session to become ready: a command that outlives
// it hangs.
func (e *env) chaosRun(ctx context.Context, args ...string) result {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := e.cmd(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{Args: args, Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		r.Code, r.Stderr = -1, err.Error()
	}
	if ctx.Err() != nil {
		r.Code, r.Stderr = -1, "hung: killed after 2m: "+r.Stderr
	}
	return r
}

// chaosLedger is what the run saw: calls that succeeded or failed, events acknowledged by
// `events --json`, kills done, and anything that must fail the test.
type chaosLedger struct {
	mu        sync.Mutex
	succeeded map[string]string // call key -> session
	failedKey map[string]string
	events    map[uint64]string // seq -> the line `events --json` printed
	kills     map[string]int    // bridge, server, hub; stall-hub, stall-bridge; disk-full
	ops       map[string]int    // operation -> count
	opFails   map[string]int
	slow      []string // operations that took more than chaosSlow
	problems  []string
}

func (l *chaosLedger) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.problems) < 20 {
		l.problems = append(l.problems, fmt.Sprintf(format, args...))
	}
}

// chaosSlow: an operation that took longer is reported (a CLI whose hub was killed
// under it may wait up to its 60 s ready timeout before it gives up with exit 3).
const chaosSlow = 10 * time.Second

func (l *chaosLedger) op(name string, r result, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if took > chaosSlow {
		l.slow = append(l.slow, fmt.Sprintf("%s took %s (exit %d: %s)", name, took.Round(time.Second), r.Code, strings.TrimSpace(r.Stderr)))
	}
	l.ops[name]++
	if r.Code != 0 {
		l.opFails[name]++
		if strings.Contains(r.Stderr, "disk is full") {
			l.opFails["(of which: disk full)"]++
		}
	}
}

// record keeps the events a listing printed, and flags any whose content changed.
func (l *chaosLedger) record(stdout string) {
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var ev struct{ Seq uint64 }
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Seq == 0 {
			l.problem("events --json printed a line without a sequence: %q", line)
			continue
		}
		l.mu.Lock()
		if old, ok := l.events[ev.Seq]; ok && old != line {
			l.mu.Unlock()
			l.problem("event %d changed:\n  was %s\n  now %s", ev.Seq, old, line)
			continue
		}
		l.events[ev.Seq] = line
		l.mu.Unlock()
	}
}

// chaosAllowed says whether a failed operation failed in a way chaos may cause: a
// network/bridge error (3), a server error from a killed server (2), a closed session
// (1, "session closed"), or a failed/not-found session after a close+connect lost a race.
func chaosAllowed(r result) bool {
	switch r.Code {
	case 0, 2, 3:
		return true
	case 1:
		for _, s := range []string{"session closed", "not found", "failed", "exists", "crashed", "expired"} {
			if strings.Contains(r.Stderr, s) {
				return true
			}
		}
	}
	return false
}

func TestChaos_RandomOperationsAndKillsKeepTheInvariants(t *testing.T) {
	t.Parallel()
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	fmt.Fprintf(os.Stderr, "chaos: seed %d (replay with -chaos.seed=%d)\n", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos: replay this schedule with: go test ./e2e -run Chaos -chaos.seed=%d -chaos.rounds=%d", seed, *chaosRounds)
		}
	})
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	// The home on a filesystem of its own, small enough to fill in a moment.
	e := smallHome(t, chaosDiskSize)
	names := make([]string, chaosSessions)
	calls := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("c%d", i)
		calls[names[i]] = e.connectTest(names[i])
	}
	connectArgs := func(name string) []string {
		return []string{"connect", "@" + name, "--", serverBin, "--calls-log", calls[name]}
	}
	l := &chaosLedger{succeeded: map[string]string{}, failedKey: map[string]string{}, events: map[uint64]string{},
		kills: map[string]int{}, ops: map[string]int{}, opFails: map[string]int{}}
	ctx := context.Background()

	start := time.Now()
	rounds := 0
	for round := range *chaosRounds {
		if time.Since(start) > *chaosDuration {
			t.Logf("chaos: -chaos.duration %s reached after %d rounds", *chaosDuration, round)
			break
		}
		rounds++
		// The schedule of this round, drawn before anything runs.
		type op struct {
			kind, session, key string
		}
		ops := make([]op, chaosOps)
		for j := range ops {
			o := op{session: names[rng.IntN(len(names))]}
			switch p := rng.IntN(100); {
			case p < 50:
				o.kind, o.key = "call", fmt.Sprintf("r%d-%d", round, j)
			case p < 65:
				o.kind = "restart"
			case p < 75:
				o.kind = "close+connect"
			case p < 85:
				o.kind = "list"
			default:
				o.kind = "events"
			}
			ops[j] = o
		}
		type kill struct {
			what    string
			session string
			after   time.Duration
		}
		var kills []kill
		for _, what := range []string{"bridge", "server", "hub"} {
			if rng.IntN(100) < 30 {
				kills = append(kills, kill{what, names[rng.IntN(len(names))], time.Duration(rng.IntN(400)) * time.Millisecond})
			}
		}
		// Faults that end: a stall (SIGSTOP, then SIGCONT) of the hub or a bridge, and a full
		// disk (filled, then freed), each lasting a drawn 100–1500 ms.
		type fault struct {
			what         string
			session      string
			after, lasts time.Duration
		}
		var faults []fault
		for _, f := range []struct {
			what string
			pct  int
		}{{"stall-hub", 20}, {"stall-bridge", 25}, {"disk-full", 15}} {
			if rng.IntN(100) < f.pct {
				faults = append(faults, fault{f.what, names[rng.IntN(len(names))],
					time.Duration(rng.IntN(400)) * time.Millisecond, time.Duration(100+rng.IntN(1400)) * time.Millisecond})
			}
		}

		var wg sync.WaitGroup
		for _, o := range ops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch o.kind {
				case "call":
					t0 := time.Now()
					r := e.chaosRun(ctx, "@"+o.session, "tools-call", "count", "key:="+o.key)
					l.op(o.kind, r, time.Since(t0))
					l.mu.Lock()
					if r.Code == 0 {
						l.succeeded[o.key] = o.session
					} else {
						l.failedKey[o.key] = o.session
					}
					l.mu.Unlock()
					if r.Code == 0 && strings.TrimSpace(r.Stdout) != "1" {
						l.problem("call %s on @%s succeeded with %q, want 1 (the first call with its key)", o.key, o.session, strings.TrimSpace(r.Stdout))
					}
					if !chaosAllowed(r) {
						l.problem("call: %s", r)
					}
				case "restart":
					t0 := time.Now()
					r := e.chaosRun(ctx, "restart", "@"+o.session)
					l.op(o.kind, r, time.Since(t0))
					if !chaosAllowed(r) {
						l.problem("restart: %s", r)
					}
				case "close+connect":
					t0 := time.Now()
					r := e.chaosRun(ctx, "close", "@"+o.session)
					l.op("close", r, time.Since(t0))
					if !chaosAllowed(r) {
						l.problem("close: %s", r)
					}
					t0 = time.Now()
					r = e.chaosRun(ctx, connectArgs(o.session)...)
					l.op("connect", r, time.Since(t0))
					if !chaosAllowed(r) {
						l.problem("connect: %s", r)
					}
				case "list":
					t0 := time.Now()
					r := e.chaosRun(ctx, "--json", "sessions")
					l.op(o.kind, r, time.Since(t0))
					var list []projector.Session
					if r.Code == 0 && json.Unmarshal([]byte(r.Stdout), &list) != nil {
						l.problem("sessions --json printed no list: %s", r)
					}
					if !chaosAllowed(r) {
						l.problem("list: %s", r)
					}
				case "events":
					t0 := time.Now()
					r := e.chaosRun(ctx, "events", "--json")
					l.op(o.kind, r, time.Since(t0))
					if r.Code == 0 {
						l.record(r.Stdout)
					} else if !chaosAllowed(r) {
						l.problem("events: %s", r)
					}
				}
			}()
		}
		for _, k := range kills {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Chaos timing, not a wait for a condition: the kill lands at a drawn moment
				// of the round.
				<-time.After(k.after)
				var pids []int
				switch k.what {
				case "bridge":
					pids = bridgePIDs(e.home, k.session)
				case "server":
					for _, b := range bridgePIDs(e.home, k.session) {
						pids = append(pids, childrenOf(b)...)
					}
				case "hub":
					pids = hubPIDs(e.home)
				}
				for _, p := range pids {
					if syscall.Kill(p, syscall.SIGKILL) == nil {
						l.mu.Lock()
						l.kills[k.what]++
						l.mu.Unlock()
					}
				}
			}()
		}
		for _, f := range faults {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Chaos timing, not a wait for a condition: the fault starts at a drawn moment
				// and lasts a drawn time.
				<-time.After(f.after)
				switch f.what {
				case "stall-hub", "stall-bridge":
					pids := hubPIDs(e.home)
					if f.what == "stall-bridge" {
						pids = bridgePIDs(e.home, f.session)
					}
					var stopped []int
					for _, p := range pids {
						if syscall.Kill(p, syscall.SIGSTOP) == nil {
							stopped = append(stopped, p)
						}
					}
					<-time.After(f.lasts)
					for _, p := range stopped {
						_ = syscall.Kill(p, syscall.SIGCONT)
					}
					if len(stopped) > 0 {
						l.mu.Lock()
						l.kills[f.what]++
						l.mu.Unlock()
					}
				case "disk-full":
					path, err := fillFS(filepath.Dir(e.home))
					if err != nil {
						l.problem("fill the disk: %v", err)
						return
					}
					<-time.After(f.lasts)
					if err := os.Remove(path); err != nil {
						l.problem("free the disk: %v", err)
					}
					l.mu.Lock()
					l.kills[f.what]++
					l.mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if l.problems != nil {
			break
		}
	}
	elapsed := time.Since(start)
	t.Logf("chaos: %d rounds in %s; kills %v; operations %v, of which failed %v; %d calls succeeded, %d failed; %d events recorded",
		rounds, elapsed.Round(time.Millisecond), l.kills, l.ops, l.opFails, len(l.succeeded), len(l.failedKey), len(l.events))
	if len(l.slow) > 0 {
		t.Logf("chaos: %d operations took more than %s:\n  %s", len(l.slow), chaosSlow, strings.Join(l.slow, "\n  "))
	}
	if len(l.problems) > 0 {
		t.Fatalf("chaos: during the rounds:\n  %s", strings.Join(l.problems, "\n  "))
	}
	if rounds >= 200 {
		for _, k := range []string{"bridge", "server", "hub"} {
			if l.kills[k] < 30 {
				t.Errorf("chaos: only %d %s kills in %d rounds, want at least 30", l.kills[k], k, rounds)
			}
		}
	}

	chaosQuiesce(t, e, names, connectArgs)
	chaosInvariants(t, e, names)

	// Every event an `events --json` printed during the run is still there, unchanged.
	now := map[uint64]string{}
	r := e.ok("events", "--json")
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var ev struct{ Seq uint64 }
		if json.Unmarshal([]byte(line), &ev) == nil {
			now[ev.Seq] = line
		}
	}
	for seq, line := range l.events {
		if now[seq] != line {
			t.Errorf("acknowledged event %d:\n  seen %s\n  now  %q", seq, line, now[seq])
		}
	}

	// Every call that succeeded ran exactly once; one that failed ran at most once.
	for _, name := range names {
		got := callKeys(t, calls[name])
		for key, s := range l.succeeded {
			if s == name && got[key] != 1 {
				t.Errorf("call %s on @%s succeeded but ran %d times", key, name, got[key])
			}
		}
		for key, s := range l.failedKey {
			if s == name && got[key] > 1 {
				t.Errorf("call %s on @%s failed and ran %d times", key, name, got[key])
			}
		}
	}
}

// chaosQuiesce brings every session to rest: open ones ready (restarted if chaos left
// them crashed or failed), closed ones reconnected, and no restart pending.
func chaosQuiesce(t *testing.T, e *env, names []string, connectArgs func(string) []string) {
	t.Helper()
	testwait.For(t, 60*time.Second, func() error {
		var list []projector.Session
		r := e.run("--json", "sessions")
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &list) != nil {
			return fmt.Errorf("sessions: %s", r)
		}
		for _, name := range names {
			i := slices.IndexFunc(list, func(s projector.Session) bool { return s.Name == name })
			switch {
			case i < 0 || list[i].Status == projector.StatusClosed:
				if r := e.run(connectArgs(name)...); r.Code != 0 {
					return fmt.Errorf("reconnect @%s: %s", name, r)
				}
				return fmt.Errorf("@%s was closed", name)
			case list[i].Status == projector.StatusReady:
			case list[i].Status == projector.StatusStarting || list[i].Status == projector.StatusRestarting:
				return fmt.Errorf("@%s is %s", name, list[i].Status)
			default:
				if r := e.run("restart", "@"+name); r.Code != 0 {
					return fmt.Errorf("restart @%s (%s): %s", name, list[i].Status, r)
				}
				return fmt.Errorf("@%s was %s", name, list[i].Status)
			}
		}
		return nil
	})
}

// chaosInvariants checks the resting home: one live bridge per session, the one listed,
// with its socket; a projection equal to a fresh replay; and after `clean` no socket or
// process that the projection does not account for.
func chaosInvariants(t *testing.T, e *env, names []string) {
	t.Helper()
	var list []projector.Session
	testwait.For(t, 20*time.Second, func() error {
		list = nil
		r := e.run("--json", "sessions")
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &list) != nil {
			return fmt.Errorf("sessions: %s", r)
		}
		for _, s := range list {
			if !slices.Contains(names, s.Name) {
				continue
			}
			if s.Bridge == nil {
				return fmt.Errorf("@%s (%s) lists no bridge", s.Name, s.Status)
			}
			if pids := bridgePIDs(e.home, s.Name); len(pids) != 1 || pids[0] != s.Bridge.PID {
				return fmt.Errorf("@%s: live bridges %v, the projection says %d", s.Name, pids, s.Bridge.PID)
			}
			if _, err := os.Stat(s.Bridge.Socket); err != nil {
				return fmt.Errorf("@%s: the listed socket: %v", s.Name, err)
			}
		}
		return nil
	})

	var doc doctorDoc
	r := e.run("--json", "doctor")
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r)
	}
	if c := doc.check(t, "projection"); !c.OK {
		t.Fatalf("the projection differs from a fresh replay: %+v", c)
	}

	e.ok("clean")
	listed := map[string]bool{}
	live := map[int]bool{}
	for _, s := range list {
		if s.Bridge != nil {
			listed[s.Bridge.Socket] = true
			live[s.Bridge.PID] = true
		}
	}
	all, _ := filepath.Glob(filepath.Join(e.home, "bridges", "*.sock"))
	for _, sock := range all {
		if !listed[sock] {
			t.Errorf("after clean: socket %s belongs to no listed bridge", sock)
		}
	}
	hubs := hubPIDs(e.home)
	if len(hubs) != 1 {
		t.Errorf("after clean: hubs %v, want one", hubs)
	}
	for _, pid := range pidsUnder(e.home) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		i := bytes.LastIndexByte(b, ')')
		ppid := 0
		if f := strings.Fields(string(b[i+2:])); len(f) > 1 {
			ppid, _ = strconv.Atoi(f[1])
		}
		if live[pid] || live[ppid] || slices.Contains(hubs, pid) || !procAlive(pid) {
			continue // a listed bridge, its server, the hub
		}
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		t.Errorf("after clean: process %d (parent %d) is no listed bridge, server or hub: %s", pid, ppid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
	}
}
