package rpc

import (
	"bufio"
	"encoding/json"
	"net"
	"path/filepath"
	"sync"
	"testing"
)

// fakeBridge is the far end of a bridge socket for Client tests: a real Unix socket that
// reads newline-delimited JSON-RPC and hands each message to handle, with a way to write
// lines back on the same connection.
type fakeBridge struct {
	t      *testing.T
	path   string
	ln     net.Listener
	handle func(c *fakeConn, m Message)

	mu       sync.Mutex
	received []Message
	wg       sync.WaitGroup
}

// fakeConn is one accepted connection.
type fakeConn struct {
	nc net.Conn
	mu sync.Mutex
}

func (c *fakeConn) write(t *testing.T, line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.nc.Write(line); err != nil {
		t.Logf("fake bridge write: %v", err)
	}
}

// newFakeBridge listens on a socket in t.TempDir() (or on at, when given) and serves until
// the test ends.
func newFakeBridge(t *testing.T, handle func(c *fakeConn, m Message)) *fakeBridge {
	t.Helper()
	return listenFake(t, filepath.Join(t.TempDir(), "b.sock"), handle)
}

func listenFake(t *testing.T, path string, handle func(c *fakeConn, m Message)) *fakeBridge {
	t.Helper()
	ln, err := net.Listen("unix", SocketPath(path))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBridge{t: t, path: path, ln: ln, handle: handle}
	var conns []net.Conn
	var cmu sync.Mutex
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns = append(conns, nc)
			cmu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(&fakeConn{nc: nc})
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		cmu.Lock()
		for _, nc := range conns {
			_ = nc.Close()
		}
		cmu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakeBridge) serve(c *fakeConn) {
	sc := bufio.NewScanner(c.nc)
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			f.t.Errorf("fake bridge got a line that is not one JSON-RPC message: %q: %v", sc.Bytes(), err)
			continue
		}
		f.mu.Lock()
		f.received = append(f.received, m)
		f.mu.Unlock()
		if f.handle != nil {
			f.handle(c, m)
		}
	}
}

// messages is what the fake has read so far, in order.
func (f *fakeBridge) messages() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.received...)
}

// echo answers every request with its params as the result.
func echo(t *testing.T) func(c *fakeConn, m Message) {
	return func(c *fakeConn, m Message) {
		if m.ID != nil {
			c.write(t, AppendResult(nil, m.ID, m.Params))
		}
	}
}
