package oauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// clientAssertion signs a private_key_jwt client assertion (RFC 7523 §2.2) with an EC
// P-256 key (ES256): iss and sub are the client, aud the authorization server's issuer,
// valid for a minute, with a random jti so that it cannot be replayed.
func clientAssertion(keyPEM, clientID, audience string) (string, error) {
	blk, _ := pem.Decode([]byte(keyPEM))
	if blk == nil {
		return "", errors.New("private key: not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		if ek, err2 := x509.ParseECPrivateKey(blk.Bytes); err2 == nil {
			k = ek
		} else {
			return "", fmt.Errorf("private key: %w", err)
		}
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return "", errors.New("private key: only EC P-256 (ES256) keys are supported")
	}
	now := time.Now()
	return signES256(ek, map[string]any{"alg": "ES256", "typ": "JWT"}, map[string]any{"iss": clientID, "sub": clientID,
		"aud": audience, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": randomString()})
}
