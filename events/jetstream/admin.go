package jetstream

import (
	"context"
	"errors"
	"fmt"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
)

// Stream returns the state and limits of the stream named name.
func (l *Log) Stream(ctx context.Context, name string) (StreamState, error) {
	return l.streamState(ctx, name)
}

// Fault asks the hub for its storage fault: nil when it has none (or nobody answers).
func (l *Log) Fault(ctx context.Context) error { return AskFault(ctx, l.nc) }

// Lost reports a connection closed for good: the hub it reached is not coming back on it.
func (l *Log) Lost() bool { return l.nc.IsClosed() }

// ResetBucket deletes the session bucket (when it is there) and creates it again, empty,
// with replicas replicas: doctor's repair, which folds the log into it afterwards.
func (l *Log) ResetBucket(ctx context.Context, replicas int) error {
	if err := l.js.DeleteKeyValue(ctx, events.SessionBucket); err != nil && !errors.Is(err, njs.ErrBucketNotFound) {
		return fmt.Errorf("delete bucket %s: %w", events.SessionBucket, err)
	}
	if _, err := l.js.CreateKeyValue(ctx, njs.KeyValueConfig{Bucket: events.SessionBucket,
		Description: "mcpctl session state, folded from the events", History: 1, Storage: njs.FileStorage, Replicas: max(1, replicas)}); err != nil {
		return fmt.Errorf("create bucket %s: %w", events.SessionBucket, err)
	}
	return nil
}
