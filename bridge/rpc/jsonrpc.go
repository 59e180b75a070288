package rpc

import (
	"bytes"
	"encoding/json"
)

// Message is one JSON-RPC 2.0 message as it travels on the socket: a request (ID and
// Method), a notification (Method, no ID), or a response (ID and Result or Error). Params,
// Result and IDs stay raw so nothing is re-encoded on the way through.
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *RPCError       `json:"error,omitempty"`
}

// Protocol sizes.
const (
	// DefaultMaxLine bounds one message on the socket: 16 MiB of payload plus room for the
	// envelope. A longer line gets an error response and the connection is closed.
	DefaultMaxLine = 16<<20 + 64<<10
	// DefaultMaxConns bounds the connections a Server holds at once.
	DefaultMaxConns = 256
)

// MetaClientCapabilities is the _meta key of a request's client capabilities (MCP
// 2026-07-28). A socket client declares with it which asks it answers for that call.
const MetaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"

// IDKey is the map key of a JSON-RPC id: its raw text without surrounding space.
func IDKey(id json.RawMessage) string { return string(bytes.TrimSpace(id)) }

// AppendResult appends the line {"jsonrpc":"2.0","id":id,"result":result}\n.
func AppendResult(b []byte, id, result json.RawMessage) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"result":`...)
	if len(result) == 0 {
		result = json.RawMessage("null")
	}
	b = append(b, OneLine(result)...)
	return append(b, "}\n"...)
}

// AppendError appends an error response line. A nil id is written as null.
func AppendError(b []byte, id json.RawMessage, e *RPCError) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	eb, err := json.Marshal(e)
	if err != nil { // Data was not valid JSON: drop it rather than the answer
		eb, _ = json.Marshal(&RPCError{Code: e.Code, Message: e.Message})
	}
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"error":`...)
	b = append(b, eb...)
	return append(b, "}\n"...)
}

// AppendNotification appends {"jsonrpc":"2.0","method":m,"params":p}\n.
func AppendNotification(b []byte, method string, params json.RawMessage) []byte {
	mb, _ := json.Marshal(method)
	b = append(b, `{"jsonrpc":"2.0","method":`...)
	b = append(b, mb...)
	if len(params) > 0 {
		b = append(b, `,"params":`...)
		b = append(b, OneLine(params)...)
	}
	return append(b, "}\n"...)
}

// OneLine returns raw without line breaks: a server may pretty-print over HTTP, and one
// message must stay one line on the socket.
func OneLine(raw json.RawMessage) json.RawMessage {
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return raw
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return json.RawMessage("null")
	}
	return buf.Bytes()
}

// AppendRequest appends {"jsonrpc":"2.0","id":id,"method":m,"params":p}\n.
func AppendRequest(b []byte, id json.RawMessage, method string, params json.RawMessage) []byte {
	mb, _ := json.Marshal(method)
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"method":`...)
	b = append(b, mb...)
	if len(params) > 0 {
		b = append(b, `,"params":`...)
		b = append(b, OneLine(params)...)
	}
	return append(b, "}\n"...)
}
