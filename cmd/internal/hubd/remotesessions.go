package hubd

import (
	"net/url"
	"os"
	"regexp"

	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/remote"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/projector"
)

// remoteSessions answers other nodes' `logs`, `info`, … on this node's sessions opened with
// --remote (cmd/internal/remote/hub.go): the session from the projection, its log from
// this home, its secrets redacted.
func (h *hub) remoteSessions(log *jetstream.Log, f *projector.Follower) *remote.HubServer {
	return &remote.HubServer{
		NC:   log.Conn(),
		Node: h.node,
		Lookup: func(name string) (projector.Session, bool) {
			return f.Get(h.node, name)
		},
		LogPath: func(name string) string {
			path := h.home.SessionLog(name)
			if _, err := os.Stat(path); err != nil {
				if old := h.home.LegacySessionLog(name); old != "" {
					if _, err := os.Stat(old); err == nil {
						return old
					}
				}
			}
			return path
		},
		Secrets: func(s projector.Session) ([]string, error) { return sessionSecrets(h.home, s) },
		Logger:  h.logger.With("part", "remote"),
	}
}

// secretNameRE picks the inherited environment variables whose values are redacted: the
// server got the whole environment of the CLI that connected it, and only these are
// secrets (redacting PATH or HOME would blank out half a log).
var secretNameRE = regexp.MustCompile(`(?i)(token|secret|key|passw|auth|credential|cookie|session)`)

// sessionSecrets are the values a session's log must not show another node: its header
// and env values, its URL's query values, and the secret-looking variables of the
// environment it inherited.
// Secrets that cannot be read (a closed session's file is gone) cannot be redacted: the
// log is then not shipped.
func sessionSecrets(home homedir.Home, s projector.Session) ([]string, error) {
	sec, err := homedir.ReadSecrets(home, s.Server.Secrets)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range sec.Headers {
		out = append(out, v)
	}
	for _, v := range sec.Env {
		out = append(out, v)
	}
	if u, err := url.Parse(sec.URL); err == nil {
		for _, vs := range u.Query() {
			out = append(out, vs...)
		}
	}
	for k, v := range sec.Inherited {
		if secretNameRE.MatchString(k) {
			out = append(out, v)
		}
	}
	return out, nil
}
