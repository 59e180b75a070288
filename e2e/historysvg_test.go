package e2e

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

func TestHistory_SVGOfARestartStormAndACrash(t *testing.T) {
	e := isolated(t)
	const s = "svgstorm"
	e.connectTest(s)
	// A crash: the bridge is killed, the policy starts generation 2.
	pids := bridgePIDs(e.home, s)
	if len(pids) != 1 {
		t.Fatalf("bridges of @%s: %v, want one", s, pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 30*time.Second, func() error {
		if st, _ := e.session(s); st.Generation != 2 || st.Status != "ready" {
			return fmt.Errorf("@%s is %s at generation %d, want ready at 2 after the crash", s, st.Status, st.Generation)
		}
		return nil
	})
	// A storm: five restarts one after another, generations 3 to 7.
	for range 5 {
		e.ok("restart", "@"+s)
	}
	file := filepath.Join(t.TempDir(), s+".svg")
	e.ok("@"+s, "history", "--svg", file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name
		Groups  []struct {
			ID      string   `xml:"id,attr"`
			Crashed string   `xml:"data-crashed,attr"`
			Trigger string   `xml:"data-trigger,attr"`
			Texts   []string `xml:"text"`
		} `xml:"g"`
	}
	d := xml.NewDecoder(strings.NewReader(string(b)))
	d.Strict = true
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("the SVG does not parse: %v\n%s", err, b)
	}
	if doc.XMLName.Local != "svg" || len(doc.Groups) != 7 {
		t.Fatalf("<%s> with %d generation groups, want <svg> with 7:\n%s", doc.XMLName.Local, len(doc.Groups), b)
	}
	triggers := []string{"connect", "policy", "explicit", "explicit", "explicit", "explicit", "explicit"}
	for i, g := range doc.Groups {
		n := i + 1
		if len(g.Texts) == 0 || !strings.HasPrefix(g.Texts[0], fmt.Sprintf("generation %d (", n)) || g.Trigger != triggers[i] {
			t.Errorf("group %d: texts %q, trigger %q; want it to name generation %d, %s", i, g.Texts, g.Trigger, n, triggers[i])
		}
		if (g.Crashed == "true") != (n == 1) {
			t.Errorf("generation %d: data-crashed %q; only generation 1 crashed", n, g.Crashed)
		}
	}
	// The log holds what the picture drew: the crash and 5 superseded bridges exiting.
	testwait.For(t, 30*time.Second, func() error {
		if exits := e.sessionEvents(s, events.KindBridgeExited); len(exits) != 6 {
			return fmt.Errorf("@%s: %d bridge_exited, want 6", s, len(exits))
		}
		return nil
	})
}
