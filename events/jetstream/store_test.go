package jetstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

func openStore(t testing.TB, s *testServer) *Store {
	t.Helper()
	st, err := OpenStore(context.Background(), openLog(t, s).JetStream())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStore_GetPutDeleteList(t *testing.T) {
	st := openStore(t, startServer(t))
	ctx := context.Background()
	if _, err := st.Get(ctx, "n1.a"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("Get of an absent key: %v, want ErrNotFound", err)
	}
	want := map[string][]byte{"n1.a": []byte(`{"a":1}`), "n1.b": []byte(`{"b":1}`), "n2.a": []byte(`{"c":1}`), "_meta": []byte("m")}
	for k, v := range want {
		if err := st.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := st.Get(ctx, "n1.a"); err != nil || string(got) != `{"a":1}` {
		t.Fatalf("Get(n1.a) = %s, %v", got, err)
	}
	if err := st.Put(ctx, "n1.a", []byte(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	want["n1.a"] = []byte(`{"a":2}`)
	if err := st.Delete(ctx, "n1.b"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "n1.b"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("Get of a deleted key: %v", err)
	}
	for prefix, keys := range map[string][]string{
		"n1.": {"n1.a"},
		"n":   {"n1.a", "n2.a"},
		"_":   {"_meta"},
		"":    {"n1.a", "n2.a", "_meta"},
		"n3.": {},
	} {
		got, err := st.List(ctx, prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		exp := map[string][]byte{}
		for _, k := range keys {
			exp[k] = want[k]
		}
		if !maps.EqualFunc(got, exp, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, exp)
		}
	}
}

func TestStore_WatchDeliversCurrentThenUpdates(t *testing.T) {
	st := openStore(t, startServer(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := st.Put(ctx, "n1.a", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	ch, err := st.Watch(ctx, "n1.a")
	if err != nil {
		t.Fatal(err)
	}
	next := func() ([]byte, bool) {
		select {
		case v, ok := <-ch:
			return v, ok
		case <-time.After(10 * time.Second):
			t.Fatal("watch delivered nothing")
			return nil, false
		}
	}
	if v, _ := next(); string(v) != "v1" {
		t.Fatalf("first value %q, want v1", v)
	}
	if err := st.Put(ctx, "n1.other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "n1.a", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if v, _ := next(); string(v) != "v2" {
		t.Fatalf("update %q, want v2", v)
	}
	if err := st.Delete(ctx, "n1.a"); err != nil {
		t.Fatal(err)
	}
	if v, ok := next(); v != nil || !ok {
		t.Fatalf("after delete %q, %v; want nil", v, ok)
	}
	cancel()
	testwait.For(t, 5*time.Second, func() error {
		select {
		case _, ok := <-ch:
			if !ok {
				return nil
			}
		default:
		}
		return fmt.Errorf("channel still open")
	})
}
