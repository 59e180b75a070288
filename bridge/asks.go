package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpctl/mcpctl/bridge/elicit"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
)

// AskPolicy is how the bridge answers the requests its server sends to the client
// (elicitation, roots, sampling) when no client of the socket answers them: the session's
// policy, set at connect. The zero value declines every elicitation, and declares neither
// roots nor sampling.
type AskPolicy struct {
	// Elicit answers elicitation/create: decline ("" too), cancel, defaults (accept with
	// the requested schema's defaults; decline when a required field has none) or content
	// (accept with ElicitContent).
	Elicit        events.ElicitPolicy
	ElicitContent json.RawMessage
	// Roots are absolute directories: roots/list answers with them as file:// URIs. With
	// none, roots is not declared.
	Roots []string
	// SamplingCommand is run with /bin/sh -c for each sampling/createMessage: the request's
	// params as JSON on stdin, the result as JSON on stdout. Empty: sampling is not declared.
	SamplingCommand string
	// SamplingTimeout bounds one run of SamplingCommand (default DefaultSamplingTimeout).
	SamplingTimeout time.Duration
	// SamplingEnv is the command's environment (nil: the bridge's, without MCPCTL_*).
	SamplingEnv []string
	// Stderr receives the sampling command's stderr (the session log). Nil discards it.
	Stderr io.Writer
	// OnAsk, when set, sees each ask and its outcome, never the values. It runs on the
	// answer's path: it must not block.
	OnAsk func(AskRecord)
}

// DefaultSamplingTimeout bounds a sampling command.
const DefaultSamplingTimeout = 60 * time.Second

// maxSamplingOutput bounds what a sampling command may print.
const maxSamplingOutput = 8 << 20

// AskRecord is one server ask and what became of it, for the event log: no values.
type AskRecord struct {
	Method string
	// Action is accept, decline or cancel for an elicitation, answered for roots and
	// sampling, error when the ask got a JSON-RPC error.
	Action   string
	Duration time.Duration
	// Error says why the ask failed, was refused or was declined by policy.
	Error string
	// By is AskByCaller when the client whose call caused the ask answered it, ""
	// when the session's policy did.
	By string
}

// AskByCaller is AskRecord.By for an ask the calling client answered.
const AskByCaller = "caller"

// checkAsk refuses, before any client sees it, an ask nobody can answer meaningfully: an
// elicitation with an unknown mode, a schema that is not the flat form the spec allows, a
// URL that is not https or carries credentials.
func checkAsk(method string, params json.RawMessage) *rpc.RPCError {
	if mcp.MCPMethod(method) != mcp.MethodElicitationCreate {
		return nil
	}
	// The decline policy answers nothing a client sees; only its refusals matter here.
	_, _, rerr := AskPolicy{}.elicit(params)
	return rerr
}

// askAction is the action of a client's answer to an ask: the elicitation's action, or
// answered.
func askAction(method string, result json.RawMessage) string {
	if mcp.MCPMethod(method) != mcp.MethodElicitationCreate {
		return AskAnswered
	}
	var r struct {
		Action string `json:"action"`
	}
	if json.Unmarshal(result, &r) != nil || r.Action == "" {
		return AskAnswered
	}
	return r.Action
}

// The actions of an AskRecord besides the elicitation actions.
const (
	AskAnswered = "answered"
	AskError    = "error"
)

// errAskDeclined is the code of a JSON-RPC error that declines an ask the session is not
// configured for (the spec's own example of a rejected sampling request uses -1).
const errAskDeclined = -1

// capabilities are the client capabilities the policy declares: elicitation (form and URL)
// always, since every elicitation is answered by policy; roots (with listChanged) when
// roots are given; sampling when a command is.
func (p AskPolicy) capabilities() mcp.ClientCapabilities {
	c := mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapability{Form: &struct{}{}, URL: &struct{}{}}}
	if len(p.Roots) > 0 {
		c.Roots = &struct {
			ListChanged bool `json:"listChanged,omitempty"`
		}{ListChanged: true}
	}
	if p.SamplingCommand != "" {
		c.Sampling = &mcp.SamplingCapability{}
	}
	return c
}

// SetAsks sets up's policy for server asks. Call it before Initialize: the client
// capabilities declared there (and in every 2026-07-28 request's _meta) come from it. An
// Upstream that is not the bridge's own is left alone.
func SetAsks(up Upstream, p AskPolicy) {
	if u, ok := up.(*rawUpstream); ok {
		u.asks.Store(&p)
	}
}

// askPolicy is the upstream's policy (the zero policy until SetAsks).
func (u *rawUpstream) askPolicy() AskPolicy {
	if p := u.asks.Load(); p != nil {
		return *p
	}
	return AskPolicy{}
}

// clientCapabilities is what the bridge declares, at initialize and in the _meta of
// every 2026-07-28 request: one function for both.
func (u *rawUpstream) clientCapabilities() mcp.ClientCapabilities {
	return u.askPolicy().capabilities()
}

// isAsk reports whether method is one of the asks the policy answers.
func isAsk(method string) bool {
	switch mcp.MCPMethod(method) {
	case mcp.MethodElicitationCreate, mcp.MethodListRoots, mcp.MethodSamplingCreateMessage:
		return true
	}
	return false
}

// answerServerRequest answers a server request that is an ask (ok false otherwise). The
// answer does not depend on the transport's deadline for handlers (30 s over HTTP): a
// sampling command has its own, and all of it ends when the upstream does.
func (u *rawUpstream) answerServerRequest(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, bool) {
	if !isAsk(req.Method) {
		return nil, false
	}
	id, _ := json.Marshal(req.ID)
	params, ok := u.raw.take(id, req.Params) // as the server wrote them: a form keeps its order
	if !ok {
		var err error
		if params, err = json.Marshal(req.Params); err != nil {
			return transport.NewJSONRPCErrorResponse(req.ID, mcp.INVALID_PARAMS, req.Method+": undecodable params", nil), true
		}
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-u.done:
			cancel()
		case <-actx.Done():
		}
	}()
	result, rerr := u.answerAsk(actx, req.Method, params)
	if rerr != nil {
		return transport.NewJSONRPCErrorResponse(req.ID, rerr.Code, rerr.Message, nil), true
	}
	return &transport.JSONRPCResponse{JSONRPC: mcp.JSONRPC_VERSION, ID: req.ID, Result: result}, true
}

// answerAsk answers one ask by the session's policy: a 2025-11-25 server request, or one
// of the inputRequests of a 2026-07-28 input_required result (the answer is then its
// inputResponses entry). It records the outcome with OnAsk.
func (u *rawUpstream) answerAsk(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, *rpc.RPCError) {
	p := u.askPolicy()
	start := time.Now()
	var (
		result json.RawMessage
		rec    AskRecord
		rerr   *rpc.RPCError
	)
	answered := false
	if a := u.routeAsk(ctx, method, params); a != nil {
		// The client whose call caused the ask answers it, once the bridge has checked
		// that it is an ask a person may be shown (the same checks as the policy's).
		if rerr = checkAsk(method, params); rerr == nil {
			res, err := a.ask(ctx, method, params)
			var cerr *rpc.RPCError
			switch {
			case err == nil:
				result, rec, answered = res, AskRecord{Action: askAction(method, res), By: AskByCaller}, true
			case errors.As(err, &cerr):
				rerr, rec, answered = cerr, AskRecord{By: AskByCaller}, true
			default:
				u.logger.Info("the caller did not answer the server's ask; the session's policy does", "method", method, "err", err)
			}
		}
		answered = answered || rerr != nil
	}
	if !answered {
		switch mcp.MCPMethod(method) {
		case mcp.MethodElicitationCreate:
			result, rec, rerr = p.elicit(params)
		case mcp.MethodListRoots:
			result, rec, rerr = p.roots()
		case mcp.MethodSamplingCreateMessage:
			result, rec, rerr = p.sample(ctx, params)
		default:
			rerr = &rpc.RPCError{Code: mcp.METHOD_NOT_FOUND, Message: "the bridge does not handle " + method}
		}
	}
	rec.Method, rec.Duration = method, time.Since(start)
	if rerr != nil {
		rec.Action = AskError
		if rec.Error == "" {
			rec.Error = rerr.Message
		}
	}
	u.logger.Info("server asked", "method", method, "action", rec.Action, "by", rec.By, "took", rec.Duration.Round(time.Millisecond), "why", rec.Error)
	if p.OnAsk != nil {
		p.OnAsk(rec)
	}
	return result, rerr
}

func invalidAsk(method, format string, args ...any) *rpc.RPCError {
	return &rpc.RPCError{Code: mcp.INVALID_PARAMS, Message: method + ": " + fmt.Sprintf(format, args...)}
}

// elicit answers elicitation/create. A request the bridge cannot answer meaningfully (a
// schema that is not the flat object of primitives the spec allows, an unknown mode, a URL
// that is not https or carries credentials) is refused with -32602, whatever the policy.
func (p AskPolicy) elicit(params json.RawMessage) (json.RawMessage, AskRecord, *rpc.RPCError) {
	const method = string(mcp.MethodElicitationCreate)
	var req struct {
		Mode            string          `json:"mode"`
		RequestedSchema json.RawMessage `json:"requestedSchema"`
		URL             *string         `json:"url"`
		ElicitationID   string          `json:"elicitationId"`
	}
	if err := json.Unmarshal(params, &req); err != nil {
		return nil, AskRecord{}, invalidAsk(method, "params are not an object")
	}
	answer := func(action mcp.ElicitationResponseAction, content json.RawMessage, why string) (json.RawMessage, AskRecord, *rpc.RPCError) {
		r := map[string]json.RawMessage{"action": json.RawMessage(`"` + action + `"`)}
		if content != nil {
			r["content"] = content
		}
		b, _ := json.Marshal(r)
		return b, AskRecord{Action: string(action), Error: why}, nil
	}
	switch req.Mode {
	case mcp.ElicitationModeURL:
		if req.URL == nil || req.ElicitationID == "" {
			return nil, AskRecord{}, invalidAsk(method, "URL mode needs url and elicitationId")
		}
		if err := elicit.CheckURL(*req.URL); err != nil {
			return nil, AskRecord{}, invalidAsk(method, "URL refused: %v", err)
		}
		// Nobody can visit the URL for the session: a policy accepts forms, not URLs.
		if p.Elicit == events.ElicitCancel {
			return answer(mcp.ElicitationResponseActionCancel, nil, "")
		}
		return answer(mcp.ElicitationResponseActionDecline, nil, "URL mode is answered by policy: nobody to visit the URL")
	case "", mcp.ElicitationModeForm:
	default:
		return nil, AskRecord{}, invalidAsk(method, "unknown mode %q", req.Mode)
	}
	form, err := elicit.ParseForm(req.RequestedSchema)
	if err != nil {
		return nil, AskRecord{}, invalidAsk(method, "requestedSchema: %v", err)
	}
	switch p.Elicit {
	case events.ElicitCancel:
		return answer(mcp.ElicitationResponseActionCancel, nil, "")
	case events.ElicitDefaults:
		content, missing := form.Defaults()
		if missing != "" {
			return answer(mcp.ElicitationResponseActionDecline, nil, fmt.Sprintf("required field %q has no default", missing))
		}
		return answer(mcp.ElicitationResponseActionAccept, content, "")
	case events.ElicitContent:
		if len(p.ElicitContent) == 0 {
			return answer(mcp.ElicitationResponseActionDecline, nil, "no content to accept with")
		}
		return answer(mcp.ElicitationResponseActionAccept, p.ElicitContent, "")
	}
	return answer(mcp.ElicitationResponseActionDecline, nil, "")
}

// roots answers roots/list with the session's directories as file:// URIs.
func (p AskPolicy) roots() (json.RawMessage, AskRecord, *rpc.RPCError) {
	if len(p.Roots) == 0 {
		return nil, AskRecord{Action: string(mcp.ElicitationResponseActionDecline)},
			&rpc.RPCError{Code: errAskDeclined, Message: "roots/list declined: the session declares no roots (connect --root DIR)"}
	}
	type root struct {
		URI  string `json:"uri"`
		Name string `json:"name"`
	}
	roots := make([]root, 0, len(p.Roots))
	for _, dir := range p.Roots {
		u := url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}
		roots = append(roots, root{URI: u.String(), Name: filepath.Base(dir)})
	}
	b, _ := json.Marshal(map[string]any{"roots": roots})
	return b, AskRecord{Action: AskAnswered}, nil
}

// sample answers sampling/createMessage by running the session's sampling command.
func (p AskPolicy) sample(ctx context.Context, params json.RawMessage) (json.RawMessage, AskRecord, *rpc.RPCError) {
	const method = string(mcp.MethodSamplingCreateMessage)
	fail := func(format string, args ...any) (json.RawMessage, AskRecord, *rpc.RPCError) {
		return nil, AskRecord{}, &rpc.RPCError{Code: mcp.INTERNAL_ERROR, Message: method + ": " + fmt.Sprintf(format, args...)}
	}
	if p.SamplingCommand == "" {
		return nil, AskRecord{Action: string(mcp.ElicitationResponseActionDecline)},
			&rpc.RPCError{Code: errAskDeclined, Message: "sampling declined: the session has no sampling command (connect --sampling-command CMD)"}
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(params, &obj) != nil || obj == nil {
		return nil, AskRecord{}, invalidAsk(method, "params are not an object")
	}
	timeout := p.SamplingTimeout
	if timeout <= 0 {
		timeout = DefaultSamplingTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", p.SamplingCommand)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// the command's whole process group: a shell's children too
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 2 * time.Second
	cmd.Env = p.SamplingEnv
	if cmd.Env == nil {
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "MCPCTL_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
	}
	cmd.Stdin = bytes.NewReader(params)
	out := &limitedBuffer{max: maxSamplingOutput}
	cmd.Stdout = out
	if p.Stderr != nil {
		cmd.Stderr = p.Stderr
	}
	err := cmd.Run()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return fail("the sampling command timed out after %s", timeout)
	case ctx.Err() != nil:
		return fail("the sampling command was stopped: the connection ended")
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fail("the sampling command failed: %s", ee.ProcessState)
		}
		return fail("the sampling command could not run: %v", err)
	case out.over:
		return fail("the sampling command printed more than %d bytes", maxSamplingOutput)
	}
	var result map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &result); err != nil || result == nil {
		return fail("the sampling command did not print a JSON object (%d bytes)", out.Len())
	}
	if _, ok := result["content"]; !ok {
		return fail("the sampling command's result has no content")
	}
	b, _ := json.Marshal(result)
	return b, AskRecord{Action: AskAnswered}, nil
}

// limitedBuffer keeps up to max bytes and notes that there were more.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.over = true
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
