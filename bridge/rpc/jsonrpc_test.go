package rpc

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestAppend(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"result", AppendResult(nil, json.RawMessage(`7`), json.RawMessage(`{"a":1}`)), `{"jsonrpc":"2.0","id":7,"result":{"a":1}}`},
		{"empty result is null", AppendResult(nil, json.RawMessage(`"x"`), nil), `{"jsonrpc":"2.0","id":"x","result":null}`},
		{"pretty result made one line", AppendResult(nil, json.RawMessage(`1`), json.RawMessage("{\n \"a\": [1,\r\n 2]\n}")), `{"jsonrpc":"2.0","id":1,"result":{"a":[1,2]}}`},
		{"error", AppendError(nil, json.RawMessage(`2`), &RPCError{Code: -32600, Message: "bad"}), `{"jsonrpc":"2.0","id":2,"error":{"code":-32600,"message":"bad"}}`},
		{"error without id has a null id", AppendError(nil, nil, &RPCError{Code: CodeTooManyConnections, Message: "full"}), `{"jsonrpc":"2.0","id":null,"error":{"code":-32002,"message":"full"}}`},
		{"error with data that is not JSON keeps the answer", AppendError(nil, json.RawMessage(`3`), &RPCError{Code: 1, Message: "m", Data: json.RawMessage(`{oops`)}), `{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"m"}}`},
		{"notification", AppendNotification(nil, "notifications/message", json.RawMessage(`{"level":"info"}`)), `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}}`},
		{"notification without params", AppendNotification(nil, "notifications/initialized", nil), `{"jsonrpc":"2.0","method":"notifications/initialized"}`},
		{"method names are JSON-escaped", AppendNotification(nil, "a\"b\n", nil), `{"jsonrpc":"2.0","method":"a\"b\n"}`},
		{"request", AppendRequest(nil, json.RawMessage(`4`), "tools/list", json.RawMessage(`{}`)), `{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{}}`},
		{"request with pretty params made one line", AppendRequest(nil, json.RawMessage(`5`), "x", json.RawMessage("{\n\"k\": 1\n}")), `{"jsonrpc":"2.0","id":5,"method":"x","params":{"k":1}}`},
		{"appends to what is there", AppendResult([]byte("prefix "), json.RawMessage(`6`), json.RawMessage(`true`)), `prefix {"jsonrpc":"2.0","id":6,"result":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.got); got != tt.want+"\n" {
				t.Errorf("got  %q\nwant %q", got, tt.want+"\n")
			}
		})
	}
}

func TestAppend_RoundTripsThroughMessage(t *testing.T) {
	line := AppendRequest(nil, json.RawMessage(`"id-1"`), "tools/call", json.RawMessage(`{"name":"t"}`))
	var m Message
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	if m.JSONRPC != "2.0" || IDKey(m.ID) != `"id-1"` || m.Method != "tools/call" || string(m.Params) != `{"name":"t"}` || m.Result != nil || m.Error != nil {
		t.Errorf("decoded %+v from %s", m, line)
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`:               `{"a":1}`,
		"{\n  \"a\": 1\n}":      `{"a":1}`,
		"[1,\r\n2]":             `[1,2]`,
		"{\n broken":            `null`,
		`"a string with \n in"`: `"a string with \n in"`,
	} {
		if got := string(OneLine(json.RawMessage(in))); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIDKey(t *testing.T) {
	for in, want := range map[string]string{`1`: `1`, ` 1 `: `1`, "\"a\"\n": `"a"`, `null`: `null`, ``: ``} {
		if got := IDKey(json.RawMessage(in)); got != want {
			t.Errorf("IDKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRPCError(t *testing.T) {
	tests := []struct {
		name    string
		err     *RPCError
		text    string
		unwraps error
	}{
		{"a server error shows its data", &RPCError{Code: -32602, Message: "bad", Data: json.RawMessage(`{"x":1}`)},
			`json-rpc error -32602: bad (data: {"x":1})`, nil},
		{"without data", &RPCError{Code: -32601, Message: "no such method"}, `json-rpc error -32601: no such method`, nil},
		{"upstream unavailable keeps its data out of the text", &RPCError{Code: CodeUpstreamUnavailable, Message: "mcp server unavailable: gone",
			Data: json.RawMessage(`{"reason":"server_lost","detail":"gone"}`)}, `json-rpc error -32001: mcp server unavailable: gone`, ErrServerLost},
		{"expired", &RPCError{Code: CodeUpstreamUnavailable, Message: "m", Data: json.RawMessage(`{"reason":"expired"}`)}, `json-rpc error -32001: m`, ErrExpired},
		{"unauthorized", &RPCError{Code: CodeUpstreamUnavailable, Message: "m", Data: json.RawMessage(`{"reason":"unauthorized"}`)}, `json-rpc error -32001: m`, ErrUnauthorized},
		{"an unknown reason", &RPCError{Code: CodeUpstreamUnavailable, Message: "m", Data: json.RawMessage(`{"reason":"error"}`)}, `json-rpc error -32001: m`, nil},
		{"data that is not JSON", &RPCError{Code: CodeUpstreamUnavailable, Message: "m", Data: json.RawMessage(`{`)}, `json-rpc error -32001: m`, nil},
		{"a reason under another code is the server's business", &RPCError{Code: -32000, Message: "m", Data: json.RawMessage(`{"reason":"expired"}`)},
			`json-rpc error -32000: m (data: {"reason":"expired"})`, nil},
		{"-32002 is not mapped (servers use it for resource not found)", &RPCError{Code: CodeTooManyConnections, Message: "m"}, `json-rpc error -32002: m`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.text {
				t.Errorf("Error() = %q, want %q", got, tt.text)
			}
			if got := tt.err.Unwrap(); got != tt.unwraps {
				t.Errorf("Unwrap() = %v, want %v", got, tt.unwraps)
			}
			if tt.unwraps != nil && !errors.Is(error(tt.err), tt.unwraps) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.unwraps)
			}
		})
	}
}
