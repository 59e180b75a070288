package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// HTTPOptions describe a Streamable HTTP or legacy SSE server.
type HTTPOptions struct {
	URL string
	// Headers are sent with every request (Authorization and the like).
	Headers map[string]string
	// Protocol is the revision to start with (default DefaultHTTPProtocol; DefaultSSEProtocol
	// for SSE): 2026-07-28 or later is probed with server/discover, falling back to
	// initialize; an older one goes straight to initialize.
	Protocol string
	// DiscoverTimeout bounds the server/discover probe (0: DefaultHTTPDiscoverTimeout).
	DiscoverTimeout time.Duration
	ClientInfo      ClientInfo
	Logger          *slog.Logger
	// AnswerInput answers the input requests of 2026-07-28 input_required rounds (nil:
	// elicitations are declined, other asks fail the call).
	AnswerInput AnswerInputFunc
	// ResumeSessionID resumes an existing Streamable HTTP session (after a bridge crash)
	// instead of initializing a new one; ResumeInitialize must then hold that session's
	// cached initialize result. Initialize checks the session with a ping. mcp-go opens its
	// standalone GET stream only after an initialize it sent itself, so on a resumed
	// session server notifications arrive only on request streams.
	ResumeSessionID  string
	ResumeInitialize json.RawMessage
	// HTTPClient is the base client (default: a clone of http.DefaultTransport). Its
	// transport is wrapped to watch status codes.
	HTTPClient *http.Client
}

// DialHTTP connects to a Streamable HTTP server. Nothing is sent before Initialize.
func DialHTTP(ctx context.Context, opts HTTPOptions) (Upstream, error) {
	if opts.Protocol == "" {
		opts.Protocol = DefaultHTTPProtocol
	}
	if opts.ResumeSessionID != "" && len(opts.ResumeInitialize) == 0 {
		return nil, errors.New("http: resuming a session needs its cached initialize result")
	}
	watch, hc := newWatchTransport(opts.HTTPClient)
	topts := []transport.StreamableHTTPCOption{
		transport.WithHTTPBasicClient(hc),
		transport.WithHTTPHeaders(opts.Headers),
		transport.WithContinuousListening(), // server notifications outside requests
	}
	if opts.Logger != nil {
		topts = append(topts, transport.WithHTTPLogger(opts.Logger))
	}
	if opts.ResumeSessionID != "" {
		topts = append(topts, transport.WithSession(opts.ResumeSessionID))
	}
	tr, err := transport.NewStreamableHTTP(opts.URL, topts...)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	u := newRawUpstream(tr, opts.Protocol, opts.ClientInfo, opts.Logger)
	watch.note = u.raw.note
	if opts.DiscoverTimeout != 0 {
		u.discoverTimeout = opts.DiscoverTimeout
	}
	u.answer = opts.AnswerInput
	u.resume = opts.ResumeInitialize
	if opts.ResumeSessionID == "" {
		u.resume = nil
	}
	watch.lose = u.lose
	u.closeFn = func(_ context.Context, o CloseOptions) error {
		// mcp-go's Close always DELETEs a known session; the watcher refuses it unless asked.
		watch.allowDelete.Store(o.EndSession)
		err := tr.Close()
		hc.CloseIdleConnections()
		return err
	}
	lifetime, stop := context.WithCancel(context.Background())
	u.stop = stop
	if err := tr.Start(lifetime); err != nil {
		_ = u.Close(ctx, CloseOptions{})
		return nil, fmt.Errorf("http: %w", err)
	}
	return u, nil
}

// DialSSE connects to a legacy HTTP+SSE server: it opens the event stream and waits for the
// endpoint event. A broken stream is a lost server.
func DialSSE(ctx context.Context, opts HTTPOptions) (Upstream, error) {
	if opts.Protocol == "" {
		opts.Protocol = DefaultSSEProtocol
	}
	if err := validateSSEProtocol(opts.Protocol); err != nil {
		return nil, err
	}
	watch, hc := newWatchTransport(opts.HTTPClient)
	topts := []transport.ClientOption{transport.WithHTTPClient(hc), transport.WithHeaders(opts.Headers)}
	if opts.Logger != nil {
		topts = append(topts, transport.WithSSELogger(opts.Logger))
	}
	tr, err := transport.NewSSE(opts.URL, topts...)
	if err != nil {
		return nil, fmt.Errorf("sse: %w", err)
	}
	u := newRawUpstream(tr, opts.Protocol, opts.ClientInfo, opts.Logger)
	watch.note = u.raw.note
	watch.lose = u.lose
	tr.SetConnectionLostHandler(func(err error) {
		u.lose(fmt.Errorf("%w: sse stream: %v", rpc.ErrServerLost, err))
	})
	u.closeFn = func(context.Context, CloseOptions) error {
		err := tr.Close()
		hc.CloseIdleConnections()
		return err
	}
	lifetime, stop := context.WithCancel(context.Background())
	u.stop = stop
	started := make(chan error, 1)
	go func() { started <- tr.Start(lifetime) }()
	select {
	case err = <-started:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		_ = u.Close(context.Background(), CloseOptions{})
		if lost := u.Err(); lost != nil && !errors.Is(lost, rpc.ErrUpstreamClosed) {
			return nil, lost
		}
		return nil, fmt.Errorf("sse: %w", err)
	}
	return u, nil
}

// watchTransport sits under mcp-go's HTTP transports and reads the status codes mcp-go does
// not report as typed errors: 403, and a 400 that says the session is unknown. It also
// refuses the DELETE mcp-go's Close sends unless the caller asked to end the session.
type watchTransport struct {
	base        http.RoundTripper
	lose        func(error)
	allowDelete atomic.Bool
	// note sees each line of every response body (askorder.go); set before the first
	// request.
	note func([]byte)
}

var errDeleteSuppressed = errors.New("session DELETE not requested")

func newWatchTransport(base *http.Client) (*watchTransport, *http.Client) {
	hc := &http.Client{}
	if base != nil {
		*hc = *base
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	w := &watchTransport{base: rt}
	hc.Transport = w
	hc.CheckRedirect = checkRedirect
	return w, hc
}

// ErrCrossOriginRedirect is a redirect to another origin, which the bridge refuses to follow.
var ErrCrossOriginRedirect = errors.New("redirect to another origin refused")

// checkRedirect follows a redirect only within the origin of the first request (same
// scheme, host and port; http→https on the same host is allowed, the headers went to that
// host already). net/http copies every header of the first request to the next except
// Authorization and cookies, so a redirect to another host would hand it X-Api-Key and the
// like; and it would add a Referer with the URL's query, also secret. Dropping the headers
// instead would send a request the server must refuse, and hide why: refusing says it.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	from, to := via[0].URL, req.URL
	if !sameOrigin(from, to) {
		return fmt.Errorf("%w: %s → %s://%s (connect to that URL directly if it is meant)", ErrCrossOriginRedirect,
			origin(from), to.Scheme, to.Host)
	}
	if via[0].Header.Get("Referer") == "" {
		req.Header.Del("Referer") // the previous URL, with its query
	}
	return nil
}

func sameOrigin(a, b *url.URL) bool {
	if !strings.EqualFold(a.Hostname(), b.Hostname()) {
		return false
	}
	if a.Scheme == b.Scheme {
		return port(a) == port(b)
	}
	return a.Scheme == "http" && b.Scheme == "https" && port(a) == "80" && port(b) == "443"
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

func (w *watchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodDelete && !w.allowDelete.Load() {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errDeleteSuppressed
	}
	if li, ok := req.Context().Value(localInitializeKey{}).(localInitialize); ok && req.Method == http.MethodPost {
		return li.answer(req)
	}
	if h := standardHeadersFrom(req.Context()); len(h) > 0 {
		req = req.Clone(req.Context())
		for k, v := range h {
			if req.Header.Get(k) == "" {
				req.Header.Set(k, v)
			}
		}
	}
	resp, err := w.base.RoundTrip(req)
	if err == nil && w.note != nil && resp.Body != nil {
		resp.Body = teeBody{&lineTee{r: resp.Body, note: w.note}, resp.Body}
	}
	if err != nil || w.lose == nil {
		return resp, err
	}
	hasSession := req.Header.Get(transport.HeaderKeySessionID) != ""
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		w.lose(fmt.Errorf("%w: %s %s: %s", rpc.ErrUnauthorized, req.Method, req.URL.Redacted(), resp.Status))
	case http.StatusNotFound:
		// A 404 for a GET may only mean the server offers no standalone stream.
		if hasSession && req.Method == http.MethodPost {
			w.lose(fmt.Errorf("%w: %s", rpc.ErrExpired, resp.Status))
		}
	case http.StatusBadRequest:
		if hasSession {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
			if unknownSession(body) {
				w.lose(fmt.Errorf("%w: %s: %s", rpc.ErrExpired, resp.Status, truncate(body, 200)))
			}
		}
	}
	return resp, nil
}

// unknownSession reports whether a 400 body says the session is not known: servers word it
// differently ("Bad Request: No valid session ID provided", "session not found", "invalid
// session", "unknown session").
func unknownSession(body []byte) bool {
	s := strings.ToLower(string(body))
	if !strings.Contains(s, "session") {
		return false
	}
	for _, w := range []string{"unknown", "not found", "invalid", "expired", "no valid", "terminated"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

type standardHeadersKey struct{}

// withStandardHeaders asks watchTransport to put the 2026-07-28 standard headers on the
// POST made under ctx (mcp-go sends notifications without them).
func withStandardHeaders(ctx context.Context, h map[string]string) context.Context {
	return context.WithValue(ctx, standardHeadersKey{}, h)
}

func standardHeadersFrom(ctx context.Context) map[string]string {
	h, _ := ctx.Value(standardHeadersKey{}).(map[string]string)
	return h
}

type localInitializeKey struct{}

// localInitialize is an initialize the bridge answers itself (replayInitialize): the
// cached result of a resumed session, under its id.
type localInitialize struct {
	session string
	result  json.RawMessage
}

func withLocalInitialize(ctx context.Context, session string, result json.RawMessage) context.Context {
	return context.WithValue(ctx, localInitializeKey{}, localInitialize{session: session, result: result})
}

func (li localInitialize) answer(req *http.Request) (*http.Response, error) {
	var m struct {
		ID json.RawMessage `json:"id"`
	}
	if req.Body != nil {
		b, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		_ = json.Unmarshal(b, &m)
	}
	if len(m.ID) == 0 {
		return nil, errors.New("replayed initialize: no request id")
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(transport.HeaderKeySessionID, li.session)
	body := rpc.AppendResult(nil, m.ID, li.result)
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
}
