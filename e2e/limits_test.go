package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
)

// Memory bounds. Generous: they catch unbounded growth (a queue that keeps every
// notification, a result copied per connection), not a few megabytes.
const (
	maxBridgeRSS = 256 << 20
	maxHubRSS    = 512 << 20
)

// rss returns a process's peak resident set (VmHWM) in bytes.
func rss(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("status of pid %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM for pid %d", pid)
	return 0
}

func oneBridge(t *testing.T, home, session string) int {
	t.Helper()
	p := bridgePIDs(home, session)
	if len(p) != 1 {
		t.Fatalf("bridges of @%s: %v, want one", session, p)
	}
	return p[0]
}

// TestLimits_NotificationFloodAndHugeResult: a server that sends 20,000 rounds of
// notifications, and one that returns a 100 MB result. The flood's call completes, the huge
// result is refused with a clear error (exit 2), the bridges stay within a bounded memory,
// they keep serving, and a neighbouring session is unaffected throughout.
func TestLimits_NotificationFloodAndHugeResult(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.ok("connect", "@flood", "--", serverBin)
	e.ok("connect", "@huge", "--", serverBin)
	e.ok("connect", "@calm", "--", serverBin)

	stop := make(chan struct{})
	var calmErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the neighbour keeps answering while the others misbehave
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r := e.run("@calm", "tools-call", "echo", "text:=still here"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "still here" {
				calmErr = fmt.Errorf("neighbour call failed:\n%s", r)
				return
			}
		}
	}()

	r := e.run("@flood", "tools-call", "notify", "n:=20000")
	if r.Code != 0 || !strings.Contains(r.Stdout, "sent 20000") {
		t.Errorf("the flooding call: want exit 0 and 'sent 20000'\n%s", r)
	}
	r = e.run("@huge", "tools-call", "big", "bytes:=100000000")
	// The result's envelope is 39 bytes; 2026-07-28 adds resultType and the serverInfo _meta.
	hugeSize := "100000039"
	if serverProtocol == protocolModern {
		hugeSize = "100000153"
	}
	if r.Code != 2 || !strings.Contains(r.Stderr, hugeSize+" bytes, more than the") {
		t.Errorf("a 100 MB result: want exit 2 naming its size\n%s", r)
	}
	close(stop)
	wg.Wait()
	if calmErr != nil {
		t.Error(calmErr)
	}
	e.ok("@flood", "ping")
	e.ok("@huge", "tools-call", "echo", "text:=ok")
	if b := rss(t, oneBridge(t, e.home, "flood")); b > maxBridgeRSS {
		t.Errorf("the flooded bridge peaked at %d MiB, want at most %d", b>>20, maxBridgeRSS>>20)
	}
	// The huge result passes through the bridge once (read, decoded, refused): its memory is
	// bounded by a small multiple of the result, not by the number of clients.
	if b := rss(t, oneBridge(t, e.home, "huge")); b > 1<<30 {
		t.Errorf("the bridge of the huge result peaked at %d MiB", b>>20)
	}
	if p := hubPIDs(e.home); len(p) == 1 {
		if b := rss(t, p[0]); b > maxHubRSS {
			t.Errorf("the hub peaked at %d MiB during the flood, want at most %d", b>>20, maxHubRSS>>20)
		}
	}
}

// TestLimits_ThousandConnectionsToOneBridge: 1,000 clients connect to one bridge at once.
// It holds at most its limit (256), refuses the rest with a JSON-RPC error that says so, keeps
// its memory bounded, and answers again once they are gone.
func TestLimits_ThousandConnectionsToOneBridge(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.ok("connect", "@conns", "--", serverBin)
	sock := sockets(e.home, "conns")
	if len(sock) != 1 {
		t.Fatalf("sockets: %v", sock)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	refused, dialErr := 0, 0
	for i := 0; i < 1000; i++ {
		c, err := net.DialTimeout("unix", sock[0], 5*time.Second)
		if err != nil {
			dialErr++
			continue
		}
		conns = append(conns, c)
	}
	// A refused connection gets one error line and is closed; a held one stays silent.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadBytes('\n')
			if bytes.Contains(line, []byte("too many connections")) {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	held := len(conns) - refused
	t.Logf("1000 connections: %d held, %d refused with an error, %d dial errors", held, refused, dialErr)
	if held > 256 || refused+dialErr < 1000-256 {
		t.Errorf("%d held (limit 256), %d refused, %d dial errors", held, refused, dialErr)
	}
	if b := rss(t, oneBridge(t, e.home, "conns")); b > maxBridgeRSS {
		t.Errorf("the bridge peaked at %d MiB with 1000 connections", b>>20)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	testwait.For(t, 10*time.Second, func() error {
		if r := e.run("@conns", "ping"); r.Code != 0 {
			return fmt.Errorf("%s", r)
		}
		return nil
	})
}

// TestLimits_TwoHundredSessions: 200 sessions on one home (each a bridge and a server
// process: 400 processes; about 12 s on 2 cores). All become ready, the hub's memory stays bounded, the listing shows them all, a call on each works,
// and closing them leaves no process behind.
func TestLimits_TwoHundredSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("200 sessions: skipped with -short")
	}
	t.Parallel()
	e := isolated(t)
	const n = 200
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if r := e.run("connect", fmt.Sprintf("@s%03d", i), "--", serverBin); r.Code != 0 {
				errs <- r.String()
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Errorf("connect:\n%s", msg)
	}
	var list []struct {
		Name   string `json:"session"`
		Status string `json:"status"`
	}
	e.jsonOK(&list, "sessions")
	ready := 0
	for _, s := range list {
		if s.Status == "ready" {
			ready++
		}
	}
	if ready != n {
		t.Errorf("%d of %d sessions ready", ready, n)
	}
	for i := 0; i < n; i += 9 {
		e.ok(fmt.Sprintf("@s%03d", i), "ping")
	}
	if p := hubPIDs(e.home); len(p) == 1 {
		b := rss(t, p[0])
		t.Logf("hub peak RSS with %d sessions: %d MiB", n, b>>20)
		if b > maxHubRSS {
			t.Errorf("the hub peaked at %d MiB with %d sessions", b>>20, n)
		}
	}
	e.ok("clean", "--all")
	testwait.For(t, 30*time.Second, func() error {
		var left []int
		for _, p := range pidsUnder(e.home) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
			if args := strings.Split(string(b), "\x00"); len(args) > 1 && args[1] == "bridge" {
				left = append(left, p)
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("%d bridges left: %v", len(left), left)
		}
		return nil
	})
}
