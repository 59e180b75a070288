package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/backoff"
)

// External cluster defaults.
const (
	// DefaultClusterReplicas is the replica count of the streams and the bucket on an
	// external cluster: one node may fail without losing an acknowledged event.
	DefaultClusterReplicas = 3
	// DefaultAttemptTimeout bounds one publish or get: while a stream elects a new leader
	// (a few seconds after a node died), a request to the old one goes unanswered, and a
	// short attempt followed by a retry beats one long wait.
	DefaultAttemptTimeout = 2 * time.Second
	// retryPause is the first pause between attempts; it doubles up to retryPauseMax. An
	// attempt that failed fast ("no responders": no leader yet) costs the cluster next to
	// nothing, and the pause is what an append waits after the election ends.
	retryPause    = 25 * time.Millisecond
	retryPauseMax = 100 * time.Millisecond
	// hedgeDelay: an attempt unanswered this long gets a twin (see Hedged), the next one
	// after hedgeDelayMax, with at most maxHedged attempts waiting at once.
	hedgeDelay    = 250 * time.Millisecond
	hedgeDelayMax = 500 * time.Millisecond
	maxHedged     = 4
)

// JetStream error codes beyond the ones nats.go names.
const (
	errCodeClusterNotAvailable   = 10008 // JetStream system temporarily unavailable
	errCodeDuplicateInProcess    = 10158 // duplicate message id is in process
	errCodeExpectedLastNotReady  = 10163 // expected last sequence per subject temporarily unavailable
	errCodeClusterNoPeers        = 10005 // no suitable peers
	errCodeStreamOffline         = 10118 // stream is offline
	errCodeClusterIncomplete     = 10004 // incomplete results
	errCodeDuplicateInProcessMsg = "duplicate message id is in process"
)

// ClusterOptions say how to reach an external NATS cluster: the servers, the credentials
// (a creds file, a token, or a user and password) and TLS. Empty fields are not used.
type ClusterOptions struct {
	URLs      []string
	CredsFile string
	Token     string
	User      string
	Password  string
	TLSCA     string
	TLSCert   string
	TLSKey    string
	// Replicas of the streams and the bucket (0: DefaultClusterReplicas).
	Replicas int
	// OnDenied, when set, hears of each permissions violation the server reports on the
	// connection (as a Denied error). A refused publish is reported asynchronously and its
	// request would only time out and be retried: the CLI ends its command with it.
	OnDenied func(error)
}

// ParseURLs splits a comma-separated server list ("nats://a:4222,nats://b:4222").
func ParseURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Validate checks that the options can be dialed.
func (o ClusterOptions) Validate() error {
	if len(o.URLs) == 0 {
		return errors.New("nats cluster: no server URL")
	}
	for _, u := range o.URLs {
		if err := checkURL(u); err != nil {
			return err
		}
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("nats cluster: a TLS client certificate needs its key, and the key its certificate")
	}
	if o.Password != "" && o.User == "" {
		return errors.New("nats cluster: a password without a user")
	}
	n := 0
	for _, set := range []bool{o.CredsFile != "", o.Token != "", o.User != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("nats cluster: use one of a creds file, a token, or a user and password")
	}
	return nil
}

// StreamConfig returns the default retention with the cluster's replica count.
func (o ClusterOptions) StreamConfig() StreamConfig {
	cfg := DefaultStreamConfig()
	cfg.Replicas = o.Replicas
	if cfg.Replicas <= 0 {
		cfg.Replicas = DefaultClusterReplicas
	}
	return cfg
}

func (o ClusterOptions) natsOptions() []nats.Option {
	var opts []nats.Option
	switch {
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	case o.Token != "":
		opts = append(opts, nats.Token(o.Token))
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	return opts
}

// DialCluster connects to an external cluster. Every server in the list is tried; a
// connection that drops moves to another server of the list (servers the cluster
// advertises are ignored: behind NAT or Docker they are often not reachable from here).
// Both kinds reconnect without a limit; a short-lived client (the CLI) buffers nothing
// meanwhile, and its operations are bounded by their contexts.
func DialCluster(ctx context.Context, o ClusterOptions, longLived bool, opts ...nats.Option) (*nats.Conn, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := checkClientCert(o, time.Now()); err != nil {
		return nil, err
	}
	timeout := DefaultDialTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(d), time.Millisecond))
	}
	base := []nats.Option{
		nats.Name("mcpctl"),
		nats.Timeout(timeout),
		nats.IgnoreDiscoveredServers(),
		nats.ReconnectWait(DefaultReconnectDelay),
		nats.ReconnectJitter(DefaultReconnectDelay, DefaultReconnectDelay),
	}
	// Reconnect without a limit: every operation is bounded by its context, and a client
	// whose server died must find the survivors however long the election takes.
	base = append(base, nats.MaxReconnects(-1))
	if !longLived {
		// A short-lived client buffers nothing while reconnecting: a publish fails at once
		// and is retried (with its message id) by Retry.
		base = append(base, nats.ReconnectBufSize(-1))
	}
	base = append(base, o.natsOptions()...)
	if o.OnDenied != nil {
		base = append(base, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if d := Denied(err); d != nil {
				o.OnDenied(d)
			}
		}))
	}
	nc, err := nats.Connect(strings.Join(o.URLs, ","), append(base, opts...)...)
	if r := Refusal(err, o); r != nil {
		return nil, fmt.Errorf("connect to the NATS cluster %s: %w", strings.Join(o.URLs, ","), r)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: connect to the NATS cluster %s: %v", events.ErrNoHub, strings.Join(o.URLs, ","), err)
	}
	return nc, nil
}

// ConnectCluster dials the cluster, ensures the streams and the bucket with the cluster's
// replica count (retrying while the cluster elects its meta leader), and returns the log
// and the session store over the connection.
func ConnectCluster(ctx context.Context, o ClusterOptions, longLived bool) (*nats.Conn, *Log, *Store, error) {
	nc, err := DialCluster(ctx, o, longLived)
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*nats.Conn, *Log, *Store, error) {
		nc.Close()
		return nil, nil, nil, err
	}
	js, err := njs.New(nc)
	if err != nil {
		return fail(err)
	}
	// The common case costs one stream info and one bucket info, asked side by side, and
	// each retried while its stream elects a leader; only a missing stream is created.
	var (
		st  njs.Stream
		kv  njs.KeyValue
		wg  sync.WaitGroup
		kvE error
	)
	wg.Go(func() {
		kv, kvE = Hedged(ctx, func(ctx context.Context) (njs.KeyValue, error) {
			return js.KeyValue(ctx, events.SessionBucket)
		})
	})
	st, err = Hedged(ctx, func(ctx context.Context) (njs.Stream, error) {
		return js.Stream(ctx, events.EventsStream)
	})
	wg.Wait()
	if err == nil {
		// Streams made otherwise (another replica count or retention) are left alone; the
		// events stream's info is at hand, the others are checked before anything is created.
		if d := diffStream(events.EventsStream, st.CachedInfo().Config, o.StreamConfig().Replicas); len(d) > 0 {
			return fail(mismatch(d))
		}
	}
	if errors.Is(err, njs.ErrStreamNotFound) || errors.Is(kvE, njs.ErrBucketNotFound) {
		err = Retry(ctx, func(ctx context.Context) error {
			if _, err := checkExisting(ctx, js, o.StreamConfig()); err != nil {
				return err
			}
			return EnsureStreams(ctx, js, o.StreamConfig())
		})
		if err != nil {
			return fail(fmt.Errorf("nats cluster: %w", err))
		}
		if st, err = Hedged(ctx, func(ctx context.Context) (njs.Stream, error) {
			return js.Stream(ctx, events.EventsStream)
		}); err == nil {
			kv, kvE = Hedged(ctx, func(ctx context.Context) (njs.KeyValue, error) {
				return js.KeyValue(ctx, events.SessionBucket)
			})
		}
	}
	if err == nil {
		err = kvE
	}
	if err != nil {
		return fail(fmt.Errorf("nats cluster: %w", err))
	}
	log := newLog(nc, js, st)
	store := &Store{kv: kv, js: js}
	return nc, log, store, nil
}

// Retry runs op with a short per-attempt timeout until it succeeds, fails with an error
// that a retry cannot fix, or ctx ends. It is for requests that a leader election
// interrupts: they are retried with the same content, so op must be idempotent. Attempts
// run one at a time; Hedged is the faster form for operations that return their result.
func Retry(ctx context.Context, op func(ctx context.Context) error) error {
	pause := backoff.New(retryPause, retryPauseMax)
	for {
		actx, cancel := context.WithTimeout(ctx, DefaultAttemptTimeout)
		err := op(actx)
		cancel()
		if err == nil || !Transient(err) || ctx.Err() != nil {
			if err != nil && ctx.Err() != nil && Transient(err) {
				return fmt.Errorf("%w (last attempt: %v)", context.Cause(ctx), err)
			}
			return err
		}
		if pause.Wait(ctx) != nil {
			return fmt.Errorf("%w (last attempt: %v)", context.Cause(ctx), err)
		}
	}
}

// Hedged is Retry for an idempotent op that returns its result, with hedged attempts: while
// an attempt is unanswered for hedgeDelay (growing to hedgeDelayMax), another one is sent
// beside it, and the first answer wins. A request sent to a leader that has just died, or
// to a group that is electing one, is never answered; Retry waits out its attempt
// (DefaultAttemptTimeout) before the next, which is answered at once by the new leader,
// so the end of an election cost up to a whole attempt more. Hedging cuts that to the
// hedge delay, and costs nothing while requests are answered faster than it.
func Hedged[T any](ctx context.Context, op func(ctx context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	var zero T
	hctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the attempts still waiting
	results := make(chan result)
	inFlight := 0
	launch := func() {
		inFlight++
		go func() {
			actx, acancel := context.WithTimeout(hctx, DefaultAttemptTimeout)
			v, err := op(actx)
			acancel()
			select {
			case results <- result{v, err}:
			case <-hctx.Done():
			}
		}()
	}
	ended := func(last error) error {
		if last == nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("%w (last attempt: %v)", context.Cause(ctx), last)
	}
	pause := backoff.New(retryPause, retryPauseMax)
	hedge := backoff.New(hedgeDelay, hedgeDelayMax)
	var last error
	launch()
	timer := time.NewTimer(hedge.Next())
	defer timer.Stop()
	for {
		select {
		case r := <-results:
			inFlight--
			if r.err == nil || !Transient(r.err) {
				return r.v, r.err
			}
			last = r.err
			if inFlight > 0 {
				continue
			}
			// Every attempt failed fast (no responders: no leader yet): pause, then again.
			if pause.Wait(ctx) != nil {
				return zero, ended(last)
			}
			launch()
			hedge.Reset()
			timer.Reset(hedge.Next())
		case <-timer.C:
			if inFlight < maxHedged {
				launch()
			}
			timer.Reset(hedge.Next())
		case <-ctx.Done():
			return zero, ended(last)
		}
	}
}

// Transient reports an error that a retry may not see: a request nobody answered in time
// (a leader being elected, a server going away), a cluster that is temporarily
// unavailable, a duplicate of our own message still in process. Conflicts and invalid
// requests are not transient.
func Transient(err error) bool {
	if err == nil || isConflict(err) {
		return false
	}
	var apiErr *njs.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case errCodeClusterNotAvailable, errCodeDuplicateInProcess, errCodeExpectedLastNotReady,
			errCodeClusterNoPeers, errCodeStreamOffline, errCodeClusterIncomplete:
			return true
		}
		return apiErr.Code == 503 || apiErr.Code == 408
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, njs.ErrNoStreamResponse),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrReconnectBufExceeded):
		return true
	}
	// nats.go reports some server answers as plain text only.
	msg := err.Error()
	return strings.Contains(msg, errCodeDuplicateInProcessMsg) ||
		strings.Contains(msg, "temporarily unavailable") || strings.Contains(msg, "no response from stream")
}
