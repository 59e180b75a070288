package oauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// DPoP (RFC 9449): where the authorization server offers it (dpop_signing_alg_values_supported
// with ES256), login makes a P-256 key for the profile, proves possession of it at the token
// endpoint, and gets a token bound to it; every request that carries the token then carries
// a fresh proof (its own jti, the method, the URL without query, the token's hash, and the
// server's nonce when it asked for one).

// newDPoPKey makes a profile's proof key, as PKCS#8 PEM (kept in the 0600 profile file).
func newDPoPKey() (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

func parseECKey(keyPEM string) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(keyPEM))
	if blk == nil {
		return nil, errors.New("private key: not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		if ek, err2 := x509.ParseECPrivateKey(blk.Bytes); err2 == nil {
			return ek, nil
		}
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errors.New("private key: only EC P-256 (ES256) keys are supported")
	}
	return ek, nil
}

// signES256 signs a JWT with header and claims.
func signES256(k *ecdsa.PrivateKey, header, claims map[string]any) (string, error) {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig), nil
}

// dpopProof is a DPoP proof JWT for one request.
func dpopProof(k *ecdsa.PrivateKey, method, target, accessToken, nonce string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	enc := base64.RawURLEncoding
	pub := k.PublicKey
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	header := map[string]any{"typ": "dpop+jwt", "alg": "ES256",
		"jwk": map[string]string{"kty": "EC", "crv": "P-256", "x": enc.EncodeToString(x), "y": enc.EncodeToString(y)}}
	claims := map[string]any{"jti": randomString(), "htm": method, "htu": u.String(), "iat": time.Now().Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = enc.EncodeToString(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return signES256(k, header, claims)
}

// dpopTokenTransport adds a proof to the token endpoint requests of a DPoP profile, and
// sends a request again with the nonce the authorization server asks for (use_dpop_nonce).
type dpopTokenTransport struct {
	base  http.RoundTripper
	key   *ecdsa.PrivateKey
	mu    sync.Mutex
	nonce string
}

func (t *dpopTokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	send := func() (*http.Response, error) {
		t.mu.Lock()
		nonce := t.nonce
		t.mu.Unlock()
		proof, err := dpopProof(t.key, req.Method, req.URL.String(), "", nonce)
		if err != nil {
			return nil, err
		}
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("DPoP", proof)
		return t.base.RoundTrip(r)
	}
	resp, err := send()
	if err != nil || resp.StatusCode != http.StatusBadRequest || resp.Header.Get("DPoP-Nonce") == "" {
		return resp, err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error != "use_dpop_nonce" {
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return resp, nil
	}
	t.mu.Lock()
	t.nonce = resp.Header.Get("DPoP-Nonce")
	t.mu.Unlock()
	return send()
}

// withDPoP returns hc with token requests proved by key; hc itself when key is "".
func withDPoP(hc *http.Client, keyPEM string) (*http.Client, error) {
	if keyPEM == "" {
		return hc, nil
	}
	k, err := parseECKey(keyPEM)
	if err != nil {
		return nil, err
	}
	c := *hc
	c.Transport = &dpopTokenTransport{base: transportOf(hc), key: k}
	return &c, nil
}
