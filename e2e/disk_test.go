package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

// smallHome returns an isolated home on a tmpfs of its own of size (e.g. "64m"); the tmpfs
// is unmounted after the home's hub is stopped. Mounting needs root: without it the test is
// skipped, unless CI is set (CI runs as root).
func smallHome(t *testing.T, size string) *env {
	t.Helper()
	mnt, err := os.MkdirTemp(workDir, "m")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a %s tmpfs at %s: %v: %s", size, mnt, err, out)
		}
		t.Skipf("cannot mount a tmpfs (needs root; CI runs as root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	home := filepath.Join(mnt, "h")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, home: home, node: "e2e"}
	t.Cleanup(func() { stopHub(home) })
	return e
}

// fillDisk fills the filesystem holding dir with one file and returns a function that
// removes it again.
func fillDisk(t *testing.T, dir string) (free func()) {
	t.Helper()
	path, err := fillFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("free the disk: %v", err)
		}
	}
}

// fillFS writes a file into dir until its filesystem is full, and returns the file's path
// (it does not touch a testing.T: the chaos test calls it from its own goroutines).
func fillFS(dir string) (string, error) {
	f, err := os.CreateTemp(dir, "fill")
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n := len(buf); n > 0; n /= 4 {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	return f.Name(), nil
}

func TestDisk_HubStartsOnASmallFilesystemAndDoctorShowsItsLimits(t *testing.T) {
	t.Parallel()
	e := smallHome(t, "64m")
	e.connectTest("small")
	var doc doctorDoc
	r := e.run("--json", "doctor")
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r)
	}
	c := doc.check(t, "storage")
	if !c.OK || !strings.Contains(c.Detail, "free of 64.0 MiB") || !strings.Contains(c.Detail, "size limits: MCPCTL_EVENTS") {
		t.Errorf("storage check = %+v, want ok with the free space of the 64 MiB filesystem and the limits", c)
	}
}

func TestDisk_HubStartFailureNamesItsOwnCause(t *testing.T) {
	t.Parallel()
	e := smallHome(t, "64m")
	e.ok("sessions") // the token and the store exist
	e.ok("hub", "stop")
	// An older hub's last words, which must not be taken for this one's.
	lf, err := os.OpenFile(filepath.Join(e.home, "logs", "hub.log"), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(lf, "mcpctl: an old hub's stale error")
	lf.Close()
	free := fillDisk(t, filepath.Dir(e.home))
	defer free()
	r := e.run("sessions")
	if r.Code != 3 || strings.Contains(r.Stderr, "stale error") || !strings.Contains(r.Stderr, "disk is full") {
		t.Errorf("a hub start on a full disk:\n%s\nwant exit 3 naming the full disk, not the old log", r)
	}
	free()
	e.ok("sessions")
}

func TestDisk_FullDiskFailsCommandsAndTheHubRecoversWhenSpaceIsFreed(t *testing.T) {
	t.Parallel()
	e := smallHome(t, "64m")
	calls := e.connectTest("f")
	free := fillDisk(t, filepath.Dir(e.home))
	defer free()

	r := e.run("restart", "@f")
	if r.Code != 3 || !strings.Contains(r.Stderr, "disk is full") {
		t.Errorf("restart on a full disk:\n%s\nwant exit 3 naming the full disk", r)
	}
	// While the disk is full, commands fail at once with the cause instead of hanging.
	start := time.Now()
	r = e.run("restart", "@f")
	if r.Code != 3 || !strings.Contains(r.Stderr, "disk is full") || time.Since(start) > 15*time.Second {
		t.Errorf("second restart on a full disk (took %s):\n%s\nwant exit 3 naming the full disk", time.Since(start), r)
	}

	free()
	// The hub resumes by itself: the KV catches up with the log, a restart spawns a bridge,
	// and calls work.
	testwait.For(t, 30*time.Second, func() error {
		var doc doctorDoc
		r := e.run("--json", "doctor")
		if json.Unmarshal([]byte(r.Stdout), &doc) != nil {
			return fmt.Errorf("doctor: %s", r)
		}
		for _, c := range doc.Checks {
			if !c.OK {
				return fmt.Errorf("doctor: %s: %s", c.Name, c.Detail)
			}
		}
		return nil
	})
	before, _ := e.session("f")
	r = e.ok("--json", "restart", "@f")
	after, _ := e.session("f")
	if after.Status != projector.StatusReady || after.Generation <= before.Generation || after.Bridge == nil {
		t.Errorf("restart after the disk was freed: before %s gen %d, after %s gen %d (%s)", before.Status, before.Generation,
			after.Status, after.Generation, r.Stdout)
	}
	if after.Bridge == nil {
		t.Fatalf("@f lists no bridge after the restart: %+v", after)
	}
	// A superseded bridge exits by itself once it sees the newer generation.
	testwait.For(t, 10*time.Second, func() error {
		if pids := bridgePIDs(e.home, "f"); len(pids) != 1 || pids[0] != after.Bridge.PID {
			return fmt.Errorf("bridges of @f: %v, want only the listed %d", pids, after.Bridge.PID)
		}
		return nil
	})
	e.ok("@f", "tools-call", "count", "key:=after-disk-full")
	if n := callKeys(t, calls)["after-disk-full"]; n != 1 {
		t.Errorf("the call after the recovery ran %d times, want 1", n)
	}
}
