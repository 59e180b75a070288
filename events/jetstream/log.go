package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
)

// Read tuning: big pulls keep the server streaming while the reader decodes.
const (
	readBatch      = 8192
	readBatchBytes = 16 << 20
	// ownWriteScan bounds how many of a session's newer events a conflicting append with a
	// caller-supplied message id inspects to recognize its own earlier write.
	ownWriteScan = 64
	apiPrefix    = "$JS.API."
	// shortReadSpan: a read whose range of sequences is shorter than this uses gets, not a
	// consumer.
	shortReadSpan = 64
)

// Log is the events.Log on JetStream.
type Log struct {
	nc *nats.Conn
	js njs.JetStream
	// direct: read single messages with direct gets. Only exact when every replica is
	// current, so on clusters the leader answers instead.
	direct bool
}

var _ events.Log = (*Log)(nil)

// NewLog returns the log over nc. The events stream must exist (EnsureStreams).
func NewLog(ctx context.Context, nc *nats.Conn) (*Log, error) {
	js, err := njs.New(nc)
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	st, err := js.Stream(ctx, events.EventsStream)
	if err != nil {
		return nil, fmt.Errorf("event log: stream %s: %w", events.EventsStream, orFault(ctx, nc, err))
	}
	return newLog(nc, js, st), nil
}

// newLog returns the log over nc, its stream's configuration read from st.
func newLog(nc *nats.Conn, js njs.JetStream, st njs.Stream) *Log {
	cfg := st.CachedInfo().Config
	return &Log{nc: nc, js: js, direct: cfg.AllowDirect && cfg.Replicas <= 1}
}

// JetStream returns the JetStream context the log uses (for OpenStore and tools).
func (l *Log) JetStream() njs.JetStream { return l.js }

// Conn returns the NATS connection the log uses (for request/reply beside the log).
func (l *Log) Conn() *nats.Conn { return l.nc }

// Append implements events.Log.
func (l *Log) Append(ctx context.Context, e events.Event, cond events.Expect) (uint64, error) {
	if err := e.Validate(); err != nil {
		return 0, err
	}
	data, err := e.Marshal()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", events.ErrInvalidEvent, err)
	}
	msg := nats.NewMsg(e.Subject())
	msg.Data = data
	id := cond.MsgID
	if id == "" {
		id = newID()
	}
	msg.Header.Set(njs.MsgIDHeader, id)
	filter := events.SessionFilter(e.Node, e.Session)
	if !cond.Any {
		msg.Header.Set(njs.ExpectedLastSubjSeqHeader, strconv.FormatUint(cond.LastSeq, 10))
		msg.Header.Set(njs.ExpectedLastSubjSeqSubjHeader, filter)
	}
	// Attempts are short and retried with the same message id: on a cluster, a publish
	// that a leader election swallowed may or may not have been stored, and the id makes
	// the retry land once (a duplicate ack carries the original's sequence).
	// Hedged attempts may run side by side: each its own copy of the message (nats.go
	// writes to it), all with one id. nats.go's own retry on "no responders" is off: Hedged
	// paces those retries.
	var attempts atomic.Int32
	ack, err := hedged(ctx, l, func(ctx context.Context) (*njs.PubAck, error) {
		attempts.Add(1)
		m := nats.NewMsg(msg.Subject)
		m.Data = msg.Data
		for k, v := range msg.Header {
			m.Header[k] = slices.Clone(v)
		}
		return l.js.PublishMsg(ctx, m, njs.WithRetryAttempts(0))
	})
	if err != nil {
		if isConflict(err) {
			// The server checks the expected sequence before the duplicate window, so a
			// retried append that was already stored looks like a lost race. Recognize our
			// own earlier write among the events that beat us.
			if cond.MsgID != "" || attempts.Load() > 1 {
				if seq, ok := l.findMsgID(ctx, filter, cond.LastSeq+1, id); ok {
					return seq, nil
				}
			}
			return 0, &events.SessionError{Op: "append " + string(e.Type), Node: e.Node, Session: e.Session,
				Err: fmt.Errorf("%w (expected last sequence %d)", events.ErrConflict, cond.LastSeq)}
		}
		if f := AskFault(ctx, l.nc); f != nil && !IsStorageFault(err) {
			err = fmt.Errorf("%w (%v)", f, err)
		}
		return 0, &events.SessionError{Op: "append " + string(e.Type), Node: e.Node, Session: e.Session, Err: err}
	}
	return ack.Sequence, nil
}

// isConflict reports a lost compare-and-set, by JetStream error code.
func isConflict(err error) bool {
	var apiErr *njs.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == njs.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == njs.JSErrCodeStreamWrongLastSequenceConstant
}

// findMsgID looks for an event carrying msgID among the first few events matching filter
// from seq on.
func (l *Log) findMsgID(ctx context.Context, filter string, seq uint64, msgID string) (uint64, bool) {
	for range ownWriteScan {
		m, err := l.getMsg(ctx, events.EventsStream, msgRequest{Seq: seq, NextFor: filter})
		if err != nil {
			return 0, false
		}
		if m.Header.Get(njs.MsgIDHeader) == msgID {
			return m.Seq, true
		}
		seq = m.Seq + 1
	}
	return 0, false
}

// LastSeq implements events.Log: the sequence of the last event on the session's subjects,
// looked up with the same store function the conditional append is checked against.
func (l *Log) LastSeq(ctx context.Context, node, session string) (uint64, error) {
	if err := events.ValidateNode(node); err != nil {
		return 0, err
	}
	if err := events.ValidateSession(session); err != nil {
		return 0, err
	}
	m, err := l.getMsg(ctx, events.EventsStream, msgRequest{LastFor: events.SessionFilter(node, session)})
	if errors.Is(err, events.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last sequence of @%s: %w", session, err)
	}
	return m.Seq, nil
}

// StreamState is what doctor shows about a stream.
type StreamState struct {
	Stream    string
	FirstSeq  uint64
	LastSeq   uint64
	Msgs      uint64
	Bytes     uint64
	FirstTime time.Time
	LastTime  time.Time
	Consumers int
	// MaxBytes is the stream's size limit (<= 0: none); Replicas its replica count.
	MaxBytes int64
	Replicas int
}

// Info returns the events stream's state.
func (l *Log) Info(ctx context.Context) (StreamState, error) {
	return l.streamState(ctx, events.EventsStream)
}

// NotifyInfo returns the notification stream's state.
func (l *Log) NotifyInfo(ctx context.Context) (StreamState, error) {
	return l.streamState(ctx, events.NotifyStream)
}

func (l *Log) streamState(ctx context.Context, name string) (StreamState, error) {
	st, err := hedged(ctx, l, func(ctx context.Context) (njs.Stream, error) {
		return l.js.Stream(ctx, name)
	})
	if err != nil {
		return StreamState{}, fmt.Errorf("stream %s: %w", name, err)
	}
	s, c := st.CachedInfo().State, st.CachedInfo().Config
	return StreamState{Stream: name, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq, Msgs: s.Msgs, Bytes: s.Bytes,
		FirstTime: s.FirstTime, LastTime: s.LastTime, Consumers: s.Consumers, MaxBytes: c.MaxBytes, Replicas: c.Replicas}, nil
}

// Head implements events.Log.
func (l *Log) Head(ctx context.Context) (uint64, error) {
	s, err := l.Info(ctx)
	return s.LastSeq, err
}

// Read implements events.Log.
func (l *Log) Read(ctx context.Context, q events.Query, fn func(events.Event) error) error {
	return l.readEvents(ctx, q, false, fn)
}

// Follow implements events.Log.
func (l *Log) Follow(ctx context.Context, q events.Query, fn func(events.Event) error) error {
	return l.readEvents(ctx, q, true, fn)
}

func (l *Log) readEvents(ctx context.Context, q events.Query, follow bool, fn func(events.Event) error) error {
	if q.Node != "" {
		if err := events.ValidateNode(q.Node); err != nil {
			return err
		}
	}
	if q.Session != "" {
		if err := events.ValidateSession(q.Session); err != nil {
			return err
		}
	}
	filter := events.Filter(q.Node, q.Session)
	return l.decodePipeline(ctx, q, follow, filter, fn)
}

// decodeBatch is the unit of work of the decode pipeline.
type decodeBatch struct {
	msgs []rawMsg
	evs  []events.Event
	done chan struct{}
}

const decodeBatchSize = 256

// decodePipeline reads raw messages in one goroutine, decodes batches of them on every core
// and calls fn in sequence order in the caller's goroutine. JSON decoding is most of the
// cost of a replay; spreading it keeps a 100k-event replay fast.
func (l *Log) decodePipeline(ctx context.Context, q events.Query, follow bool, filter string, fn func(events.Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(1, runtime.GOMAXPROCS(0))
	order := make(chan *decodeBatch, 4*workers)
	work := make(chan *decodeBatch, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				b.evs = make([]events.Event, 0, len(b.msgs))
				for _, m := range b.msgs {
					b.evs = append(b.evs, decodeEvent(m))
				}
				close(b.done)
			}
		}()
	}
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		defer close(order)
		cur := &decodeBatch{}
		push := func() error {
			if len(cur.msgs) == 0 {
				return nil
			}
			cur.done = make(chan struct{})
			select {
			case order <- cur:
			case <-ctx.Done():
				return ctx.Err()
			}
			work <- cur // never blocks for long: workers drain work until it closes
			cur = &decodeBatch{}
			return nil
		}
		readErr = l.consume(ctx, events.EventsStream, filter, q.AfterSeq, q.Since, follow, func(m rawMsg, caughtUp bool) error {
			cur.msgs = append(cur.msgs, m)
			if len(cur.msgs) >= decodeBatchSize || caughtUp {
				return push()
			}
			return nil
		})
		if readErr == nil {
			readErr = push()
		}
	}()
	var fnErr error
	for b := range order {
		<-b.done
		if fnErr != nil {
			continue // draining after fn failed
		}
		for _, e := range b.evs {
			// Undecodable events pass whatever the query says, so they are never dropped
			// silently.
			if e.Type != "" && !q.Match(e) {
				continue
			}
			if err := fn(e); err != nil {
				fnErr = err
				cancel()
				break
			}
		}
	}
	wg.Wait()
	if fnErr != nil {
		return fnErr
	}
	return readErr
}

// decodeEvent decodes a stored event. An undecodable one comes back with Type "" and the
// node and session its subject names.
func decodeEvent(m rawMsg) events.Event {
	e, err := decodeFast(m.Data)
	if err != nil {
		e = events.Event{}
		e.Node, e.Session, _, _ = events.ParseSubject(m.Subject)
	}
	e.Seq = m.Seq
	return e
}

// rawMsg is one stored message as the readers see it.
type rawMsg struct {
	Seq     uint64
	Subject string
	Time    time.Time
	Header  nats.Header
	Data    []byte
}

// consume delivers the messages of stream matching filter after afterSeq (and at or after
// since), in order. Without follow it stops at the stream's last sequence as of the start.
func (l *Log) consume(ctx context.Context, stream, filter string, afterSeq uint64, since time.Time,
	follow bool, fn func(m rawMsg, caughtUp bool) error) error {
	if afterSeq == math.MaxUint64 {
		// No sequence follows the largest: nothing to read, ever (and afterSeq+1 would wrap
		// to 0, which a consumer refuses).
		if !follow {
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	}
	st, err := l.streamState(ctx, stream)
	if err != nil {
		return err
	}
	head := st.LastSeq
	start := afterSeq + 1
	if !since.IsZero() {
		m, err := l.getMsg(ctx, stream, msgRequest{StartTime: &since})
		switch {
		case errors.Is(err, events.ErrNotFound):
			// Nothing stored at or after since: only newer events can match.
			start = max(start, head+1)
		case err != nil:
			return err
		default:
			start = max(start, m.Seq)
		}
	}
	if !follow {
		if start > head {
			return nil
		}
		// Skip to the first match; none before head means there is nothing to read.
		m, err := l.getMsg(ctx, stream, msgRequest{Seq: start, NextFor: filter})
		if errors.Is(err, events.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if m.Seq > head {
			return nil
		}
		start = m.Seq
		// A short tail (the events a writer missed since its last read) is fetched message by
		// message: no consumer to create, which on a cluster needs the meta leader and is
		// what stalls while a killed node's leadership is re-elected.
		if head-start < shortReadSpan {
			for {
				end := m.Seq >= head
				if err := fn(m, end); err != nil {
					return err
				}
				if end {
					return nil
				}
				m, err = l.getMsg(ctx, stream, msgRequest{Seq: m.Seq + 1, NextFor: filter})
				if errors.Is(err, events.ErrNotFound) {
					return nil
				}
				if err != nil {
					return err
				}
				if m.Seq > head {
					return nil
				}
			}
		}
	}
	if follow {
		return l.follow(ctx, stream, filter, start, fn)
	}
	cfg := njs.OrderedConsumerConfig{DeliverPolicy: njs.DeliverByStartSequencePolicy, OptStartSeq: start}
	// A filter the stream's own subjects already imply costs the server a subject match
	// per message: leave it out.
	if filter != streamSubjects(stream) && filter != events.Filter("", "") {
		cfg.FilterSubjects = []string{filter}
	}
	cons, err := l.js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, orFault(ctx, l.nc, err))
	}
	it, err := cons.Messages(njs.PullMaxMessagesWithBytesLimit(readBatch, readBatchBytes))
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(njs.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read %s: %w", stream, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		seq := meta.Sequence.Stream
		if !follow && seq > head {
			return nil
		}
		end := !follow && (seq >= head || meta.NumPending == 0)
		m := rawMsg{Seq: seq, Subject: msg.Subject(), Time: meta.Timestamp, Header: msg.Headers(), Data: msg.Data()}
		if err := fn(m, end || meta.NumPending == 0); err != nil {
			return err
		}
		if end {
			return nil
		}
	}
}

// Follow tuning. A follower's consumer lives on one node: when that node dies the
// follower learns it from missed heartbeats, and creates a new consumer from where it was.
const (
	// followHeartbeat: the server sends one while there is nothing to deliver; two missed
	// ones mean the consumer is gone (nats.go's default is 5 s for pulls this long).
	followHeartbeat = time.Second
	// followInactive: a consumer nobody pulls from (its follower died with its node) is
	// removed by the server after this.
	followInactive = time.Minute
	// followCreateTimeout bounds the creation of one consumer (its hedged attempts): longer
	// than a leader election (4–9 s), after which a consumer of another name is asked for.
	followCreateTimeout = 15 * time.Second
	// followDeleteTimeout bounds the removal of a consumer the follower leaves.
	followDeleteTimeout = 500 * time.Millisecond
)

// follow delivers the messages of stream matching filter from start on until ctx ends.
// nats.go's ordered consumer would do the same, but recreates a lost consumer with
// requests of 10 s and pauses of 1 to 10 s between them: after the meta leader died that
// is 11 s or more in which a hub sees no restart request. Here the consumer is recreated
// with Hedged requests, right after the election.
func (l *Log) follow(ctx context.Context, stream, filter string, start uint64, fn func(m rawMsg, caughtUp bool) error) error {
	next := start
	for {
		err := l.followConsumer(ctx, stream, filter, &next, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, errConsumerLost) {
			return err
		}
	}
}

// errConsumerLost: the follower's consumer is gone or skipped messages; make a new one.
var errConsumerLost = errors.New("consumer lost")

// followConsumer follows with one consumer, from *next on, and advances *next past every
// message fn took. It returns errConsumerLost when a new consumer should go on.
func (l *Log) followConsumer(ctx context.Context, stream, filter string, next *uint64, fn func(m rawMsg, caughtUp bool) error) error {
	cfg := njs.ConsumerConfig{
		Name:              "f" + newID(),
		DeliverPolicy:     njs.DeliverByStartSequencePolicy,
		OptStartSeq:       *next,
		AckPolicy:         njs.AckNonePolicy,
		MaxDeliver:        -1,
		InactiveThreshold: followInactive,
		MemoryStorage:     true,
		Replicas:          1,
	}
	if filter != streamSubjects(stream) && filter != events.Filter("", "") {
		cfg.FilterSubjects = []string{filter}
	}
	// The name makes a hedged twin of the creation the same consumer. A creation can go
	// unanswered for good (seen after a leader kill: every twin of one name timed out for 90 s
	// while other requests went through), so it is bounded, and the next round asks for a
	// consumer of another name.
	cctx, ccancel := context.WithTimeout(ctx, followCreateTimeout)
	cons, err := hedged(cctx, l, func(ctx context.Context) (njs.Consumer, error) {
		return l.js.CreateOrUpdateConsumer(ctx, stream, cfg)
	})
	ccancel()
	if err != nil {
		if ctx.Err() == nil && cctx.Err() != nil && l.nc.IsConnected() {
			return errConsumerLost
		}
		return fmt.Errorf("read %s: %w", stream, orFault(ctx, l.nc, err))
	}
	defer func() {
		// Best effort: a consumer on a dead node goes with its inactivity threshold.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), followDeleteTimeout)
		defer cancel()
		_ = l.js.DeleteConsumer(dctx, stream, cfg.Name)
	}()
	it, err := cons.Messages(njs.PullMaxMessagesWithBytesLimit(readBatch, readBatchBytes),
		njs.PullHeartbeat(followHeartbeat), njs.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	defer it.Stop()
	var delivered uint64
	for {
		msg, err := it.Next(njs.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, nats.ErrConnectionClosed) || !l.nc.IsConnected() {
				// The server itself is gone (a hub that died, a node this client was on):
				// the caller hears it, as it did from nats.go's consumer, and starts over
				// (the projector) or says so (top, events -f).
				return fmt.Errorf("read %s: %w", stream, err)
			}
			return errConsumerLost // missed heartbeats, the consumer deleted, no responders
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		// Without acks the consumer does not redeliver: a message lost on the way (its
		// node died mid-delivery) shows as a gap in the consumer's sequence.
		if meta.Sequence.Consumer != delivered+1 {
			return errConsumerLost
		}
		delivered = meta.Sequence.Consumer
		m := rawMsg{Seq: meta.Sequence.Stream, Subject: msg.Subject(), Time: meta.Timestamp, Header: msg.Headers(), Data: msg.Data()}
		if err := fn(m, meta.NumPending == 0); err != nil {
			return err
		}
		*next = meta.Sequence.Stream + 1
	}
}

func streamSubjects(stream string) string {
	if stream == events.NotifyStream {
		return events.NotifyPrefix + ".>"
	}
	return events.EventsPrefix + ".>"
}

// msgRequest is a JetStream message get request.
type msgRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	LastFor   string     `json:"last_by_subj,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

// getMsg fetches one message: a direct get where that is exact, else through the stream
// leader. A missing message is an error wrapping events.ErrNotFound.
func (l *Log) getMsg(ctx context.Context, stream string, req msgRequest) (rawMsg, error) {
	return hedged(ctx, l, func(ctx context.Context) (rawMsg, error) {
		return l.getMsgOnce(ctx, stream, req)
	})
}

func (l *Log) getMsgOnce(ctx context.Context, stream string, req msgRequest) (rawMsg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return rawMsg{}, err
	}
	if l.direct {
		resp, err := l.nc.RequestWithContext(ctx, apiPrefix+"DIRECT.GET."+stream, body)
		if err != nil {
			return rawMsg{}, fmt.Errorf("get from %s: %w", stream, err)
		}
		if status := resp.Header.Get("Status"); status != "" {
			if status == "404" {
				return rawMsg{}, fmt.Errorf("get from %s: %w", stream, events.ErrNotFound)
			}
			return rawMsg{}, fmt.Errorf("get from %s: status %s %s", stream, status, resp.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(resp.Header.Get(njs.SequenceHeader), 10, 64)
		if err != nil {
			return rawMsg{}, fmt.Errorf("get from %s: bad sequence header: %w", stream, err)
		}
		ts, _ := time.Parse(time.RFC3339Nano, resp.Header.Get("Nats-Time-Stamp"))
		return rawMsg{Seq: seq, Subject: resp.Header.Get(njs.SubjectHeader), Time: ts, Header: resp.Header, Data: resp.Data}, nil
	}
	resp, err := l.nc.RequestWithContext(ctx, apiPrefix+"STREAM.MSG.GET."+stream, body)
	if err != nil {
		return rawMsg{}, fmt.Errorf("get from %s: %w", stream, err)
	}
	var r struct {
		Error *njs.APIError `json:"error"`
		Msg   *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Header  []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return rawMsg{}, fmt.Errorf("get from %s: %w", stream, err)
	}
	if r.Error != nil {
		if r.Error.ErrorCode == njs.JSErrCodeMessageNotFound {
			return rawMsg{}, fmt.Errorf("get from %s: %w", stream, events.ErrNotFound)
		}
		return rawMsg{}, fmt.Errorf("get from %s: %w", stream, r.Error)
	}
	if r.Msg == nil {
		return rawMsg{}, fmt.Errorf("get from %s: empty answer", stream)
	}
	out := rawMsg{Seq: r.Msg.Seq, Subject: r.Msg.Subject, Time: r.Msg.Time, Data: r.Msg.Data}
	if len(r.Msg.Header) > 0 {
		if h, err := parseHeader(r.Msg.Header); err == nil {
			out.Header = h
		}
	}
	return out, nil
}

// parseHeader decodes a stored "NATS/1.0" header block.
func parseHeader(b []byte) (nats.Header, error) {
	// The first line is the version (and status); then "Key: value" lines.
	h := nats.Header{}
	lines := splitLines(b)
	if len(lines) == 0 {
		return h, nil
	}
	for _, ln := range lines[1:] {
		for i := 0; i < len(ln); i++ {
			if ln[i] == ':' {
				k := ln[:i]
				v := ln[i+1:]
				for len(v) > 0 && v[0] == ' ' {
					v = v[1:]
				}
				h.Add(k, v)
				break
			}
		}
	}
	return h, nil
}

func splitLines(b []byte) []string {
	var out []string
	start := 0
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 2
			i++
		}
	}
	return out
}

// newID returns a fresh message id.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
