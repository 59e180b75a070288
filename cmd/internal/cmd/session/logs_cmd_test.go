package session

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
)

// writeLog writes n numbered lines to path.
func writeLog(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// numbered is what writeLog wrote for lines from..to.
func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func TestLogs_PrintsTheLastLinesOfTheSessionLog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines int
		args  []string
		want  string
	}{
		{"a short log: all of it", 3, []string{"logs", "@s"}, numbered(1, 3)},
		{"a long log: the last 50 lines", 60, []string{"logs", "@s"}, numbered(11, 60)},
		{"-n 2: the last 2", 5, []string{"logs", "@s", "-n", "2"}, numbered(4, 5)},
		{"--lines 10 of 5: all 5", 5, []string{"logs", "@s", "--lines", "10"}, numbered(1, 5)},
		{"-n 0: all", 60, []string{"logs", "@s", "-n", "0"}, numbered(1, 60)},
		{"@s@<this node>: this node's log", 3, []string{"logs", "@s@" + cmdtest.Node}, numbered(1, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := cmdtest.New(t)
			writeLog(t, h.Home.SessionLog("s"), tc.lines)
			r := h.Run(t, NewCmdLogs, "", tc.args...)
			if r.Code != 0 || r.Out != tc.want || r.ErrOut != "" {
				t.Errorf("%q on %d lines: exit %d, stderr %q, stdout %q; want 0, %q", tc.args, tc.lines, r.Code, r.ErrOut, r.Out, tc.want)
			}
		})
	}
	t.Run("only the session's own log", func(t *testing.T) {
		h := cmdtest.New(t)
		writeLog(t, h.Home.SessionLog("s"), 2)
		writeLog(t, h.Home.SessionLog("other"), 7)
		r := h.Run(t, NewCmdLogs, "", "logs", "@other", "-n", "1")
		if r.Code != 0 || r.Out != "line 7\n" {
			t.Errorf("logs @other -n 1: exit %d, stdout %q; want %q", r.Code, r.Out, "line 7\n")
		}
	})
	t.Run("a home of before: the legacy log while there is no new one", func(t *testing.T) {
		h := cmdtest.New(t)
		writeLog(t, h.Home.LegacySessionLog("s"), 2)
		r := h.Run(t, NewCmdLogs, "", "logs", "@s")
		if r.Code != 0 || r.Out != numbered(1, 2) {
			t.Errorf("logs @s with a legacy log only: exit %d, stdout %q, stderr %q; want %q", r.Code, r.Out, r.ErrOut, numbered(1, 2))
		}
		writeLog(t, h.Home.SessionLog("s"), 4)
		r = h.Run(t, NewCmdLogs, "", "logs", "@s")
		if r.Code != 0 || r.Out != numbered(1, 4) {
			t.Errorf("logs @s with both logs: exit %d, stdout %q; want the new one, %q", r.Code, r.Out, numbered(1, 4))
		}
	})
}

func TestLogs_Refuses(t *testing.T) {
	t.Run("no log yet: exit 1, where it would be", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "s")
		r := h.Run(t, NewCmdLogs, "", "logs", "@s")
		want := "no log at " + h.Home.SessionLog("s") + " yet"
		if r.Code != 1 || !strings.Contains(r.ErrOut, want) || !strings.Contains(r.ErrOut, "Try: the log appears once a bridge has run") || r.Out != "" {
			t.Errorf("logs @s without a log: exit %d, stdout %q, stderr %q; want 1, %q and a hint", r.Code, r.Out, r.ErrOut, want)
		}
	})
	t.Run("another node's session not opened --remote: exit 1, refused as a remote call", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdLogs, "", "logs", "@s@n2")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "@s@n2 is not open to calls from other nodes") || !strings.Contains(r.ErrOut, "Try: on node n2: mcpctl connect --remote … @s") {
			t.Errorf("logs @s@n2: exit %d, stderr %q; want 1, not open to other nodes, with what to do on n2", r.Code, r.ErrOut)
		}
	})
	t.Run("a bad -n: exit 1", func(t *testing.T) {
		h := cmdtest.New(t)
		writeLog(t, h.Home.SessionLog("s"), 1)
		r := h.Run(t, NewCmdLogs, "", "logs", "@s", "-n", "many")
		if r.Code != 1 || r.Out != "" {
			t.Errorf("logs @s -n many: exit %d, stdout %q, stderr %q; want 1, nothing printed", r.Code, r.Out, r.ErrOut)
		}
	})
}
