package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func decodeJWT(t *testing.T, jwt string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	for i, into := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, into) != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
	}
	return header, claims
}

func TestDPoPProof(t *testing.T) {
	keyPEM, err := newDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := parseECKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := dpopProof(k, "POST", "https://mcp.example.com/mcp?x=secret#f", "tok", "n1")
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := dpopProof(k, "POST", "https://mcp.example.com/mcp", "tok", "")
	h, c := decodeJWT(t, p1)
	jwk, _ := h["jwk"].(map[string]any)
	if h["typ"] != "dpop+jwt" || h["alg"] != "ES256" || jwk["kty"] != "EC" || jwk["crv"] != "P-256" || jwk["d"] != nil {
		t.Errorf("proof header = %v", h)
	}
	sum := sha256.Sum256([]byte("tok"))
	if c["htm"] != "POST" || c["htu"] != "https://mcp.example.com/mcp" || c["nonce"] != "n1" ||
		c["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) || c["iat"] == nil {
		t.Errorf("proof claims = %v (htu must have no query or fragment)", c)
	}
	_, c2 := decodeJWT(t, p2)
	if c["jti"] == c2["jti"] || c2["nonce"] != nil {
		t.Errorf("two proofs share a jti, or a nonce nobody asked for: %v %v", c, c2)
	}
	if !verifyES256(p1, &k.PublicKey) {
		t.Errorf("proof signature does not verify")
	}
}

// TestDPoPTokenTransport_Nonce: a token endpoint that wants a nonce answers
// use_dpop_nonce once; the request is sent again, with its body, proving the nonce.
func TestDPoPTokenTransport_Nonce(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_ = r.ParseForm()
		_, c := decodeJWT(t, r.Header.Get("DPoP"))
		if c["nonce"] != "server-nonce" {
			w.Header().Set("DPoP-Nonce", "server-nonce")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"use_dpop_nonce"}`)
			return
		}
		if r.PostForm.Get("grant_type") != "refresh_token" {
			t.Errorf("the request sent again lost its body: %v", r.PostForm)
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	keyPEM, _ := newDPoPKey()
	hc, err := withDPoP(srv.Client(), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Post(srv.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=refresh_token"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token request: %v %v", err, resp)
	}
	resp.Body.Close()
	if calls.Load() != 2 {
		t.Errorf("token endpoint saw %d requests, want 2 (one challenged, one with the nonce)", calls.Load())
	}
}
