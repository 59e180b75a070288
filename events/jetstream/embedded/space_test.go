package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// smallDisk mounts a tmpfs of size at a fresh directory and unmounts it at cleanup. Without
// root (mount fails) the test is skipped, unless CI is set: CI runs as root.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a %s tmpfs at %s: %v: %s", size, dir, err, out)
		}
		t.Skipf("cannot mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file at path until the filesystem is full, and returns a function that
// removes it.
func fillDisk(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	// The last bytes: a partial page or block may still be free.
	for n := 4096; n > 0; n /= 2 {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Errorf("free the disk: %v", err)
		}
	}
}

func TestServer_StartsOnASmallFilesystem(t *testing.T) {
	dir := smallDisk(t, "64m")
	s := startServer(t, func(s *Server) { s.Dir = filepath.Join(dir, "hub") })
	lim := s.Limits()
	if lim.Space.Free <= 0 || lim.Space.Free > 64<<20 {
		t.Errorf("free space %d, want in (0, 64 MiB]", lim.Space.Free)
	}
	if lim.EventsMaxBytes <= 0 || lim.EventsMaxBytes+lim.NotifyMaxBytes > lim.MaxStore {
		t.Errorf("limits %+v: the streams must fit in MaxStore", lim)
	}
	l := openLog(t, s)
	jstest.MustAppend(t, l, jstest.Created("n1", "a"), events.After(0))

	t.Run("the defaults stay when they fit", func(t *testing.T) {
		sp := jetstream.Space{Free: 10 << 30}
		if ev, no := jetstream.FitLimits(sp, jetstream.DefaultEventsMaxBytes, jetstream.DefaultNotifyMaxBytes); ev != jetstream.DefaultEventsMaxBytes || no != jetstream.DefaultNotifyMaxBytes {
			t.Errorf("FitLimits(10 GiB free) = %d, %d; want the defaults", ev, no)
		}
	})
}

func TestServer_RecoversFromAFullDiskOnceSpaceIsFreed(t *testing.T) {
	skipUnderRace(t)
	dir := smallDisk(t, "64m")
	s := startServer(t, func(s *Server) { s.Dir = filepath.Join(dir, "hub") })
	l := openLog(t, s)
	store, err := jetstream.OpenStore(context.Background(), l.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	var acked []uint64
	acked = append(acked, jstest.MustAppend(t, l, jstest.Created("n1", "a"), events.After(0)))
	if err := store.Put(context.Background(), "n1.a", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}

	free := fillDisk(t, filepath.Join(dir, "fill"))
	// Writes until one fails: the store's files still had part of a page free.
	var failed error
	for i := 0; i < 1000 && failed == nil; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		e := events.New(events.KindRestartRequested, "n1", "a", uint64(i+2))
		var seq uint64
		if seq, failed = l.Append(ctx, e, events.Unconditional()); failed == nil {
			acked = append(acked, seq)
			failed = store.Put(ctx, "n1.a", []byte(fmt.Sprintf(`{"v":%d,"pad":"%0512d"}`, i+2, 0)))
		}
		cancel()
	}
	if failed == nil {
		t.Fatal("1000 writes on a full disk all succeeded")
	}
	testwait.For(t, 5*time.Second, func() error {
		if s.StorageFault() == nil {
			return errors.New("no storage fault reported after a failed write")
		}
		return nil
	})
	if err := s.StopWrites(); err != nil {
		t.Fatalf("stop writes: %v", err)
	}

	free()
	if err := s.Reopen(context.Background()); err != nil {
		t.Fatalf("reopen after the disk was freed: %v", err)
	}
	if err := s.StorageFault(); err != nil {
		t.Fatalf("storage fault after reopen: %v", err)
	}
	// The same connections work again: a new append and a KV write.
	testwait.For(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := l.Append(ctx, events.New(events.KindClosed, "n1", "a", 1), events.Unconditional()); err != nil {
			return err
		}
		return store.Put(ctx, "n1.a", []byte(`{"v":"after"}`))
	})
	got := jstest.Seqs(jstest.ReadAll(t, l, events.Query{}))
	have := map[uint64]bool{}
	for _, q := range got {
		have[q] = true
	}
	for _, q := range acked {
		if !have[q] {
			t.Errorf("acknowledged event %d is gone after the recovery (log has %v)", q, got)
		}
	}
	if v, err := store.Get(context.Background(), "n1.a"); err != nil || string(v) != `{"v":"after"}` {
		t.Errorf("KV after recovery = %q, %v", v, err)
	}
}
