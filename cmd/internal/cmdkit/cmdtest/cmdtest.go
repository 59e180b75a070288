// Package cmdtest runs mcpctl commands in a test against an in-memory hub: an events.MemLog
// and a projector.MemStore kept current by a live projector.Follower, as the hub's follower
// keeps the KV current, behind a Factory whose output goes to buffers. Run goes through
// cmdkit.Run, so exit codes and error printing are the real ones.
package cmdtest

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/remote"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/projector"
)

// Node is the node the in-memory hub serves.
const Node = "n1"

// Hub is an in-memory hub and what a test needs to look at it.
type Hub struct {
	Log      *events.MemLog
	Store    *projector.MemStore
	Follower *projector.Follower
	Conn     *hubclient.HubConn
	Home     homedir.Home
}

// New starts an in-memory hub on a private home in t.TempDir(); the test's cleanup stops it.
func New(t testing.TB) *Hub {
	t.Helper()
	home := homedir.Home{Dir: filepath.Join(t.TempDir(), "h")}
	if err := os.Mkdir(home.Dir, 0o700); err != nil {
		t.Fatalf("cmdtest: home: %v", err)
	}
	if err := home.Ensure(); err != nil {
		t.Fatalf("cmdtest: home: %v", err)
	}
	h := &Hub{Log: events.NewMemLog(), Store: projector.NewMemStore(), Home: home}
	h.Follower = projector.NewFollower(h.Log, h.Store)
	if err := h.Follower.Open(context.Background()); err != nil {
		t.Fatalf("cmdtest: follower: %v", err)
	}
	t.Cleanup(func() { _ = h.Follower.Close() })
	h.Conn = &hubclient.HubConn{Log: h.Log, Store: h.Store, Notes: noNotes{}, Remote: &Remote{}, Node: Node, Home: home}
	return h
}

// Factory returns a factory on io whose hub is h.
func (h *Hub) Factory(io *cmdkit.IOStreams) *cmdkit.Factory {
	f := cmdkit.NewFactory(io)
	f.Home = func() (homedir.Home, error) { return h.Home, nil }
	f.Node = func() (string, error) { return Node, nil }
	f.Hub = func(context.Context) (*hubclient.HubConn, error) { return h.Conn, nil }
	return f
}

// Result is what a command did: its exit code and what it wrote.
type Result struct {
	Code        int
	Out, ErrOut string
}

// Run runs the command newCmd makes, under a root with mcpctl's global flags (--json,
// --timeout, …), with args and stdin. Args are in command-first order (`restart @s`).
func (h *Hub) Run(t testing.TB, newCmd func(*cmdkit.Factory) *cobra.Command, stdin string, args ...string) Result {
	t.Helper()
	io, out, errOut := cmdkit.Test(stdin)
	code := cmdkit.Run(context.Background(), args, io, cmdkit.Program{
		Factory: h.Factory,
		Root: func(f *cmdkit.Factory) *cobra.Command {
			root := &cobra.Command{Use: "mcpctl", SilenceUsage: true, SilenceErrors: true}
			cmdkit.AddGlobalFlags(root.PersistentFlags(), f)
			root.AddCommand(newCmd(f))
			return root
		},
	})
	return Result{Code: code, Out: out.String(), ErrOut: errOut.String()}
}

// Append appends e unconditionally and waits until the projection in the store has it.
func (h *Hub) Append(t testing.TB, e events.Event) uint64 {
	t.Helper()
	ctx := context.Background()
	seq, err := h.Log.Append(ctx, e, events.Unconditional())
	if err != nil {
		t.Fatalf("cmdtest: append %s @%s: %v", e.Type, e.Session, err)
	}
	if err := h.Follower.WaitPos(ctx, seq); err != nil {
		t.Fatalf("cmdtest: projection at %d: %v", seq, err)
	}
	return seq
}

// Created appends the creation of a stdio session named name (generation 1).
func (h *Hub) Created(t testing.TB, name string) uint64 {
	t.Helper()
	e := events.New(events.KindCreated, Node, name, 1)
	e.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver"}
	return h.Append(t, e)
}

// noNotes is a notification stream with nothing in it (a test sets Conn.Notes for more).
type noNotes struct{}

func (noNotes) ReadNotifications(context.Context, jetstream.NotifyQuery, func(jetstream.Notification) error) error {
	return nil
}

func (noNotes) FollowNotifications(ctx context.Context, _ jetstream.NotifyQuery, _ func(jetstream.Notification) error) error {
	<-ctx.Done()
	return ctx.Err()
}

// Remote stands for the other nodes: each function field answers what the CLI asks a
// session of another node; a nil field answers as a node whose hub refuses (the session
// was not opened with --remote).
type Remote struct {
	RequestFn func(ctx context.Context, node, session, method string, params json.RawMessage) (json.RawMessage, error)
	SessionFn func(ctx context.Context, what, node, session string) (projector.Session, error)
	LogsFn    func(ctx context.Context, node, session string, lines int, follow bool, w io.Writer) error
}

var _ hubclient.Remote = (*Remote)(nil)

func notRemote(node, session string) error {
	return &remote.HubError{Kind: remote.KindNotRemote, Node: node, Session: session,
		Message: "@" + session + "@" + node + " is not open to calls from other nodes"}
}

func (r *Remote) Request(ctx context.Context, node, session, method string, params json.RawMessage) (json.RawMessage, error) {
	if r.RequestFn == nil {
		return nil, notRemote(node, session)
	}
	return r.RequestFn(ctx, node, session, method, params)
}

func (r *Remote) Session(ctx context.Context, what, node, session string) (projector.Session, error) {
	if r.SessionFn == nil {
		return projector.Session{}, notRemote(node, session)
	}
	return r.SessionFn(ctx, what, node, session)
}

func (r *Remote) Logs(ctx context.Context, node, session string, lines int, follow bool, w io.Writer) error {
	if r.LogsFn == nil {
		return notRemote(node, session)
	}
	return r.LogsFn(ctx, node, session, lines, follow, w)
}
