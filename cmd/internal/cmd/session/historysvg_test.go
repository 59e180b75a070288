package session

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
)

// stormAndCrash appends a session whose first bridge crashed (server_lost, exit 3), was
// restarted by policy, and was then restarted on purpose six times within a second (a
// restart storm): 8 generations. One restart's reason carries an escape sequence.
func stormAndCrash(t *testing.T, h *cmdtest.Hub, name string) (generations int) {
	t.Helper()
	t0 := time.Now().Add(-time.Hour).UTC()
	at := func(e events.Event, d time.Duration) events.Event {
		e.Time = t0.Add(d)
		return e
	}
	up := func(g uint64, d time.Duration) {
		sp := events.New(events.KindBridgeSpawned, cmdtest.Node, name, g)
		sp.PID = int(1000 + g)
		h.Append(t, at(sp, d+5*time.Millisecond))
		h.Append(t, at(events.New(events.KindBridgeReady, cmdtest.Node, name, g), d+40*time.Millisecond))
	}
	c := events.New(events.KindCreated, cmdtest.Node, name, 1)
	c.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver"}
	h.Append(t, at(c, 0))
	up(1, 0)
	lost := events.New(events.KindServerLost, cmdtest.Node, name, 1)
	lost.Error = "exit status 7"
	h.Append(t, at(lost, 2*time.Second))
	three := 3
	ex := events.New(events.KindBridgeExited, cmdtest.Node, name, 1)
	ex.PID, ex.Code = 1001, &three
	h.Append(t, at(ex, 2*time.Second+time.Millisecond))
	pr := events.New(events.KindRestartRequested, cmdtest.Node, name, 2)
	pr.Reason = "restart policy on-failure"
	h.Append(t, at(pr, 2100*time.Millisecond))
	up(2, 2100*time.Millisecond)
	zero := 0
	for g := uint64(3); g <= 8; g++ {
		d := 3*time.Second + time.Duration(g)*100*time.Millisecond
		rr := events.New(events.KindRestartRequested, cmdtest.Node, name, g)
		rr.Reason = "explicit: mcpctl restart"
		if g == 5 {
			rr.Reason = "explicit: \x1b[31mred\x1b[0m & <b>"
		}
		h.Append(t, at(rr, d))
		st := events.New(events.KindBridgeStopping, cmdtest.Node, name, g-1)
		st.Reason = "superseded"
		h.Append(t, at(st, d+2*time.Millisecond))
		ex := events.New(events.KindBridgeExited, cmdtest.Node, name, g-1)
		ex.PID, ex.Code = int(1000+g-1), &zero
		h.Append(t, at(ex, d+3*time.Millisecond))
		up(g, d)
	}
	return 8
}

// svgGeneration is what the test reads of one generation's group.
type svgGeneration struct {
	ID      string   `xml:"id,attr"`
	Crashed string   `xml:"data-crashed,attr"`
	Title   string   `xml:"title"`
	Texts   []string `xml:"text"`
	Rects   []struct {
		Class string `xml:"class,attr"`
	} `xml:"rect"`
	Paths []struct {
		Class string `xml:"class,attr"`
	} `xml:"path"`
}

// parseTimeline decodes an SVG document strictly (encoding/xml) and returns its
// generation groups, wherever they are nested (the HTML page holds the SVG in its body).
func parseTimeline(t *testing.T, r io.Reader) (root string, gens []svgGeneration) {
	t.Helper()
	d := xml.NewDecoder(r)
	d.Strict = true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return root, gens
		}
		if err != nil {
			t.Fatalf("the picture is not well-formed XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == "" {
			root = se.Name.Local
		}
		if se.Name.Local != "g" {
			continue
		}
		var g svgGeneration
		if err := d.DecodeElement(&g, &se); err != nil {
			t.Fatalf("decode a <g>: %v", err)
		}
		gens = append(gens, g)
	}
}

func TestHistory_DrawsTheSessionsLife(t *testing.T) {
	check := func(t *testing.T, gens []svgGeneration, want int) {
		t.Helper()
		if len(gens) != want {
			t.Fatalf("the picture has %d generation groups, want %d", len(gens), want)
		}
		for i, g := range gens {
			n := i + 1
			if g.ID != fmt.Sprintf("generation-%d", n) {
				t.Errorf("group %d has id %q, want generation-%d", i, g.ID, n)
			}
			name := fmt.Sprintf("generation %d ", n)
			if len(g.Texts) == 0 || !strings.HasPrefix(g.Texts[0], name) {
				t.Errorf("generation %d is labelled %q, want it named %q", n, g.Texts, name)
			}
			if len(g.Texts) < 2 || !strings.HasPrefix(g.Texts[1], `by "session.test" pid `) {
				t.Errorf("generation %d's label does not say who asked: %q", n, g.Texts)
			}
			if !strings.HasPrefix(g.Title, fmt.Sprintf("generation %d,", n)) || !strings.Contains(g.Title, "requested by ") {
				t.Errorf("generation %d's title %q does not say which generation it is and who asked", n, g.Title)
			}
			var ready bool
			for _, r := range g.Rects {
				ready = ready || r.Class == "ready"
			}
			if !ready {
				t.Errorf("generation %d has no ready phase drawn: %+v", n, g.Rects)
			}
			crashMarks := 0
			for _, p := range g.Paths {
				if p.Class == "crash" {
					crashMarks++
				}
			}
			wantCrash := n == 1
			if (g.Crashed == "true") != wantCrash || (crashMarks == 1) != wantCrash {
				t.Errorf("generation %d: data-crashed %q, %d crash mark(s); want crashed=%t", n, g.Crashed, crashMarks, wantCrash)
			}
		}
		if !strings.Contains(gens[0].Title, "server_lost: exit status 7") || !strings.Contains(gens[0].Title, "exited with code 3") {
			t.Errorf("the crashed generation's title does not say how it ended: %q", gens[0].Title)
		}
		if g := gens[1]; !strings.Contains(g.Texts[0], "(policy)") {
			t.Errorf("generation 2 is labelled %q, want it to say the policy restarted it", g.Texts[0])
		}
		if g := gens[4]; !strings.Contains(g.Title, `\x1b[31mred\x1b[0m & <b>`) {
			t.Errorf("generation 5's reason is %q; want its escape sequence written out as text", g.Title)
		}
	}

	t.Run("--json with a picture: the JSON on stdout and the file written; both on stdout refused", func(t *testing.T) {
		h := cmdtest.New(t)
		stormAndCrash(t, h, "s")
		file := filepath.Join(t.TempDir(), "s.svg")
		r := h.Run(t, NewCmdHistory, "", "history", "@s", "--svg", file, "--json")
		var res struct {
			Session     string
			Generations []json.RawMessage
		}
		if r.Code != 0 || json.Unmarshal([]byte(r.Out), &res) != nil || res.Session != "s" || len(res.Generations) == 0 {
			t.Errorf("history @s --svg FILE --json: exit %d, stdout %q; want the history as JSON", r.Code, r.Out)
		}
		if _, err := os.Stat(file); err != nil {
			t.Errorf("the picture was not written: %v", err)
		}
		r = h.Run(t, NewCmdHistory, "", "history", "@s", "--svg", "-", "--json")
		if r.Code != 1 || r.Out != "" || !strings.Contains(r.ErrOut, "--json") {
			t.Errorf("--svg - --json: exit %d, stdout %q, stderr %q; want a usage error and nothing on stdout", r.Code, r.Out, r.ErrOut)
		}
	})

	t.Run("--svg FILE: a restart storm and a crash, every generation named", func(t *testing.T) {
		h := cmdtest.New(t)
		n := stormAndCrash(t, h, "s")
		file := filepath.Join(t.TempDir(), "s.svg")
		r := h.Run(t, NewCmdHistory, "", "history", "@s", "--svg", file)
		if r.Code != 0 || r.Out != "" || r.ErrOut != "" {
			t.Fatalf("history @s --svg: exit %d, stdout %q, stderr %q; want 0 and nothing printed", r.Code, r.Out, r.ErrOut)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("history @s --svg wrote no file: %v", err)
		}
		if strings.ContainsRune(string(b), '\x1b') {
			t.Errorf("the SVG holds a raw escape character")
		}
		root, gens := parseTimeline(t, strings.NewReader(string(b)))
		if root != "svg" {
			t.Errorf("the document's root is <%s>, want <svg>", root)
		}
		check(t, gens, n)
		if !strings.Contains(string(b), "@s: ready, generation 8, 7 restart(s), 1 crash(es)") {
			t.Errorf("the SVG's heading does not give the state history prints:\n%s", b)
		}
	})
	t.Run("--html -: a page with the same timeline and the text history", func(t *testing.T) {
		h := cmdtest.New(t)
		n := stormAndCrash(t, h, "s")
		r := h.Run(t, NewCmdHistory, "", "history", "@s", "--html", "-")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("history @s --html -: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		root, gens := parseTimeline(t, strings.NewReader(r.Out))
		if root != "html" {
			t.Errorf("the page's root is <%s>, want <html>", root)
		}
		check(t, gens, n)
		text := h.Run(t, NewCmdHistory, "", "history", "@s")
		var pre struct {
			Body struct {
				Pre string `xml:"pre"`
			} `xml:"body"`
		}
		if err := xml.Unmarshal([]byte(strings.TrimPrefix(r.Out, "<!DOCTYPE html>\n")), &pre); err != nil {
			t.Fatalf("read the page's <pre>: %v", err)
		}
		// history's running line says "for <duration until now>": the two runs differ there.
		strip := func(s string) string {
			s, _, _ = strings.Cut(s, "  running       for ")
			return s
		}
		if want := strings.ReplaceAll(text.Out, "\x1b", `\x1b`); strip(pre.Body.Pre) != strip(want) {
			t.Errorf("the page's text is not what history prints:\n--- page\n%s\n--- history\n%s", pre.Body.Pre, want)
		}
	})
	t.Run("a file in a directory that does not exist: exit 1, nothing written", func(t *testing.T) {
		h := cmdtest.New(t)
		stormAndCrash(t, h, "s")
		file := filepath.Join(t.TempDir(), "no", "s.svg")
		r := h.Run(t, NewCmdHistory, "", "history", "@s", "--svg", file)
		if r.Code != 1 || !strings.Contains(r.ErrOut, "history:") {
			t.Errorf("history @s --svg %s: exit %d, stderr %q; want 1 and the error", file, r.Code, r.ErrOut)
		}
		if _, err := os.Stat(file); err == nil {
			t.Errorf("%s was written", file)
		}
	})
}
