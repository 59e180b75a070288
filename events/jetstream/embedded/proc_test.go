package embedded

import (
	"bufio"
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
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// helper is a re-executed test binary running one helper role.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startHelper(t *testing.T, role string, env ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + role}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return h
}

// line reads the helper's next output line.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	if !h.out.Scan() {
		t.Fatalf("helper %d: no more output (%v)", h.cmd.Process.Pid, h.out.Err())
	}
	return h.out.Text()
}

func concurrencyRounds(t *testing.T) int {
	if v := os.Getenv("MCPCTL_CAS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("MCPCTL_CAS_ROUNDS=%q", v)
		}
		return n
	}
	if testing.Short() {
		return 20
	}
	return 100
}

// TestAppend_ConcurrentProcessesOneWinner is the acceptance test of the concurrency rule's
// compare-and-set: 8 processes with 8 goroutines each append restart_requested for the same
// session expecting the same sequence; exactly one wins, all others get ErrConflict.
func TestAppend_ConcurrentProcessesOneWinner(t *testing.T) {
	const procs, perProc = 8, 8
	s := startServer(t)
	l := openLog(t, s)
	helpers := make([]*helper, procs)
	for i := range helpers {
		helpers[i] = startHelper(t, "append", "HELPER_URL="+s.ClientURL(), "HELPER_TOKEN="+s.Token,
			"HELPER_GOROUTINES="+strconv.Itoa(perProc))
	}
	for _, h := range helpers {
		if got := h.line(t); got != "ready" {
			t.Fatalf("helper said %q", got)
		}
	}
	rounds := concurrencyRounds(t)
	for r := range rounds {
		session := fmt.Sprintf("s%d", r%10) // sessions are reused: the expectation moves on
		seen, err := l.LastSeq(context.Background(), "n1", session)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range helpers {
			fmt.Fprintf(h.stdin, "round n1 %s %d\n", session, seen)
		}
		var wins, conflicts int
		var winSeq uint64
		for _, h := range helpers {
			var w, c, o int
			var ws uint64
			if _, err := fmt.Sscanf(h.line(t), "result %d %d %d %d", &w, &c, &o, &ws); err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
			if o != 0 {
				t.Fatalf("round %d: %d appends failed with an error other than ErrConflict", r, o)
			}
			wins += w
			conflicts += c
			if w > 0 {
				winSeq = ws
			}
		}
		if wins != 1 || conflicts != procs*perProc-1 {
			t.Fatalf("round %d (@%s expecting %d): %d winners, %d conflicts; want 1 and %d",
				r, session, seen, wins, conflicts, procs*perProc-1)
		}
		if got, _ := l.LastSeq(context.Background(), "n1", session); got != winSeq {
			t.Fatalf("round %d: LastSeq = %d, winner's seq %d", r, got, winSeq)
		}
	}
	if h, _ := l.Head(context.Background()); h != uint64(rounds) {
		t.Fatalf("head %d after %d rounds: losers stored events", h, rounds)
	}
}

func TestServer_SecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	t.Run("in process", func(t *testing.T) {
		s1 := NewServer(dir)
		s1.Token = testToken
		if err := s1.Open(); err != nil {
			t.Fatal(err)
		}
		s2 := NewServer(dir)
		s2.Token = testToken
		err := s2.Open()
		if !errors.Is(err, events.ErrLocked) || !strings.Contains(err.Error(), s2.LockPath()) ||
			!strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
			t.Fatalf("second Open: %v; want ErrLocked naming %s and pid %d", err, s2.LockPath(), os.Getpid())
		}
		if err := s1.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s2.Open(); err != nil {
			t.Fatalf("Open after Close: %v", err)
		}
		if err := s2.Open(); err == nil {
			t.Fatal("Open of an open server succeeded")
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s2.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("other process", func(t *testing.T) {
		h := startHelper(t, "lock", "HELPER_DIR="+dir, "HELPER_TOKEN="+testToken)
		if got := h.line(t); got != "open" {
			t.Fatalf("helper: %q", got)
		}
		s := NewServer(dir)
		s.Token = testToken
		err := s.Open()
		if !errors.Is(err, events.ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(h.cmd.Process.Pid)) {
			t.Fatalf("Open while pid %d holds the store: %v", h.cmd.Process.Pid, err)
		}
		// A killed holder releases the lock with its process.
		if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = h.cmd.Wait()
		if err := s.Open(); err != nil {
			t.Fatalf("Open after the holder died: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestServer_AcknowledgedEventsSurviveKill9(t *testing.T) {
	const n = 50
	dir := t.TempDir()
	h := startHelper(t, "durable", "HELPER_DIR="+dir, "HELPER_TOKEN="+testToken, "HELPER_N="+strconv.Itoa(n))
	var acked []uint64
	for len(acked) < n {
		var seq uint64
		if _, err := fmt.Sscanf(h.line(t), "ack %d", &seq); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, seq)
	}
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Wait()

	s := NewServer(dir)
	s.Token = testToken
	if err := s.Open(); err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	l := openLog(t, s)
	got := jstest.ReadAll(t, l, events.Query{Session: "dur"})
	if len(got) != n {
		t.Fatalf("read %d events after kill -9, %d were acknowledged", len(got), n)
	}
	for i, e := range got {
		if e.Seq != acked[i] || e.Generation != uint64(i+1) {
			t.Fatalf("event %d: seq %d gen %d, acked seq %d", i, e.Seq, e.Generation, acked[i])
		}
	}
	// And the compare-and-set continues from there.
	jstest.MustAppend(t, l, events.New(events.KindClosed, "n1", "dur", n), events.After(acked[n-1]))
}

func TestServer_PrefersPreviousPort(t *testing.T) {
	s1 := startServer(t)
	port := s1.ListenPort()
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, func(s *Server) { s.PreferPort = port })
	if got := s2.ListenPort(); got != port {
		t.Fatalf("port %d, preferred %d", got, port)
	}
	// A busy preferred port falls back to a random one.
	s3 := startServer(t, func(s *Server) { s.PreferPort = port })
	if got := s3.ListenPort(); got == port || got == 0 {
		t.Fatalf("port %d with preferred %d busy", got, port)
	}
}

func TestServer_RefusesNonLoopbackAndNoToken(t *testing.T) {
	s := NewServer(t.TempDir())
	s.Token = testToken
	s.Host = "0.0.0.0"
	if err := s.Open(); err == nil {
		_ = s.Close()
		t.Fatal("Open on 0.0.0.0 succeeded")
	}
	s = NewServer(t.TempDir())
	if err := s.Open(); err == nil {
		_ = s.Close()
		t.Fatal("Open without a token succeeded")
	}
}

func TestServer_RejectsWrongToken(t *testing.T) {
	s := startServer(t)
	if nc, err := jetstream.Dial(context.Background(), s.ClientURL(), "wrong"); err == nil {
		nc.Close()
		t.Fatal("dial with a wrong token succeeded")
	}
}

func TestDialHub_FollowsRestartOnAnotherPort(t *testing.T) {
	dir := t.TempDir()
	addr := dir + "/hub.json"
	s1 := NewServer(dir + "/hub")
	s1.Token = testToken
	if err := s1.Open(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s1.Close() }()
	if err := jetstream.WriteAddress(addr, jetstream.Address{URL: s1.ClientURL(), PID: os.Getpid(), Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	nc, err := jetstream.DialHub(context.Background(), addr, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	l, err := jetstream.NewLog(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	s1seq := jstest.MustAppend(t, l, jstest.Created("n1", "a"), events.After(0))
	oldPort := s1.ListenPort()
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := NewServer(dir + "/hub")
	s2.Token = testToken
	if err := s2.Open(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s2.Close() }()
	if s2.ListenPort() == oldPort {
		t.Fatalf("the restarted hub got the old port %d by chance; the test proves nothing", oldPort)
	}
	if err := jetstream.WriteAddress(addr, jetstream.Address{URL: s2.ClientURL(), PID: os.Getpid(), Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, func() error {
		if !nc.IsConnected() {
			return errors.New("not reconnected")
		}
		if got := nc.ConnectedAddr(); !strings.HasSuffix(got, ":"+strconv.Itoa(s2.ListenPort())) {
			return fmt.Errorf("connected to %s", got)
		}
		return nil
	})
	if got, err := l.LastSeq(context.Background(), "n1", "a"); err != nil || got != s1seq {
		t.Fatalf("LastSeq through the restarted hub = %d, %v; want %d", got, err, s1seq)
	}
}
