package oauth

import (
	"errors"
	"fmt"
)

// Sentinels a caller can branch on. Each says what went wrong in the protocol; the commands
// turn every one of them into exit code 4 (authentication error) with a hint.
var (
	ErrNoProfile         = errors.New("not logged in")
	ErrProfileFile       = errors.New("profile file refused")
	ErrMetadata          = errors.New("bad authorization metadata")
	ErrResourceMismatch  = errors.New("protected resource metadata names another resource")
	ErrIssuerMismatch    = errors.New("authorization server metadata names another issuer")
	ErrNoPKCE            = errors.New("authorization server does not offer PKCE with S256")
	ErrState             = errors.New("authorization response state does not match")
	ErrIss               = errors.New("authorization response iss does not match the issuer")
	ErrDenied            = errors.New("authorization refused")
	ErrCallbackTimeout   = errors.New("no authorization response arrived")
	ErrTokenResponse     = errors.New("bad token response")
	ErrRegistration      = errors.New("client registration failed")
	ErrInvalidGrant      = errors.New("refresh token refused (invalid_grant)")
	ErrInsecureURL       = errors.New("refusing a plain http URL that is not loopback")
	ErrNoClient          = errors.New("no way to identify the client")
	ErrUnsupportedMethod = errors.New("token endpoint auth method not supported")
)

// Error is an authorization failure at one step (Op: "discover", "register", "authorize",
// "token", "refresh", "store"), for one server.
type Error struct {
	Op     string
	Server string
	Err    error
}

func (e *Error) Error() string {
	if e.Server == "" {
		return fmt.Sprintf("oauth %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("oauth %s for %s: %v", e.Op, e.Server, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// IsAuthError reports whether err is a refusal of the authorization protocol (one of the
// sentinels above) rather than, say, a server that could not be reached.
func IsAuthError(err error) bool {
	for _, s := range []error{ErrNoProfile, ErrProfileFile, ErrMetadata, ErrResourceMismatch, ErrIssuerMismatch, ErrNoPKCE,
		ErrState, ErrIss, ErrDenied, ErrCallbackTimeout, ErrTokenResponse, ErrRegistration, ErrInvalidGrant,
		ErrInsecureURL, ErrNoClient, ErrUnsupportedMethod} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
