package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
)

// ErrStreamMismatch: a stream or the bucket exists on the cluster, but not as mcpctl makes it
// (another replica count, retention, storage or subjects). mcpctl changes nothing then: the
// streams may be another setup's, and an update could drop stored events.
var ErrStreamMismatch = errors.New("the cluster's streams are not as mcpctl makes them")

// wantStreams is what EnsureStreams makes, as far as checkExisting compares it.
var wantStreams = map[string]struct {
	subject string
	history int64 // max messages per subject; 0: not checked
}{
	events.EventsStream:          {events.EventsPrefix + ".>", 0},
	events.NotifyStream:          {events.NotifyPrefix + ".>", 0},
	"KV_" + events.SessionBucket: {"$KV." + events.SessionBucket + ".>", 1},
}

// diffStream lists how the existing stream name differs from what mcpctl makes with replicas.
func diffStream(name string, c njs.StreamConfig, replicas int) []string {
	w := wantStreams[name]
	replicas = max(replicas, 1)
	var diffs []string
	if c.Replicas != replicas {
		diffs = append(diffs, fmt.Sprintf("%s has %d replicas, mcpctl expects %d (--nats-replicas, MCPCTL_NATS_REPLICAS)", name, c.Replicas, replicas))
	}
	if c.Retention != njs.LimitsPolicy {
		diffs = append(diffs, fmt.Sprintf("%s has retention %s, mcpctl expects limits", name, c.Retention))
	}
	if c.Storage != njs.FileStorage {
		diffs = append(diffs, fmt.Sprintf("%s has %s storage, mcpctl expects file", name, c.Storage))
	}
	if !slices.Equal(c.Subjects, []string{w.subject}) {
		diffs = append(diffs, fmt.Sprintf("%s has subjects %v, mcpctl expects [%s]", name, c.Subjects, w.subject))
	}
	if w.history > 0 && c.MaxMsgsPerSubject != w.history {
		diffs = append(diffs, fmt.Sprintf("%s keeps %d values per key, mcpctl expects %d", name, c.MaxMsgsPerSubject, w.history))
	}
	return diffs
}

func mismatch(diffs []string) error {
	return fmt.Errorf("%w: %s; nothing was created or changed", ErrStreamMismatch, strings.Join(diffs, "; "))
}

// checkExisting compares the streams and the bucket that exist on the cluster with what
// EnsureStreams would make with cfg. It reports whether any is missing, and an
// ErrStreamMismatch naming every difference.
func checkExisting(ctx context.Context, js njs.JetStream, cfg StreamConfig) (missing bool, err error) {
	var diffs []string
	for _, name := range []string{events.EventsStream, events.NotifyStream, "KV_" + events.SessionBucket} {
		st, err := js.Stream(ctx, name)
		if errors.Is(err, njs.ErrStreamNotFound) {
			missing = true
			continue
		}
		if err != nil {
			return false, err
		}
		diffs = append(diffs, diffStream(name, st.CachedInfo().Config, cfg.Replicas)...)
	}
	if len(diffs) > 0 {
		return missing, mismatch(diffs)
	}
	return missing, nil
}
