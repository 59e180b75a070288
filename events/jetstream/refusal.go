package jetstream

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/events"
)

// Refusal turns a failed dial of the cluster into an error that says who refused what and
// wraps events.ErrRefused: the server refused the credentials or the client certificate, or
// this client refused the server's certificate. It returns nil for any other failure (an
// unreachable cluster is a network error, not a refusal).
func Refusal(err error, o ClusterOptions) error {
	if err == nil {
		return nil
	}
	var (
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		host      x509.HostnameError
		op        *net.OpError
	)
	ca := "the system's roots"
	if o.TLSCA != "" {
		ca = o.TLSCA
	}
	cert := "none given"
	if o.TLSCert != "" {
		cert = o.TLSCert
	}
	var why string
	switch {
	case errors.As(err, &unknownCA):
		why = fmt.Sprintf("the NATS server's certificate is not signed by a CA this client trusts (%s)", ca)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		why = "the NATS server's certificate has expired or is not valid yet"
	case errors.As(err, &invalid):
		why = "the NATS server's certificate is not valid for this client"
	case errors.As(err, &host):
		why = "the NATS server's certificate does not name the host dialed"
	case errors.As(err, &op) && op.Op == "remote error" && strings.HasPrefix(op.Err.Error(), "tls: "):
		switch alert := strings.TrimPrefix(op.Err.Error(), "tls: "); alert {
		case "expired certificate":
			why = fmt.Sprintf("the NATS server refused this client's certificate (%s): it has expired", cert)
		case "certificate required":
			why = fmt.Sprintf("the NATS server wants a client certificate signed by its CA, and this client has none (%s)", cert)
		default:
			why = fmt.Sprintf("the NATS server refused this client's certificate (%s): %s", cert, alert)
		}
	case errors.Is(err, nats.ErrTLS) && strings.Contains(err.Error(), "closed by remote after TLS handshake"):
		// Under TLS 1.3 the server checks the client's certificate after the client thinks
		// the handshake is done; its alert is often lost to a write on the closed connection.
		why = fmt.Sprintf("the NATS server closed the connection right after the TLS handshake: it did not accept this client's certificate (%s)", cert)
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		why = "the NATS cluster refused the credentials (" + o.credentialsName() + ")"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s: %v", events.ErrRefused, why, err)
}

// checkClientCert refuses a client certificate that is expired or not valid yet, before the
// server does so with an alert that TLS 1.3 often loses.
func checkClientCert(o ClusterOptions, now time.Time) error {
	if o.TLSCert == "" {
		return nil
	}
	b, err := os.ReadFile(o.TLSCert)
	if err != nil {
		return fmt.Errorf("nats cluster: TLS client certificate: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("nats cluster: TLS client certificate %s: no PEM certificate in it", o.TLSCert)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("nats cluster: TLS client certificate %s: %w", o.TLSCert, err)
	}
	switch {
	case now.After(cert.NotAfter):
		return fmt.Errorf("%w: the client certificate %s has expired (not after %s)", events.ErrRefused, o.TLSCert, cert.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(cert.NotBefore):
		return fmt.Errorf("%w: the client certificate %s is not valid yet (not before %s)", events.ErrRefused, o.TLSCert, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// credentialsName names the credentials in use, never their value.
func (o ClusterOptions) credentialsName() string {
	switch {
	case o.CredsFile != "":
		return "creds file " + o.CredsFile
	case o.Token != "":
		return "the token in $MCPCTL_NATS_TOKEN"
	case o.User != "":
		return "user " + o.User
	case o.TLSCert != "":
		return "client certificate " + o.TLSCert
	}
	return "none given"
}

var rePermission = regexp.MustCompile(`(?i)(publish|subscription) to "([^"]+)"`)

// Denied turns a permissions violation the server reported into an error that names the
// subject and what was refused, wrapping events.ErrDenied. It returns nil for other errors.
func Denied(err error) error {
	if err == nil || !errors.Is(err, nats.ErrPermissionViolation) {
		return nil
	}
	m := rePermission.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%w: %v", events.ErrDenied, err)
	}
	verb := "publish to"
	if strings.EqualFold(m[1], "subscription") {
		verb = "subscribe to"
	}
	return fmt.Errorf("%w: this client's NATS user may not %s %q (%v)", events.ErrDenied, verb, m[2], err)
}

// checkURL refuses a server URL that carries credentials (user:password@ or token@): they
// would end up in argv, hub.json and error messages. Only the scheme and host are named.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.LastIndex(s, "@"); i >= 0 {
			return fmt.Errorf("nats cluster: a server URL carries credentials (…@%s): use the creds options", s[i+1:])
		}
		return fmt.Errorf("nats cluster: server URL: %w", err)
	}
	if u.User != nil {
		return fmt.Errorf("nats cluster: the server URL %s://%s carries credentials: use the creds options (--nats-creds, $MCPCTL_NATS_TOKEN, $MCPCTL_NATS_USER/$MCPCTL_NATS_PASSWORD)", u.Scheme, u.Host)
	}
	return nil
}
