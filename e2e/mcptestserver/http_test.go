package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

func startHTTPClient(t *testing.T, url string, headers map[string]string) (*client.Client, *notifications) {
	t.Helper()
	c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(headers))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, initialize(t, c)
}

func TestHTTP_ToolsHeadersAndNotifications(t *testing.T) {
	srv := startHTTP(t, "--http", "127.0.0.1:0", "--name", "httpsrv")
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") || !strings.HasSuffix(srv.URL, "/mcp") {
		t.Fatalf("url = %q, want http://127.0.0.1:PORT/mcp", srv.URL)
	}
	c, got := startHTTPClient(t, srv.URL, map[string]string{
		"Authorization": "Bearer tok",
		"X-Secret-Key":  "k3y",
		"X-Plain":       "visible",
	})

	t.Run("echo", func(t *testing.T) {
		if text := resultText(callTool(t, c, "echo", map[string]any{"text": "over http"})); text != "over http" {
			t.Errorf("echo = %q", text)
		}
	})
	t.Run("whoami hashes secret headers", func(t *testing.T) {
		var who whoamiResult
		if err := json.Unmarshal([]byte(resultText(callTool(t, c, "whoami", nil))), &who); err != nil {
			t.Fatal(err)
		}
		if who.Transport != "http" {
			t.Errorf("transport = %q, want http", who.Transport)
		}
		for name, want := range map[string]string{
			"Authorization": sha256Hex("Bearer tok"),
			"X-Secret-Key":  sha256Hex("k3y"),
			"X-Plain":       "visible",
		} {
			if who.Headers[name] != want {
				t.Errorf("header %s = %q, want %q", name, who.Headers[name], want)
			}
		}
	})
	t.Run("notify over the POST stream", func(t *testing.T) {
		sub := mcp.SubscribeRequest{}
		sub.Params.URI = counterURI
		if err := c.Subscribe(testCtx(t), sub); err != nil {
			t.Fatal(err)
		}
		callTool(t, c, "notify", map[string]any{"n": 2})
		got.waitCount(t, string(mcp.MethodNotificationMessage), 2)
		got.waitCount(t, string(mcp.MethodNotificationResourceUpdated), 2)
		got.waitCount(t, string(mcp.MethodNotificationToolsListChanged), 2)
	})
	t.Run("setLevel error silences info", func(t *testing.T) {
		req := mcp.SetLevelRequest{}
		req.Params.Level = mcp.LoggingLevelError
		if err := c.SetLevel(testCtx(t), req); err != nil {
			t.Fatal(err)
		}
		before := len(got.byMethod(string(mcp.MethodNotificationMessage)))
		callTool(t, c, "notify", map[string]any{"n": 1})
		got.waitCount(t, string(mcp.MethodNotificationToolsListChanged), 3)
		if after := len(got.byMethod(string(mcp.MethodNotificationMessage))); after != before {
			t.Errorf("info messages after setLevel error: %d new, want 0", after-before)
		}
	})
}

// rawSession speaks Streamable HTTP by hand so tests see status codes.
type rawSession struct {
	t   *testing.T
	url string
	sid string
	hdr map[string]string
}

// post sends one JSON-RPC message and returns the status and body.
func (s *rawSession) post(msg string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url, bytes.NewBufferString(msg))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.sid != "" {
		req.Header.Set("Mcp-Session-Id", s.sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	for k, v := range s.hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
		s.sid = sid
	}
	return resp.StatusCode, string(body)
}

const (
	rawInitialize  = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
	rawInitialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	rawListTools   = `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`
)

func TestHTTP_ExpireAfter(t *testing.T) {
	for _, tc := range []struct {
		mode       string
		wantStatus int
		wantCode   float64
		wantMsg    string
	}{
		{"404", http.StatusNotFound, codeSessionNotFound, "Session not found"},
		{"400", http.StatusBadRequest, codeBadRequest, "unknown session id"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			srv := startHTTP(t, "--http", "127.0.0.1:0", "--expire-after", "3", "--expire-mode", tc.mode)
			s := &rawSession{t: t, url: srv.URL}
			// initialize, initialized and one call are the session's 3 requests.
			for i, msg := range []string{rawInitialize, rawInitialized, rawListTools} {
				if status, body := s.post(msg); status/100 != 2 {
					t.Fatalf("request %d: status %d (%s), want 2xx", i+1, status, body)
				}
			}
			first := s.sid
			status, body := s.post(rawListTools)
			if status != tc.wantStatus {
				t.Fatalf("4th request: status %d (%s), want %d", status, body, tc.wantStatus)
			}
			var rpc struct {
				ID    any `json:"id"`
				Error struct {
					Code    float64 `json:"code"`
					Message string  `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &rpc); err != nil {
				t.Fatalf("4th request body %q: %v", body, err)
			}
			if rpc.Error.Code != tc.wantCode || !strings.Contains(rpc.Error.Message, tc.wantMsg) || rpc.ID != float64(7) {
				t.Errorf("4th request error = %+v, want id 7 code %v message containing %q", rpc, tc.wantCode, tc.wantMsg)
			}
			// GETs on the forgotten session are refused too.
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Header.Set("Mcp-Session-Id", first)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("GET on forgotten session: status %d, want %d", resp.StatusCode, tc.wantStatus)
			}

			// A new session starts with a fresh allowance.
			s2 := &rawSession{t: t, url: srv.URL}
			for i, msg := range []string{rawInitialize, rawInitialized, rawListTools} {
				if status, body := s2.post(msg); status/100 != 2 {
					t.Fatalf("new session request %d: status %d (%s)", i+1, status, body)
				}
			}
			if s2.sid == first {
				t.Errorf("new session reused id %q", first)
			}
		})
	}
}

func TestHTTP_ExpiredSessionSurfacesInClient(t *testing.T) {
	srv := startHTTP(t, "--http", "127.0.0.1:0", "--expire-after", "3")
	c, _ := startHTTPClient(t, srv.URL, nil)
	callTool(t, c, "echo", map[string]any{"text": "3rd request"})
	_, err := callToolErr(testCtx(t), c, "echo", map[string]any{"text": "4th request"})
	if !errors.Is(err, transport.ErrSessionTerminated) {
		t.Errorf("call on expired session: %v, want ErrSessionTerminated", err)
	}
}

func TestHTTP_RequireHeader(t *testing.T) {
	srv := startHTTP(t, "--http", "127.0.0.1:0", "--require-header", "X-Api-Key=open sesame")
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"missing", nil, http.StatusUnauthorized},
		{"wrong", map[string]string{"X-Api-Key": "nope"}, http.StatusUnauthorized},
		{"right", map[string]string{"X-Api-Key": "open sesame"}, http.StatusOK},
	} {
		s := &rawSession{t: t, url: srv.URL, hdr: tc.hdr}
		if status, body := s.post(rawInitialize); status != tc.want {
			t.Errorf("%s header: status %d (%s), want %d", tc.name, status, body, tc.want)
		}
	}

	c, err := client.NewStreamableHttpClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	var authErr *transport.AuthorizationRequiredError
	if _, err := c.Initialize(testCtx(t), req); !errors.As(err, &authErr) {
		t.Errorf("client without header: %v, want AuthorizationRequiredError", err)
	}
}

func TestSSE_Echo(t *testing.T) {
	srv := startHTTP(t, "--sse", "127.0.0.1:0")
	if !strings.HasSuffix(srv.URL, "/sse") {
		t.Fatalf("url = %q, want .../sse", srv.URL)
	}
	c, err := client.NewSSEMCPClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	got := initialize(t, c)
	if text := resultText(callTool(t, c, "echo", map[string]any{"text": "over sse"})); text != "over sse" {
		t.Errorf("echo = %q", text)
	}
	callTool(t, c, "notify", map[string]any{"n": 1})
	got.waitCount(t, string(mcp.MethodNotificationToolsListChanged), 1)
}
