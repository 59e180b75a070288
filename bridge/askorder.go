package bridge

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// Keeping an ask as the server wrote it. mcp-go hands the bridge a server's request with
// its params decoded into maps, which loses the order of an elicitation's properties: a
// form would come out in alphabetical order, not the one the server chose. The bridge
// reads the server's stream on its way into the transport, keeps the raw params of each
// elicitation/create by request id, and the ask is answered with those.

// maxKeptAsks bounds the asks kept; maxAskLine bounds the line one is read from.
const (
	maxKeptAsks = 64
	maxAskLine  = 1 << 20
)

// rawAsks are the raw params of the latest asks, by request id.
type rawAsks struct {
	mu    sync.Mutex
	byID  map[string]json.RawMessage
	order []string
}

var askMarker = []byte(`"elicitation/create"`)

// note looks at one line of the server's stream (a stdio line, or an SSE data line) and
// keeps the params of an elicitation/create request.
func (a *rawAsks) note(line []byte) {
	if !bytes.Contains(line, askMarker) {
		return
	}
	if i := bytes.IndexByte(line, '{'); i > 0 {
		line = line[i:] // "data: {...}"
	}
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(line, &m) != nil || m.Method != "elicitation/create" || len(m.ID) == 0 || len(m.Params) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byID == nil {
		a.byID = map[string]json.RawMessage{}
	}
	key := rpc.IDKey(m.ID)
	if _, ok := a.byID[key]; !ok {
		a.order = append(a.order, key)
	}
	a.byID[key] = bytes.Clone(m.Params)
	for len(a.order) > maxKeptAsks {
		delete(a.byID, a.order[0])
		a.order = a.order[1:]
	}
}

// take returns (and forgets) the raw params of the request id, when they were kept and
// still say what decoded says (the same request, not an older one under a reused id).
func (a *rawAsks) take(id json.RawMessage, decoded any) (json.RawMessage, bool) {
	a.mu.Lock()
	raw, ok := a.byID[rpc.IDKey(id)]
	delete(a.byID, rpc.IDKey(id))
	a.mu.Unlock()
	if !ok {
		return nil, false
	}
	var again any
	if json.Unmarshal(raw, &again) != nil {
		return nil, false
	}
	x, _ := json.Marshal(again)
	y, _ := json.Marshal(decoded)
	if !bytes.Equal(x, y) {
		return nil, false
	}
	return raw, true
}

// lineTee passes a stream through unchanged and shows each of its lines to note.
type lineTee struct {
	r    io.Reader
	note func([]byte)
	line []byte
	long bool // the current line is over maxAskLine: skipped
}

func (t *lineTee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	chunk := p[:n]
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		part := chunk
		if i >= 0 {
			part = chunk[:i]
		}
		if !t.long {
			if len(t.line)+len(part) > maxAskLine {
				t.long, t.line = true, t.line[:0]
			} else {
				t.line = append(t.line, part...)
			}
		}
		if i < 0 {
			break
		}
		if !t.long && len(t.line) > 0 {
			t.note(t.line)
		}
		t.line, t.long = t.line[:0], false
		chunk = chunk[i+1:]
	}
	return n, err
}

// teeBody is an HTTP response body whose lines are shown to note as it is read.
type teeBody struct {
	io.Reader
	io.Closer
}
