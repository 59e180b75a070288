package proc

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

func TestAlive_Self(t *testing.T) {
	st, err := StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !Alive(os.Getpid(), st) {
		t.Fatalf("own process with its start time %d: not alive", st)
	}
	if Alive(os.Getpid(), st+1) {
		t.Fatal("own pid with another start time counted as alive: a reused PID would be taken for ours")
	}
	if Alive(os.Getpid(), 0) {
		t.Fatal("unknown start time counted as alive")
	}
}

func TestAlive_ZombieIsDead(t *testing.T) {
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { _ = cmd.Wait() })
	// Wait for the exit without reaping it (WNOWAIT): the child is now a zombie, and
	// kill(pid, 0) would still succeed on it.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadStat(pid); err != nil || st.State != 'Z' {
		t.Fatalf("child %d: state %c, err %v; want a zombie", pid, st.State, err)
	}
	if _, err := StartTime(pid); err == nil {
		t.Fatalf("zombie %d has a start time: it would count as alive", pid)
	}
}

func TestParseStat_CommandWithParens(t *testing.T) {
	line := []byte("42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615")
	st, err := parseStat(42, line)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != 'S' || st.StartTime != 98765 || st.PGID != 42 {
		t.Fatalf("parseStat = %+v, want state S, start 98765, pgid 42", st)
	}
	if _, err := parseStat(1, []byte("garbage")); err == nil {
		t.Fatal("garbage parsed without error")
	}
}

func TestReadStat_NoProcess(t *testing.T) {
	if _, err := ReadStat(-1); err == nil {
		t.Fatal("pid -1 read without error")
	}
}
