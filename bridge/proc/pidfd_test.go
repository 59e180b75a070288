package proc

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// startChild starts argv and returns it with its start time; cleanup kills and reaps it.
func startChild(t *testing.T, argv ...string) (*exec.Cmd, uint64) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	start, err := StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, start
}

func exitSignal(t *testing.T, cmd *exec.Cmd) syscall.Signal {
	t.Helper()
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("wait: %v, want the process killed by a signal", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() {
		t.Fatalf("exit status %v, want killed by a signal", ws)
	}
	return ws.Signal()
}

func TestPidfd(t *testing.T) {
	t.Run("Wait returns when the process exits", func(t *testing.T) {
		cmd, start := startChild(t, "sleep", "0.2")
		p, err := OpenPidfd(cmd.Process.Pid, start)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		began := time.Now()
		if !p.Wait(ctx) {
			t.Fatalf("Wait = false after %s, want true (sleep 0.2 exited)", time.Since(began))
		}
	})
	t.Run("Wait returns false when ctx ends first", func(t *testing.T) {
		cmd, start := startChild(t, "sleep", "30")
		p, err := OpenPidfd(cmd.Process.Pid, start)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if p.Wait(ctx) {
			t.Fatal("Wait = true for a running sleep 30, want false at the deadline")
		}
	})
	t.Run("Stop ends a process with SIGTERM", func(t *testing.T) {
		cmd, start := startChild(t, "sleep", "30")
		p, err := OpenPidfd(cmd.Process.Pid, start)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Stop(context.Background(), 10*time.Second); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if sig := exitSignal(t, cmd); sig != syscall.SIGTERM {
			t.Fatalf("sleep 30 ended by %v, want SIGTERM", sig)
		}
	})
	t.Run("Stop sends SIGKILL after the grace", func(t *testing.T) {
		// It says "ready" once SIGTERM is ignored: a SIGTERM before the trap would end it.
		cmd := exec.Command("sh", "-c", `trap "" TERM; echo ready; exec sleep 30`)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		start, err := StartTime(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		p, err := OpenPidfd(cmd.Process.Pid, start)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		began := time.Now()
		if err := p.Stop(context.Background(), 200*time.Millisecond); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if d := time.Since(began); d < 200*time.Millisecond {
			t.Errorf("Stop returned after %s, before the 200ms grace", d)
		}
		if sig := exitSignal(t, cmd); sig != syscall.SIGKILL {
			t.Fatalf("a process ignoring SIGTERM ended by %v, want SIGKILL", sig)
		}
	})
	t.Run("a process that is gone is ErrNoProcess", func(t *testing.T) {
		cmd, start := startChild(t, "sleep", "30")
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if _, err := OpenPidfd(cmd.Process.Pid, start); !errors.Is(err, ErrNoProcess) {
			t.Fatalf("OpenPidfd of a reaped process: %v, want ErrNoProcess", err)
		}
	})
}
