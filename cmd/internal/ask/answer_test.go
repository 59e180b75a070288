package ask

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
)

const schema = `{"type":"object","properties":{
	"name":{"title":"Name","type":"string"},
	"age":{"type":"integer","minimum":0,"default":30},
	"color":{"type":"string","oneOf":[{"const":"r","title":"Red"},{"const":"g","title":"Green"}]},
	"note":{"type":"string"}},"required":["name"]}`

func form(message string) json.RawMessage {
	m, _ := json.Marshal(message)
	return json.RawMessage(`{"message":` + string(m) + `,"requestedSchema":` + schema + `}`)
}

// terminal runs one ask against typed input and returns the answer and what was shown.
func terminal(t *testing.T, typed string, params json.RawMessage) (string, string, error) {
	t.Helper()
	var shown strings.Builder
	a := &Answerer{Session: "s", In: strings.NewReader(typed), Out: &shown,
		Browser: func(context.Context, string) error { t.Error("a browser was opened"); return nil }}
	res, err := a.Handle(context.Background(), "elicitation/create", params)
	return string(res), shown.String(), err
}

func TestAnswerer_FormOnTheTerminal(t *testing.T) {
	t.Run("answers in the schema's order; defaults kept; invalid answers asked again; optional left out", func(t *testing.T) {
		// Answer? y; name: (empty: required) Ada; age: -1 (below 0), Enter (30); color: 5 (no
		// such choice), green (its title); note: Enter (left out); Send? y.
		res, shown, err := terminal(t, "y\n\nAda\n-1\n\n5\ngreen\n\ny\n", form("Who are you?"))
		if err != nil || res != `{"action":"accept","content":{"age":30,"color":"g","name":"Ada"}}` {
			t.Fatalf("answer %s, %v\nshown:\n%s", res, err, shown)
		}
		for _, want := range []string{"@s asks: Who are you?", "Name *", "required", "at least 0", "[30]", "1) Red  2) Green", "choose 1 to 2"} {
			if !strings.Contains(shown, want) {
				t.Errorf("the form does not show %q:\n%s", want, shown)
			}
		}
	})
	for typed, want := range map[string]string{
		"n\n":               `{"action":"decline"}`,
		"c\n":               `{"action":"cancel"}`,
		"y\nAda\n":          `{"action":"cancel"}`, // the input ends mid-form (Ctrl-D)
		"y\nAda\n\n\n\nn\n": `{"action":"decline"}`,
	} {
		t.Run("typed "+strings.ReplaceAll(typed, "\n", `\n`), func(t *testing.T) {
			if res, shown, err := terminal(t, typed, form("m")); err != nil || res != want {
				t.Errorf("answer %s, %v; want %s\n%s", res, err, want, shown)
			}
		})
	}
	t.Run("the server's text cannot drive the terminal", func(t *testing.T) {
		_, shown, _ := terminal(t, "n\n", form("\x1b[2J\x1b]0;owned\x07hello"))
		if strings.ContainsAny(shown, "\x1b\x07") || !strings.Contains(shown, "hello") {
			t.Errorf("control characters reached the terminal: %q", shown)
		}
	})
	t.Run("a schema nobody can render is refused with -32602 before anything is shown", func(t *testing.T) {
		_, shown, err := terminal(t, "y\n", json.RawMessage(`{"message":"m","requestedSchema":{"type":"object","properties":{"a":{"type":"object"}}}}`))
		var rerr *rpc.RPCError
		if !errors.As(err, &rerr) || rerr.Code != rpc.CodeInvalidParams || shown != "" {
			t.Errorf("err %v, shown %q; want -32602 and nothing shown", err, shown)
		}
	})
	t.Run("the call ends while the person types: the ask is abandoned", func(t *testing.T) {
		r, w := io.Pipe()
		defer w.Close()
		var shown strings.Builder
		a := &Answerer{Session: "s", In: r, Out: &shown}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := a.Handle(ctx, "elicitation/create", form("m")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err %v, want the context's", err)
		}
	})
}

func TestAnswerer_URLMode(t *testing.T) {
	params := json.RawMessage(`{"mode":"url","message":"Link your account","elicitationId":"e1","url":"https://auth.example.com/link?x=1"}`)
	var opened []string
	var shown strings.Builder
	a := &Answerer{Session: "s", In: strings.NewReader("y\nn\n"), Out: &shown,
		Browser: func(_ context.Context, u string) error { opened = append(opened, u); return nil }}
	res, err := a.Handle(context.Background(), "elicitation/create", params)
	if err != nil || string(res) != `{"action":"accept"}` || len(opened) != 1 || opened[0] != "https://auth.example.com/link?x=1" {
		t.Errorf("consented: %s, %v, opened %q", res, err, opened)
	}
	if !strings.Contains(shown.String(), "auth.example.com") {
		t.Errorf("the host was not shown: %s", shown.String())
	}
	res, err = a.Handle(context.Background(), "elicitation/create", params)
	if err != nil || string(res) != `{"action":"decline"}` || len(opened) != 1 {
		t.Errorf("refused: %s, %v, opened %q", res, err, opened)
	}
	for _, bad := range []string{"http://auth.example.com/x", "https://u:p@auth.example.com/x"} {
		_, err := a.Handle(context.Background(), "elicitation/create",
			json.RawMessage(`{"mode":"url","message":"m","elicitationId":"e2","url":"`+bad+`"}`))
		var rerr *rpc.RPCError
		if !errors.As(err, &rerr) || rerr.Code != rpc.CodeInvalidParams || len(opened) != 1 {
			t.Errorf("%s: %v, opened %q; want -32602 and nothing opened", bad, err, opened)
		}
	}
}

func TestAnswerer_ByTheCallsFlag(t *testing.T) {
	url := json.RawMessage(`{"mode":"url","message":"m","elicitationId":"e","url":"https://a.example.com/"}`)
	withDefault := json.RawMessage(`{"message":"m","requestedSchema":{"type":"object","properties":{"age":{"type":"integer","default":3}}}}`)
	for _, tc := range []struct {
		flag   string
		params json.RawMessage
		want   string
	}{
		{"defaults", withDefault, `{"action":"accept","content":{"age":3}}`},
		{"defaults", form("m"), `{"action":"decline"}`}, // name is required and has no default
		{`{"name":"Ann"}`, form("m"), `{"action":"accept","content":{"name":"Ann"}}`},
		{"cancel", form("m"), `{"action":"cancel"}`},
		{"decline", form("m"), `{"action":"decline"}`},
		{`{"name":"Ann"}`, url, `{"action":"decline"}`},
		{"cancel", url, `{"action":"cancel"}`},
	} {
		policy, content, err := ParseElicitFlag(tc.flag)
		if err != nil {
			t.Fatal(err)
		}
		a := &Answerer{Session: "s", Policy: policy, Content: content}
		if res, err := a.Handle(context.Background(), "elicitation/create", tc.params); err != nil || string(res) != tc.want {
			t.Errorf("--elicit %s: %s, %v; want %s", tc.flag, res, err, tc.want)
		}
	}
	if _, _, err := ParseElicitFlag("maybe"); err == nil {
		t.Error("--elicit maybe was accepted")
	}
	if p, _, _ := ParseElicitFlag(""); p != events.ElicitDecline {
		t.Errorf("the empty flag is %q, want decline", p)
	}
}

func TestAnswerer_URLRequiredFirst(t *testing.T) {
	data := json.RawMessage(`{"message":"This request requires browser-based authorization.","elicitations":[
		{"mode":"url","url":"https://auth.example.com/start","message":"Open this link","elicitationId":"e1"}]}`)
	for _, tc := range []struct {
		typed  string
		data   json.RawMessage
		retry  bool
		opened int
	}{
		{"y\n\n", data, true, 1},
		{"n\n", data, false, 0},
		{"y\n", data, false, 1}, // the input ends before Enter: give up
		{"y\n\n", json.RawMessage(`{"elicitations":[{"mode":"url","url":"http://auth.example.com/","elicitationId":"e"}]}`), false, 0},
		{"y\n\n", json.RawMessage(`{}`), false, 0},
	} {
		var opened []string
		var shown strings.Builder
		a := &Answerer{Session: "s", In: strings.NewReader(tc.typed), Out: &shown,
			Browser: func(_ context.Context, u string) error { opened = append(opened, u); return nil }}
		if got := a.URLRequired(context.Background(), tc.data); got != tc.retry || len(opened) != tc.opened {
			t.Errorf("typed %q, data %s: retry %v, opened %q; want %v and %d opened\n%s", tc.typed, tc.data, got, opened, tc.retry, tc.opened, shown.String())
		}
	}
	// A call answered by --elicit never asks a person.
	a := &Answerer{Session: "s", Policy: events.ElicitCancel}
	if a.URLRequired(context.Background(), data) {
		t.Error("a --elicit call asked to retry")
	}
}
