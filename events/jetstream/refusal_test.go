package jetstream

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/events"
)

func TestDenied_NamesTheSubjectAndWhatWasRefused(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{`Permissions Violation for Publish to "mcpctl.ev.laptop.s.closed"`, `may not publish to "mcpctl.ev.laptop.s.closed"`},
		{`Permissions Violation for Subscription to "mcpctl.rpc.laptop.>" using queue "q"`, `may not subscribe to "mcpctl.rpc.laptop.>"`},
		{`Permissions Violation for something new`, `not permitted by the NATS cluster`},
	} {
		err := Denied(fmt.Errorf("%w: %s", nats.ErrPermissionViolation, tc.in))
		if !errors.Is(err, events.ErrDenied) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrDenied saying %q", tc.in, err, tc.want)
		}
	}
	if err := Denied(nats.ErrTimeout); err != nil {
		t.Errorf("a timeout: got %v, want nil", err)
	}
}

func TestRefusal_OtherFailuresAreNoRefusal(t *testing.T) {
	for _, err := range []error{nats.ErrNoServers, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), nil} {
		if r := Refusal(err, ClusterOptions{}); r != nil {
			t.Errorf("%v: got refusal %v", err, r)
		}
	}
	r := Refusal(nats.ErrAuthorization, ClusterOptions{Token: "s3cret"})
	if !errors.Is(r, events.ErrRefused) || strings.Contains(r.Error(), "s3cret") || !strings.Contains(r.Error(), "MCPCTL_NATS_TOKEN") {
		t.Errorf("a refused token: %v, want ErrRefused naming the variable, not the value", r)
	}
}
