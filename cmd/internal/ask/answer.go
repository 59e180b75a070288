// Package ask answers, in the CLI, the asks the bridge puts to it (a server's
// elicitation caused by this CLI's call): with a form on the terminal built from the
// requested schema, a URL shown and opened with $BROWSER, or without asking by the call's
// --elicit flag.
package ask

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/mcpctl/mcpctl/bridge/elicit"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
)

// Capabilities is what a CLI that answers elicitations declares in its request's _meta:
// form and URL mode.
const Capabilities = `{"elicitation":{"form":{},"url":{}}}`

// Answerer answers the elicitations the bridge puts to this CLI: by a person on the
// terminal (Policy ""), or by a fixed policy (--elicit on the call).
type Answerer struct {
	Session string
	Policy  events.ElicitPolicy // "": ask the person on In/Out
	Content json.RawMessage     // for events.ElicitContent

	In  io.Reader // the terminal
	Out io.Writer // where the form is written (stderr)
	// Browser opens a URL (nil: OpenWith($BROWSER)).
	Browser func(ctx context.Context, url string) error

	mu sync.Mutex // one form at a time
	rd *bufio.Reader

	outOnce sync.Once
	out     *lockedWriter // Out, shared by a form and a call that gives up on it
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// w is where the form is written.
func (a *Answerer) w() io.Writer {
	a.outOnce.Do(func() { a.out = &lockedWriter{w: a.Out} })
	return a.out
}

// The mode names of elicitation/create.
const (
	modeForm = "form"
	modeURL  = "url"
)

type request struct {
	Mode            string          `json:"mode"`
	Message         string          `json:"message"`
	RequestedSchema json.RawMessage `json:"requestedSchema"`
	URL             string          `json:"url"`
	ElicitationID   string          `json:"elicitationId"`
}

func result(action string, content json.RawMessage) json.RawMessage {
	r := map[string]json.RawMessage{"action": json.RawMessage(`"` + action + `"`)}
	if content != nil {
		r["content"] = content
	}
	b, _ := json.Marshal(r)
	return b
}

func invalid(format string, args ...any) error {
	return &rpc.RPCError{Code: rpc.CodeInvalidParams, Message: "elicitation/create: " + fmt.Sprintf(format, args...)}
}

// Handle is an rpc.RequestHandler.
func (a *Answerer) Handle(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if method != "elicitation/create" {
		return nil, &rpc.RPCError{Code: rpc.CodeMethodNotFound, Message: "mcpctl answers only elicitations itself: " + method}
	}
	var req request
	if err := json.Unmarshal(params, &req); err != nil {
		return nil, invalid("params are not an object")
	}
	switch req.Mode {
	case modeURL:
		if err := elicit.CheckURL(req.URL); err != nil {
			return nil, invalid("URL refused: %v", err)
		}
	case "", modeForm:
	default:
		return nil, invalid("unknown mode %q", req.Mode)
	}
	var form elicit.Form
	if req.Mode != modeURL {
		var err error
		if form, err = elicit.ParseForm(req.RequestedSchema); err != nil {
			return nil, invalid("requestedSchema: %v", err)
		}
	}
	if a.Policy != "" {
		return a.byPolicy(req, form), nil
	}
	type answer struct {
		res json.RawMessage
		err error
	}
	done := make(chan answer, 1)
	go func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.rd == nil {
			a.rd = bufio.NewReader(a.In)
		}
		var res json.RawMessage
		var err error
		if req.Mode == modeURL {
			res, err = a.askURL(ctx, req)
		} else {
			res, err = a.askForm(req, form)
		}
		done <- answer{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err
	case <-ctx.Done():
		// The bridge withdrew the ask (the call ended): the form is abandoned.
		fmt.Fprintln(a.w(), "\n(the server no longer waits for this answer)")
		return nil, ctx.Err()
	}
}

// byPolicy answers without asking, as the bridge's session policy does.
func (a *Answerer) byPolicy(req request, form elicit.Form) json.RawMessage {
	if a.Policy == events.ElicitCancel {
		return result("cancel", nil)
	}
	if req.Mode == modeURL {
		return result("decline", nil) // nobody to visit the URL
	}
	switch a.Policy {
	case events.ElicitDefaults:
		if content, missing := form.Defaults(); missing == "" {
			return result("accept", content)
		}
	case events.ElicitContent:
		if len(a.Content) > 0 {
			return result("accept", a.Content)
		}
	}
	return result("decline", nil)
}

// errEOF: the person ended the input (Ctrl-D): the elicitation is cancelled.
var errEOF = errors.New("end of input")

func (a *Answerer) line(prompt string) (string, error) {
	fmt.Fprint(a.w(), prompt)
	s, err := a.rd.ReadString('\n')
	if err != nil && (s == "" || !errors.Is(err, io.EOF)) {
		fmt.Fprintln(a.w())
		return "", errEOF
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// choose asks accept/decline/cancel: "" accept, or the action.
func (a *Answerer) choose(prompt string) (string, error) {
	for {
		s, err := a.line(prompt)
		if err != nil {
			return "cancel", nil
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "", "y", "yes":
			return "", nil
		case "n", "no", "d", "decline":
			return "decline", nil
		case "c", "cancel":
			return "cancel", nil
		}
		fmt.Fprintln(a.w(), "  answer y (yes), n (no: decline) or c (cancel)")
	}
}

func (a *Answerer) askForm(req request, form elicit.Form) (json.RawMessage, error) {
	fmt.Fprintf(a.w(), "\n@%s asks: %s\n", a.Session, oneLine(req.Message))
	if act, _ := a.choose("Answer? [Y/n/c] "); act != "" {
		return result(act, nil), nil
	}
	content := map[string]json.RawMessage{}
	for _, f := range form.Fields {
		v, err := a.field(f)
		if errors.Is(err, errEOF) {
			return result("cancel", nil), nil
		}
		if v != nil {
			content[f.Name] = v
		}
	}
	if act, _ := a.choose("Send these answers? [Y/n/c] "); act != "" {
		return result(act, nil), nil
	}
	b, _ := json.Marshal(content)
	return result("accept", b), nil
}

// field asks for one field until the answer is valid. Nil: left out (optional, no default).
func (a *Answerer) field(f elicit.Field) (json.RawMessage, error) {
	label := oneLine(f.Label())
	if f.Required {
		label += " *"
	}
	if d := oneLine(f.Description); strings.TrimSpace(d) != "" {
		label += " (" + d + ")"
	}
	hint := ""
	switch f.Kind {
	case elicit.KindSelect, elicit.KindMultiSelect:
		var opts []string
		for i, o := range f.Options {
			t := o.Value
			if o.Title != "" {
				t = o.Title
			}
			opts = append(opts, fmt.Sprintf("%d) %s", i+1, oneLine(t)))
		}
		hint = "\n    " + strings.Join(opts, "  ")
		if f.Kind == elicit.KindMultiSelect {
			hint += "\n    (any, comma-separated)"
		}
	case elicit.KindBoolean:
		hint = " y/n"
	case elicit.KindInteger:
		hint = " integer"
	case elicit.KindNumber:
		hint = " number"
	case elicit.KindString:
		if f.Format != "" {
			hint = " " + f.Format
		}
	}
	def := ""
	if f.Default != nil {
		def = " [" + oneLine(display(f, f.Default)) + "]"
	}
	for {
		s, err := a.line(fmt.Sprintf("  %s%s%s: ", label, hint, def))
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(s) == "" {
			switch {
			case f.Default != nil:
				return f.Default, nil
			case !f.Required:
				return nil, nil // left out
			}
			fmt.Fprintln(a.w(), "    required")
			continue
		}
		v, err := f.Parse(s)
		if err != nil {
			fmt.Fprintf(a.w(), "    %v\n", err)
			continue
		}
		return v, nil
	}
}

// display shows a value as a person would type it.
func display(f elicit.Field, v json.RawMessage) string {
	switch f.Kind {
	case elicit.KindBoolean:
		if string(v) == "true" {
			return "y"
		}
		return "n"
	case elicit.KindString, elicit.KindSelect:
		var s string
		_ = json.Unmarshal(v, &s)
		return s
	case elicit.KindMultiSelect:
		var l []string
		_ = json.Unmarshal(v, &l)
		return strings.Join(l, ",")
	}
	return string(v)
}

func (a *Answerer) askURL(ctx context.Context, req request) (json.RawMessage, error) {
	u, _ := url.Parse(req.URL)
	fmt.Fprintf(a.w(), "\n@%s asks you to open a page on %s: %s\n  %s\n", a.Session, u.Host, oneLine(req.Message), req.URL)
	if act, _ := a.choose("Open it? [Y/n/c] "); act != "" {
		return result(act, nil), nil
	}
	open := a.Browser
	if open == nil {
		open = OpenWithBrowserEnv
	}
	if err := open(ctx, req.URL); err != nil {
		fmt.Fprintf(a.w(), "  could not open it (%v): open it yourself; the server waits for you to finish there\n", err)
	} else {
		fmt.Fprintln(a.w(), "  opened; the server waits for you to finish there")
	}
	return result("accept", nil), nil
}

// OpenWithBrowserEnv runs $BROWSER with the URL (its words as the command, the URL last).
// Without $BROWSER it says so: the person opens the URL shown.
func OpenWithBrowserEnv(_ context.Context, u string) error {
	words := strings.Fields(os.Getenv("BROWSER"))
	if len(words) == 0 {
		return errors.New("$BROWSER is not set")
	}
	cmd := exec.Command(words[0], append(words[1:], u)...)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }() // reaped; a browser outlives the call
	return nil
}

// oneLine keeps a server's text from drawing on the terminal: control characters become
// spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// URLRequired handles a server's -32042 on the terminal: it shows the URLs the server
// needs opened (only https ones without credentials), opens them with $BROWSER on consent,
// and waits for the person to say they are done. True: make the call again.
func (a *Answerer) URLRequired(ctx context.Context, data json.RawMessage) bool {
	var d struct {
		Message      string `json:"message"`
		Elicitations []struct {
			URL     string `json:"url"`
			Message string `json:"message"`
		} `json:"elicitations"`
	}
	if json.Unmarshal(data, &d) != nil || len(d.Elicitations) == 0 || a.Policy != "" {
		return false
	}
	done := make(chan bool, 1)
	go func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.rd == nil {
			a.rd = bufio.NewReader(a.In)
		}
		done <- a.askURLsFirst(ctx, d.Message, d.Elicitations)
	}()
	select {
	case ok := <-done:
		return ok
	case <-ctx.Done():
		return false
	}
}

func (a *Answerer) askURLsFirst(ctx context.Context, message string, els []struct {
	URL     string `json:"url"`
	Message string `json:"message"`
}) bool {
	fmt.Fprintf(a.w(), "\n@%s needs something done in a browser first", a.Session)
	if message != "" {
		fmt.Fprintf(a.w(), ": %s", oneLine(message))
	}
	fmt.Fprintln(a.w())
	open := a.Browser
	if open == nil {
		open = OpenWithBrowserEnv
	}
	for _, e := range els {
		if err := elicit.CheckURL(e.URL); err != nil {
			fmt.Fprintf(a.w(), "  (a URL refused: %v)\n", err)
			return false
		}
		u, _ := url.Parse(e.URL)
		fmt.Fprintf(a.w(), "  %s (on %s)\n  %s\n", oneLine(e.Message), u.Host, e.URL)
		if act, _ := a.choose("Open it? [Y/n] "); act != "" {
			return false
		}
		if err := open(ctx, e.URL); err != nil {
			fmt.Fprintf(a.w(), "  could not open it (%v): open it yourself\n", err)
		}
	}
	_, err := a.line("Press Enter when you are done there, to make the call again (Ctrl-D: give up) ")
	return err == nil
}
