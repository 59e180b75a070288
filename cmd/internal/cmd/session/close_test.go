package session

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/events"
)

func TestClose_AppendsClosedOnceAndSaysWhatItDid(t *testing.T) {
	t.Run("an open session: one closed event, and it says so", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "s")
		seq := head(t, h)
		r := h.Run(t, NewCmdClose, "", "close", "@s")
		if r.Code != 0 || r.Out != "@s closed\n" || r.ErrOut != "" {
			t.Fatalf("close @s: exit %d, stdout %q, stderr %q; want 0, %q, nothing", r.Code, r.Out, r.ErrOut, "@s closed\n")
		}
		got := appendedSince(t, h, "s", seq)
		if len(got) != 1 || got[0].Type != events.KindClosed || got[0].Reason != "explicit: mcpctl close" {
			t.Errorf("close @s appended %v, want one closed with reason %q", kindsOf(got), "explicit: mcpctl close")
		}
	})
	t.Run("--json: the session and closed, not already closed", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "s")
		r := h.Run(t, NewCmdClose, "", "close", "@s", "--json")
		var got map[string]any
		if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil {
			t.Fatalf("close @s --json: exit %d, stdout %q, stderr %q; want 0 and a JSON object", r.Code, r.Out, r.ErrOut)
		}
		want := map[string]any{"session": "s", "closed": true, "already_closed": false}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("close @s --json = %v, want %v", got, want)
		}
	})
	t.Run("a closed session: exit 0, already closed, nothing appended", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "s")
		if r := h.Run(t, NewCmdClose, "", "close", "@s"); r.Code != 0 {
			t.Fatalf("first close @s: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		seq := head(t, h)
		r := h.Run(t, NewCmdClose, "", "close", "@s")
		if r.Code != 0 || r.Out != "@s was already closed\n" {
			t.Errorf("second close @s: exit %d, stdout %q; want 0, %q", r.Code, r.Out, "@s was already closed\n")
		}
		r = h.Run(t, NewCmdClose, "", "close", "@s", "--json")
		var doc map[string]any
		if r.Code != 0 || json.Unmarshal([]byte(r.Out), &doc) != nil || doc["already_closed"] != true || doc["closed"] != true {
			t.Errorf("third close @s --json: exit %d, stdout %q; want closed and already_closed true", r.Code, r.Out)
		}
		if got := appendedSince(t, h, "s", seq); len(got) != 0 {
			t.Errorf("closing a closed session appended %v, want nothing", kindsOf(got))
		}
	})
	t.Run("the session's secrets file is deleted", func(t *testing.T) {
		h := cmdtest.New(t)
		ref, err := homedir.WriteSecrets(h.Home, "s", homedir.Secrets{Env: map[string]string{"TOKEN": "x"}})
		if err != nil || ref == "" {
			t.Fatalf("write secrets: %q, %v", ref, err)
		}
		c := events.New(events.KindCreated, cmdtest.Node, "s", 1)
		c.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver", Secrets: ref}
		h.Append(t, c)
		path := h.Home.SecretsDir() + "/" + ref
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("secrets file before close: %v", err)
		}
		if r := h.Run(t, NewCmdClose, "", "close", "@s"); r.Code != 0 {
			t.Fatalf("close @s: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("secrets file after close: stat error %v, want not exist", err)
		}
	})
}

func TestClose_RefusesWhatIsNotASession(t *testing.T) {
	t.Run("an unknown session: exit 1, not found, nothing appended", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "other")
		seq := head(t, h)
		r := h.Run(t, NewCmdClose, "", "close", "@nosuch")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "@nosuch: not found") || !strings.Contains(r.ErrOut, "Try: mcpctl connect") {
			t.Errorf("close @nosuch: exit %d, stderr %q; want 1, not found with a connect hint", r.Code, r.ErrOut)
		}
		if r.Out != "" {
			t.Errorf("close @nosuch: stdout %q, want nothing", r.Out)
		}
		if got := head(t, h); got != seq {
			t.Errorf("close @nosuch moved the log from %d to %d, want nothing appended", seq, got)
		}
	})
	t.Run("a cleaned session is not found", func(t *testing.T) {
		h := cleanedSession(t, "s")
		seq := head(t, h)
		r := h.Run(t, NewCmdClose, "", "close", "@s")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "not found") {
			t.Errorf("close of a cleaned @s: exit %d, stderr %q; want 1, not found", r.Code, r.ErrOut)
		}
		appendedNothing(t, h, seq, "close of a cleaned @s")
	})
	t.Run("--json: the error is a JSON object with the exit code", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdClose, "", "close", "@nosuch", "--json")
		var got struct {
			Error string
			Code  int
		}
		if r.Code != 1 || json.Unmarshal([]byte(r.ErrOut), &got) != nil || got.Code != 1 || !strings.Contains(got.Error, "not found") {
			t.Errorf("close @nosuch --json: exit %d, stdout %q, stderr %q; want 1 and {error: not found, code: 1}", r.Code, r.Out, r.ErrOut)
		}
	})
	for _, args := range [][]string{{"close"}, {"close", "s"}, {"close", "@s", "extra"}, {"close", "@bad/name"}} {
		t.Run("usage: "+strings.Join(args, " "), func(t *testing.T) {
			h := cmdtest.New(t)
			h.Created(t, "s")
			seq := head(t, h)
			r := h.Run(t, NewCmdClose, "", args...)
			if r.Code != 1 || r.ErrOut == "" {
				t.Errorf("%q: exit %d, stderr %q; want 1 and a message", args, r.Code, r.ErrOut)
			}
			if got := head(t, h); got != seq {
				t.Errorf("%q moved the log from %d to %d, want nothing appended", args, seq, got)
			}
		})
	}
}
