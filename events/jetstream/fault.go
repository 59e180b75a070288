package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
)

// The hub's storage faults, told to clients. When its store cannot take writes (disk full,
// store removed) the hub stops JetStream, so stream requests fail at once instead of
// timing out, and answers on FaultSubject, over core NATS and from memory, why. A client
// whose stream request failed asks, and fails its command with that cause.
const (
	// FaultSubject is where the hub answers with its current storage fault.
	FaultSubject = "mcpctl.hub.fault"
	// faultAskTimeout bounds the question: a hub that does not answer has no fault to tell.
	faultAskTimeout = 500 * time.Millisecond
)

// Fault kinds.
const (
	FaultDiskFull  = "disk_full"
	FaultStoreLost = "store_lost"
	FaultWrite     = "write_error"
)

// Fault is the hub's answer on FaultSubject. The zero value: no fault.
type Fault struct {
	Kind   string `json:"kind,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Err returns the fault as an error wrapping events.ErrDiskFull or events.ErrStoreLost, or
// nil for no fault.
func (f Fault) Err() error {
	switch f.Kind {
	case "":
		return nil
	case FaultDiskFull:
		return fmt.Errorf("%w: %s", events.ErrDiskFull, f.Detail)
	case FaultStoreLost:
		return fmt.Errorf("%w: %s", events.ErrStoreLost, f.Detail)
	}
	return fmt.Errorf("%w: %s", errStorageFault, f.Detail)
}

// IsStorageFault reports an error that is a fault of the hub's store.
func IsStorageFault(err error) bool {
	return errors.Is(err, events.ErrDiskFull) || errors.Is(err, events.ErrStoreLost) ||
		errors.Is(err, errStorageFault)
}

var errStorageFault = errors.New("the hub cannot write its store")

// AskFault asks the hub behind nc for its storage fault: nil when it has none, does not
// answer (an external cluster has no such hub), or cannot be asked.
func AskFault(ctx context.Context, nc *nats.Conn) error {
	if nc == nil || nc.IsClosed() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), faultAskTimeout)
	defer cancel()
	resp, err := nc.RequestWithContext(ctx, FaultSubject, nil)
	if err != nil {
		return nil
	}
	var f Fault
	if json.Unmarshal(resp.Data, &f) != nil {
		return nil
	}
	return f.Err()
}

// ServeFaults answers on FaultSubject with what current returns, until the subscription
// is drained or nc closes.
func ServeFaults(nc *nats.Conn, current func() Fault) (*nats.Subscription, error) {
	return nc.Subscribe(FaultSubject, func(m *nats.Msg) {
		b, _ := json.Marshal(current())
		_ = m.Respond(b)
	})
}

// hedged is Hedged for the log's requests, with the storage-fault check of retry.
func hedged[T any](ctx context.Context, l *Log, op func(ctx context.Context) (T, error)) (T, error) {
	return Hedged(ctx, func(ctx context.Context) (T, error) {
		v, err := op(ctx)
		if err != nil && Transient(err) {
			if f := AskFault(ctx, l.nc); f != nil {
				return v, f
			}
		}
		return v, err
	})
}

// orFault returns the hub's storage fault in place of err when err may be its symptom (a
// request nobody answered, JetStream gone), else err.
func orFault(ctx context.Context, nc *nats.Conn, err error) error {
	if err == nil || !Transient(err) && !errors.Is(err, njs.ErrJetStreamNotEnabled) {
		return err
	}
	if f := AskFault(ctx, nc); f != nil {
		return f
	}
	return err
}
