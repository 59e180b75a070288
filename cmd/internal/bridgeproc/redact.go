package bridgeproc

import (
	"io"
	"strings"
	"sync"
)

// redactor replaces secret values (header values, the URL with its query) by what may be
// shown, in the session log and in the error texts the bridge records in events. Error
// texts of net/http quote the URL they failed on; mcp-go's logger may too.
type redactor struct {
	w  io.Writer
	mu sync.Mutex
	r  *strings.Replacer
	kv []string
}

// minSecretLen keeps a one-letter header value from turning every log line into REDACTED.
const minSecretLen = 4

func (r *redactor) add(secret, shown string) {
	if len(secret) < minSecretLen || secret == shown {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Longest first: the URL before a header value it might contain.
	r.kv = append(r.kv, secret, shown)
	pairs := make([][2]string, 0, len(r.kv)/2)
	for i := 0; i < len(r.kv); i += 2 {
		pairs = append(pairs, [2]string{r.kv[i], r.kv[i+1]})
	}
	for i := 1; i < len(pairs); i++ {
		for j := i; j > 0 && len(pairs[j][0]) > len(pairs[j-1][0]); j-- {
			pairs[j], pairs[j-1] = pairs[j-1], pairs[j]
		}
	}
	flat := make([]string, 0, len(r.kv))
	for _, p := range pairs {
		flat = append(flat, p[0], p[1])
	}
	r.r = strings.NewReplacer(flat...)
}

func (r *redactor) redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.Lock()
	rep := r.r
	r.mu.Unlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// Write redacts one write: slog writes a whole record at a time.
func (r *redactor) Write(p []byte) (int, error) {
	out := r.redact(string(p))
	if _, err := io.WriteString(r.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}
