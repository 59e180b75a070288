package sessioncall

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/remote"
	"github.com/mcpctl/mcpctl/projector"
)

// CheckRemote asks the node of name (@name@node) whether what may be done to the session
// from here: its hub must answer (exit 3 naming the node when none does), the NATS server
// must let this client ask (exit 4), and the session must exist and have been opened with
// `connect --remote` (exit 1, as a remote call to it is refused). It returns the session as
// its node's hub has it.
func CheckRemote(ctx context.Context, f *cmdkit.Factory, name, what string) (projector.Session, error) {
	hub, err := f.Hub(ctx)
	if err != nil {
		return projector.Session{}, err
	}
	if hub.Remote == nil {
		return projector.Session{}, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%s @%s: this connection cannot reach other nodes", what, name)}
	}
	session, node := hubclient.SplitTarget(name)
	s, err := hub.Remote.Session(ctx, what, node, session)
	return s, RemoteErr(name, err)
}

// RemoteErr turns a refusal of another node's hub into the error the same refusal has
// everywhere else.
func RemoteErr(name string, err error) error {
	var he *remote.HubError
	if !errors.As(err, &he) {
		return err
	}
	switch he.Kind {
	case remote.KindNotFound:
		return NotFoundErr(name)
	case remote.KindNotRemote:
		return NotRemoteErr(name)
	case remote.KindNoLog:
		return clierr.WithHint(fmt.Errorf("%s", he.Message), clierr.ExitUsage, "the log appears once a bridge has run")
	}
	return &clierr.Error{Code: clierr.ExitNetwork, Err: he}
}

// RemoteLogs prints the log of another node's session, as that node's hub sends it (its
// secrets redacted): the last lines, then, with follow, what is appended until ctx ends.
func RemoteLogs(ctx context.Context, f *cmdkit.Factory, name string, lines int, follow bool, w io.Writer) error {
	if _, err := CheckRemote(ctx, f, name, "logs"); err != nil {
		return err
	}
	hub, err := f.Hub(ctx)
	if err != nil {
		return err
	}
	session, node := hubclient.SplitTarget(name)
	return RemoteErr(name, hub.Remote.Logs(ctx, node, session, lines, follow, w))
}
