package remote

import (
	"regexp"
	"sort"
	"strings"
)

// Redacted replaces a secret in a log shipped to another node.
const Redacted = "[REDACTED]"

// minSecret is the shortest value redacted: shorter ones ("1", "on") would blank out
// ordinary words of the log and are no secret worth the name.
const minSecret = 4

// bearerRE finds credentials a server or a library may print: an Authorization scheme and
// its token, and token-like query parameters.
var bearerRE = regexp.MustCompile(`(?i)\b(bearer|basic|token)(\s+|=|:\s*)[A-Za-z0-9._~+/=-]{6,}`)

// Redactor removes a session's secret values, and anything that looks like a bearer
// token, from log lines.
type Redactor struct{ r *strings.Replacer }

// NewRedactor redacts values (the longest first, so that a secret containing another is
// redacted whole).
func NewRedactor(values []string) *Redactor {
	vs := make([]string, 0, len(values))
	seen := map[string]bool{}
	for _, v := range values {
		if len(v) >= minSecret && !seen[v] {
			seen[v] = true
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	var pairs []string
	for _, v := range vs {
		pairs = append(pairs, v, Redacted)
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// Line returns l without the secrets.
func (r *Redactor) Line(l string) string {
	l = r.r.Replace(l)
	return bearerRE.ReplaceAllString(l, "${1}${2}"+Redacted)
}
