package session

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
)

func TestProxy_CopiesStdinToTheBridgeAndItsAnswersToStdout(t *testing.T) {
	t.Run("every request is answered before the proxy ends at EOF", func(t *testing.T) {
		h := cmdtest.New(t)
		rec := &recorder{next: mcpServer}
		openSession(t, h, "s", fakeBridge(t, rec.handle))
		stdin := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}` + "\n" +
			`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n" +
			`{"jsonrpc":"2.0","id":2,"method":"tools/list"}` + "\n"
		r := h.Run(t, NewCmdProxy, stdin, "proxy", "@s")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("proxy @s: exit %d, stderr %q; want 0 and nothing", r.Code, r.ErrOut)
		}
		lines := strings.Split(strings.TrimSuffix(r.Out, "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("proxy @s wrote %d lines, want the 2 answers:\n%s", len(lines), r.Out)
		}
		var init, list rpc.Message
		if json.Unmarshal([]byte(lines[0]), &init) != nil || string(init.ID) != "1" || !strings.Contains(string(init.Result), `"testserver"`) {
			t.Errorf("proxy @s first line = %s, want the answer to initialize (id 1)", lines[0])
		}
		if json.Unmarshal([]byte(lines[1]), &list) != nil || string(list.ID) != "2" || !strings.Contains(string(list.Result), `"name":"a"`) {
			t.Errorf("proxy @s second line = %s, want the answer to tools/list (id 2)", lines[1])
		}
		// The notification between them got no answer (the fake bridge, like a real one,
		// answers requests only), and both requests reached the bridge in order.
		if got := rec.asked(); !slices.Equal(got, []string{"initialize", "tools/list"}) {
			t.Errorf("the bridge was asked %q, want initialize then tools/list", got)
		}
	})
	t.Run("empty stdin: exit 0, nothing written", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", fakeBridge(t, mcpServer))
		r := h.Run(t, NewCmdProxy, "", "proxy", "@s")
		if r.Code != 0 || r.Out != "" || r.ErrOut != "" {
			t.Errorf("proxy @s with empty stdin: exit %d, stdout %q, stderr %q; want 0 and nothing", r.Code, r.Out, r.ErrOut)
		}
	})
}

func TestProxy_Refuses(t *testing.T) {
	t.Run("an unknown session: exit 1, not found", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdProxy, "", "proxy", "@nosuch")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "@nosuch: not found") || r.Out != "" {
			t.Errorf("proxy @nosuch: exit %d, stdout %q, stderr %q; want 1, not found", r.Code, r.Out, r.ErrOut)
		}
	})
	t.Run("another node's session not opened --remote: exit 1, refused as a remote call", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdProxy, "", "proxy", "@s@n2")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "@s@n2 is not open to calls from other nodes") {
			t.Errorf("proxy @s@n2: exit %d, stderr %q; want 1, not open to calls from other nodes", r.Code, r.ErrOut)
		}
	})
	t.Run("without a session: exit 1, usage", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdProxy, "", "proxy")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "proxy needs a session (@name)") {
			t.Errorf("proxy: exit %d, stderr %q; want 1, needs a session", r.Code, r.ErrOut)
		}
	})
}
