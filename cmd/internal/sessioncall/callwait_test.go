package sessioncall

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"

	"github.com/mcpctl/mcpctl/projector"
)

func TestCallFailed_SaysWhyTheBridgeDidNotAnswer(t *testing.T) {
	s := projector.Session{Name: "s", Bridge: &projector.Bridge{PID: 4242}}
	t.Run("the bridge is stopped", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(&bridgeStoppedError{Session: "s", PID: 4242, For: 5 * time.Second})
		err := CallFailed(ctx, &cmdkit.Factory{}, s, "s", "tools/call", context.Canceled)
		msg := err.Error()
		if clierr.ExitCode(err) != clierr.ExitNetwork || !strings.Contains(msg, "the bridge of @s (pid 4242) is stopped") ||
			!strings.Contains(msg, "not re-sent") || !strings.Contains(clierr.HintOf(err), "kill -CONT 4242") {
			t.Errorf("exit %d, %q (hint %q)", clierr.ExitCode(err), msg, clierr.HintOf(err))
		}
	})
	t.Run("the default call timeout passed", func(t *testing.T) {
		ctx, cancel := context.WithDeadlineCause(context.Background(), time.Now().Add(-time.Second),
			errors.New("no answer within 5m0s, the default call timeout"))
		defer cancel()
		err := CallFailed(ctx, &cmdkit.Factory{}, s, "s", "tools/call", context.DeadlineExceeded)
		if clierr.ExitCode(err) != clierr.ExitNetwork || !strings.Contains(err.Error(), "the default call timeout") ||
			!strings.Contains(clierr.HintOf(err), "--timeout 1h") {
			t.Errorf("exit %d, %q (hint %q)", clierr.ExitCode(err), err, clierr.HintOf(err))
		}
	})
}

func TestCallContext_WithTimeoutTheCallersDeadlineIsTheOnlyBound(t *testing.T) {
	ctx, cancel := CallContext(context.Background(), &cmdkit.Factory{Timeout: time.Second}, projector.Session{}, "s")
	defer cancel()
	if _, ok := ctx.Deadline(); ok {
		t.Error("callContext set a deadline of its own under --timeout")
	}
	ctx, cancel = CallContext(context.Background(), &cmdkit.Factory{}, projector.Session{}, "s")
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > cmdkit.DefaultCallTimeout || time.Until(d) < cmdkit.DefaultCallTimeout-time.Minute {
		t.Errorf("without --timeout: deadline %v (ok %v), want DefaultCallTimeout from now", d, ok)
	}
}
