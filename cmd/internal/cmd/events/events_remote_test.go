package events

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
)

func TestEventsParse_SessionOfAnotherNode(t *testing.T) {
	parse := func(node string, sessions ...string) (*EventsOptions, error) {
		io, _, _ := cmdkit.Test("")
		o := &EventsOptions{F: cmdkit.NewFactory(io), Sessions: sessions, Node: node}
		return o, o.Parse(time.Now())
	}
	t.Run("name@node reads that node's events of the session", func(t *testing.T) {
		o, err := parse("", "@s@na")
		if err != nil || o.query.Node != "na" || o.query.Session != "s" || len(o.remote) != 1 || o.remote[0] != "s@na" {
			t.Fatalf("--session @s@na: query %+v, remote %v, err %v", o.query, o.remote, err)
		}
	})
	t.Run("two nodes at once: exit 1", func(t *testing.T) {
		_, err := parse("", "s@na", "t@nb")
		if err == nil || !strings.Contains(err.Error(), "one node at a time") {
			t.Fatalf("--session s@na --session t@nb: %v", err)
		}
		if _, err := parse("nb", "s@na"); err == nil {
			t.Fatalf("--node nb --session s@na: no error")
		}
	})
	t.Run("a node that is not a subject token: exit 1", func(t *testing.T) {
		if _, err := parse("", "s@n.a"); err == nil || !strings.Contains(err.Error(), "n.a") {
			t.Fatalf("--session s@n.a: %v", err)
		}
	})
}
