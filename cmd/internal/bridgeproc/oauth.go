package bridgeproc

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/oauth"
	"github.com/mcpctl/mcpctl/events"
)

// oauthHTTPClient is the HTTP client of a session that authorizes with an OAuth profile:
// the one connect named, else the server's default profile. The profile is read for every
// request, so a session connected before `mcpctl login` uses the login's tokens as soon as
// they exist. nil (the default client) for stdio servers, for sessions whose -H headers
// carry an Authorization of their own, and for connect --no-profile. Each refresh this
// bridge makes is handed to onRefresh.
func oauthHTTPClient(home homedir.Home, server events.Server, sec homedir.Secrets, logger *slog.Logger, onRefresh func(*oauth.Profile)) *http.Client {
	if server.Transport != events.TransportHTTP && server.Transport != events.TransportSSE {
		return nil
	}
	if sec.OAuthProfile == homedir.NoOAuthProfile {
		return nil
	}
	for k := range sec.Headers {
		if strings.EqualFold(k, "Authorization") {
			return nil
		}
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{Transport: &oauth.Transport{
		Base: base, Store: oauth.Store{Dir: home.AuthDir()}, Server: server.URL, Profile: sec.OAuthProfile, Logger: logger,
		OnRefresh: onRefresh,
	}}
}

// refreshRecorder appends a token_refreshed event for each refresh, off the request's
// path: profile, origin, scopes, expiry; never a token.
type refreshRecorder struct {
	log     events.Log
	node    string
	session string
	gen     uint64
	logger  *slog.Logger
	ch      chan events.Event
	wg      sync.WaitGroup
	mu      sync.Mutex // guards closed and sends on ch: a late refresh never sends on a closed channel
	closed  bool
}

func newRefreshRecorder(log events.Log, node, session string, gen uint64, logger *slog.Logger) *refreshRecorder {
	r := &refreshRecorder{log: log, node: node, session: session, gen: gen, logger: logger, ch: make(chan events.Event, 16)}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for e := range r.ch {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if _, err := r.log.Append(ctx, e, events.Unconditional()); err != nil {
				r.logger.Warn("record token_refreshed", "err", err)
			}
			cancel()
		}
	}()
	return r
}

// Record queues the event of a refresh; it never blocks (a full queue drops it, logged).
func (r *refreshRecorder) Record(p *oauth.Profile) {
	e := p.Event(events.KindTokenRefreshed, r.node, r.session, r.gen)
	e.PID = os.Getpid()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	select {
	case r.ch <- e:
	default:
		r.logger.Warn("token_refreshed queue full: dropped")
	}
}

// Close stops the recorder after what is queued is appended.
func (r *refreshRecorder) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.ch)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// unauthorizedFacts tells what an unauthorized event of a session on an OAuth profile
// carries: the profile, the server's origin and the scopes the server asked for in its
// refusal (never a token). nil for a session without a profile.
func unauthorizedFacts(home homedir.Home, server events.Server, sec homedir.Secrets) func(e *events.Event) {
	if oauthHTTPClient(home, server, sec, nil, nil) == nil {
		return nil
	}
	return func(e *events.Event) {
		st := oauth.Store{Dir: home.AuthDir()}
		e.Profile = sec.OAuthProfile
		if e.Profile == "" {
			e.Profile = oauth.DefaultProfile
		}
		if u, err := url.Parse(server.URL); err == nil {
			e.Origin = u.Scheme + "://" + u.Host
		}
		if c, ok := st.LastChallenge(server.URL); ok {
			e.Scopes = strings.Fields(c.Scope)
		}
	}
}
