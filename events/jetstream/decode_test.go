package jetstream

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// sampleEvents covers every kind and every optional field.
func sampleEvents(r *rand.Rand, n int) []events.Event {
	words := []string{"", "a", "restart by user", "/tmp/x.sock", "ü-host", "quote\"d", "tab\there", "<html>&", "\u2028"}
	pick := func() string { return words[r.IntN(len(words))] }
	kinds := events.Kinds()
	out := make([]events.Event, 0, n)
	for i := range n {
		e := events.New(kinds[i%len(kinds)], "node-1", "sess_"+string(rune('a'+i%26)), r.Uint64N(1<<40))
		e.Time = time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(time.FixedZone("", (r.IntN(48)-24)*1800))
		e.Actor = events.Actor{PID: r.IntN(1 << 22), Host: pick(), User: pick(), Command: pick()}
		if r.IntN(2) == 0 {
			e.Server = &events.Server{Transport: events.TransportStdio, Command: pick(), Args: []string{pick(), "x"},
				HeaderNames: []string{"Authorization"}, Protocol: "2025-11-25"}
		}
		e.Restart = events.RestartOnFailure
		e.Reason, e.Socket, e.Signal, e.Error = pick(), pick(), pick(), pick()
		e.PID, e.PIDStartTime = r.IntN(1<<22), r.Uint64()
		if r.IntN(2) == 0 {
			c := r.IntN(512) - 256
			e.Code = &c
		}
		e.ServerName, e.ServerVersion, e.ProtocolVersion, e.MCPSessionID = pick(), pick(), pick(), pick()
		out = append(out, e)
	}
	return out
}

func checkSameDecode(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := events.Unmarshal(data)
	got, gotErr := decodeFast(data)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("%q: fast err %v, encoding/json err %v", data, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nfast          %+v\nencoding/json %+v", data, got, want)
	}
}

func TestDecodeFast_AgreesWithEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, e := range sampleEvents(r, 2000) {
		data, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		checkSameDecode(t, data)
		// With a stored seq and pretty-printed.
		m := map[string]any{}
		_ = json.Unmarshal(data, &m)
		m["seq"] = 7
		pretty, _ := json.MarshalIndent(m, "", "  ")
		checkSameDecode(t, pretty)
	}
	for _, s := range []string{
		``, `{`, `}`, `{}`, `null`, `[]`, `{"v":1}x`, `{"v":1,}`, `{"v":-1}`, `{"v":1.5}`, `{"v":1e3}`,
		`{"v":01}`, `{"generation":-1}`, `{"generation":18446744073709551616}`, `{"pid":-9223372036854775808}`,
		`{"Type":"closed"}`, `{"type":null}`, `{"type":"a","type":"b"}`, `{"actor":{"pid":1},"actor":{"host":"h"}}`,
		`{"actor":null}`, `{"code":null}`, `{"code":-0}`, `{"time":"2026-01-02T03:04:05Z"}`, `{"time":"yesterday"}`,
		`{"time":"2026-01-02T03:04:05.123456789+01:00"}`, `{"server":{"transport":"stdio","args":["a\"}"]}}`,
		`{"server":{"transport":"stdio"},"server":{"url":"u"}}`, `{"server":[1]}`, `{"unknown":{"deep":[1,{"x":2}]}}`,
		`{"reason":"caf\u00e9"}`, `{"reason":"\ud800"}`, "{\"reason\":\"\xff\"}", `{"seq":3}`, ` {"v" : 1 } `,
	} {
		checkSameDecode(t, []byte(s))
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, e := range sampleEvents(rand.New(rand.NewPCG(3, 4)), 20) {
		data, _ := e.Marshal()
		f.Add(data)
	}
	f.Add([]byte(`{"actor":{"pid":1},"code":-3,"server":{"args":["x"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Count(string(data), "{") > 100 {
			return
		}
		checkSameDecode(t, data)
	})
}
