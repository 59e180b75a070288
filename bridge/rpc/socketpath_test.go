package rpc

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestSocketPath(t *testing.T) {
	pad := func(n int, suffix string) string { return "/" + strings.Repeat("p", n-1-len(suffix)) + suffix }
	fallback := FallbackDir()
	if want := filepath.Join("/tmp", "mcpctl-"+strconv.Itoa(os.Getuid())); fallback != want {
		t.Errorf("FallbackDir = %q, want %q", fallback, want)
	}

	t.Run("a path that fits is used as is", func(t *testing.T) {
		for _, p := range []string{"/h/bridges/s.1.sock", pad(MaxSocketPath, "/s.1.sock")} {
			if got := SocketPath(p); got != p {
				t.Errorf("SocketPath(%d bytes) = %q, want it unchanged", len(p), got)
			}
		}
	})
	t.Run("one byte too long moves to the fallback directory under its base name", func(t *testing.T) {
		p := pad(MaxSocketPath+1, "/s.1.sock")
		if got, want := SocketPath(p), filepath.Join(fallback, "s.1.sock"); got != want {
			t.Errorf("SocketPath(%d bytes) = %q, want %q", len(p), got, want)
		}
	})
	t.Run("a base name too long for the fallback is hashed", func(t *testing.T) {
		base := strings.Repeat("n", MaxSocketPath) + ".sock"
		a, b := "/one/"+base, "/two/"+base
		ga, gb := SocketPath(a), SocketPath(b)
		for _, g := range []string{ga, gb} {
			if filepath.Dir(g) != fallback || len(g) > MaxSocketPath || !strings.HasSuffix(g, ".sock") {
				t.Errorf("SocketPath = %q (%d bytes), want a .sock name in %s within %d bytes", g, len(g), fallback, MaxSocketPath)
			}
		}
		if ga == gb {
			t.Errorf("two paths map to one socket %q", ga)
		}
		if again := SocketPath(a); again != ga {
			t.Errorf("SocketPath is not stable: %q then %q", ga, again)
		}
	})
}

// The limit is the kernel's: a path of MaxSocketPath bytes binds, one more does not.
func TestMaxSocketPath_IsTheKernelLimit(t *testing.T) {
	dir := t.TempDir()
	name := func(n int) string { return filepath.Join(dir, strings.Repeat("x", n-len(dir)-1)) }
	if len(dir)+2 > MaxSocketPath {
		t.Skipf("temp dir %q leaves no room for a socket name", dir)
	}
	ln, err := net.Listen("unix", name(MaxSocketPath))
	if err != nil {
		t.Fatalf("listen on a %d-byte path: %v", MaxSocketPath, err)
	}
	ln.Close()
	if ln, err := net.Listen("unix", name(MaxSocketPath+1)); err == nil {
		ln.Close()
		t.Fatalf("listen on a %d-byte path succeeded, want it refused", MaxSocketPath+1)
	}
}
