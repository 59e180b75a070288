package e2e

// Helpers of the session and bridge scenarios (sessions, races, http, recovery).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// runMany runs n mcpctl processes at once and returns their results in order. The n
// processes are all created first, each a shell blocked on its stdin, and then released
// together by closing those pipes: each execs mcpctl at once (same pid). Starting them one
// after another instead (os/exec forks under a lock; a shell loop gets starved by the Go
// processes it already started) spreads 32 starts on 2 cores over a few hundred
// milliseconds, longer than a whole restart, and they would not be "together".
func runMany(e *env, n int, argsFor func(i int) []string) []result {
	e.t.Helper()
	return runManyOn(e.t, n, func(i int) (*env, []string) { return e, argsFor(i) })
}

// runManyOn is runMany where each process may run on another home or node.
func runManyOn(t testing.TB, n int, argsFor func(i int) (*env, []string)) []result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := make([]result, n)
	cmds := make([]*exec.Cmd, n)
	gates := make([]io.WriteCloser, n)
	bufs := make([][2]bytes.Buffer, n)
	for i := range n {
		var e *env
		e, out[i].Args = argsFor(i)
		cmd := e.cmd(ctx)
		cmd.Path = "/bin/sh"
		cmd.Args = append([]string{"sh", "-c", `read _; exec "$0" "$@" </dev/null`, mcpctlBin}, out[i].Args...)
		cmd.Stdout, cmd.Stderr = &bufs[i][0], &bufs[i][1]
		var err error
		if gates[i], err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for _, g := range gates {
		g.Close()
	}
	for i, cmd := range cmds {
		err := cmd.Wait()
		out[i].Stdout, out[i].Stderr = bufs[i][0].String(), bufs[i][1].String()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			out[i].Code = ee.ExitCode()
		case err != nil:
			t.Fatalf("mcpctl %v: %v", out[i].Args, err)
		}
	}
	return out
}

// step is one expected event: a kind at a generation.
type step struct {
	kind events.Kind
	gen  uint64
}

// assertOrder checks that the steps occur in evs in this order (other events may come
// between them).
func assertOrder(t testing.TB, evs []events.Event, steps ...step) {
	t.Helper()
	i := 0
	for _, ev := range evs {
		if i < len(steps) && ev.Type == steps[i].kind && ev.Generation == steps[i].gen {
			i++
		}
	}
	if i < len(steps) {
		t.Fatalf("events out of order or missing: want %v in this order, first missing %v\n  log: %v", steps, steps[i], kindsOf(evs))
	}
}

func kindsOf(evs []events.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%d:%s@%d", ev.Seq, ev.Type, ev.Generation))
	}
	return out
}

// procState returns a process's state letter from /proc (0: no such process).
func procState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// procAlive: the process exists and is not a zombie.
func procAlive(pid int) bool {
	st := procState(pid)
	return st != 0 && st != 'Z' && st != 'X'
}

// childrenOf lists the live children of ppid.
func childrenOf(ppid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+2:]))
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) && f[0] != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

// deadPID returns the pid of a process that ran and was reaped.
func deadPID(t testing.TB) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// startHTTPServer runs the test server on Streamable HTTP with extra flags and returns its
// URL and process; it is stopped at cleanup.
func startHTTPServer(t testing.TB, extra ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(serverBin, append([]string{"--http", "127.0.0.1:0"}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				lines <- u
			}
		}
		close(lines)
	}()
	select {
	case u, ok := <-lines:
		if !ok {
			t.Fatal("test server ended without a listening line")
		}
		return u, cmd
	case <-time.After(10 * time.Second):
		t.Fatal("test server printed no listening line within 10s")
	}
	return "", nil
}
