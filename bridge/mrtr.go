package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// Multi round-trip requests (2026-07-28, SEP-2322). A server that needs something from the
// client mid-request answers with resultType "input_required": inputRequests (elicitation,
// sampling, roots requests under keys the server chose) and/or an opaque requestState. The
// client answers what was asked and sends the original request again, under a new JSON-RPC
// id, with inputResponses (the answers under the same keys) and the requestState echoed
// verbatim, and only if the server sent one. The bridge does this inside Call, so a caller
// on the socket sees only the final result, as with any other request.

// InputRequest is one request of an input_required round, as the server sent it.
type InputRequest struct {
	// Key is the server's name for the request in inputRequests; the answer goes back
	// under it.
	Key string
	// Method is elicitation/create, sampling/createMessage or roots/list.
	Method string
	// Params are the request's params, verbatim (nil when it has none).
	Params json.RawMessage
}

// AnswerInputFunc answers one input request of an input_required round: the result to send
// back (an elicitation, sampling or roots result), verbatim. ctx is the context of the
// Call that caused the round, so an implementation can route the ask to whoever made the
// call. It returns ErrNoAnswer when it has no answer to give, which makes the bridge
// answer by its default (see answerInputs); any other error fails the call with it.
type AnswerInputFunc func(ctx context.Context, req InputRequest) (json.RawMessage, error)

// ErrNoAnswer is what an AnswerInputFunc returns for an input request it does not answer.
var ErrNoAnswer = errors.New("no answer for this input request")

const (
	// maxInputRounds bounds the retries of one request that the server keeps answering
	// with input_required (mcp-go's client allows 10).
	maxInputRounds = 10
	// maxRequestState bounds the requestState the bridge keeps and echoes.
	maxRequestState = 1 << 20
)

// declined is the elicitation result the bridge gives when nobody answers: the user
// declined (ElicitResult with action "decline"), which every server must handle.
var declined = json.RawMessage(`{"action":"decline"}`)

// complete handles a 2026-07-28 result's resultType. "complete" (or none) is the answer.
// input_required is answered (answerInputs) and the request sent again, built from the
// caller's params each round, so that nothing of one round leaks into the next or into
// another request, up to maxInputRounds times. Any other resultType is refused rather
// than passed off as an answer.
func (u *rawUpstream) complete(ctx context.Context, method string, params, result json.RawMessage) (json.RawMessage, error) {
	for round := 0; ; round++ {
		var r struct {
			ResultType    mcp.ResultType             `json:"resultType"`
			InputRequests map[string]json.RawMessage `json:"inputRequests"`
			RequestState  json.RawMessage            `json:"requestState"`
		}
		if err := json.Unmarshal(result, &r); err != nil || r.ResultType.IsComplete() || r.ResultType == resultTypeTask {
			// A task handle (the Tasks extension) is the answer too: the client follows it.
			return result, nil
		}
		if r.ResultType != mcp.ResultTypeInputRequired {
			return nil, &rpc.RPCError{Code: mcp.INTERNAL_ERROR,
				Message: fmt.Sprintf("%s: the server answered with resultType %q, which the bridge does not know", method, r.ResultType)}
		}
		hasState := len(r.RequestState) > 0 && string(r.RequestState) != "null"
		if hasState {
			var s string
			if err := json.Unmarshal(r.RequestState, &s); err != nil {
				return nil, &rpc.RPCError{Code: mcp.INTERNAL_ERROR,
					Message: method + ": the server's requestState is not a string"}
			}
			if len(s) > maxRequestState {
				return nil, &rpc.RPCError{Code: mcp.INTERNAL_ERROR,
					Message: fmt.Sprintf("%s: the server's requestState is %d bytes, over the bridge's limit of %d", method, len(s), maxRequestState)}
			}
		}
		if len(r.InputRequests) == 0 && !hasState {
			return nil, &rpc.RPCError{Code: mcp.INTERNAL_ERROR,
				Message: method + ": the server answered input_required with neither inputRequests nor requestState"}
		}
		if round >= maxInputRounds {
			return nil, &rpc.RPCError{Code: mcp.INTERNAL_ERROR,
				Message: fmt.Sprintf("%s: still input_required after %d rounds", method, maxInputRounds)}
		}
		responses, err := u.answerInputs(ctx, method, r.InputRequests)
		if err != nil {
			return nil, err
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(params, &fields); err != nil || fields == nil {
			fields = map[string]json.RawMessage{}
		}
		delete(fields, "inputResponses")
		delete(fields, "requestState")
		if responses != nil {
			fields["inputResponses"] = responses
		}
		if hasState {
			fields["requestState"] = r.RequestState // verbatim: clients must not touch it
		}
		retry, err := json.Marshal(fields)
		if err != nil {
			return nil, err
		}
		if result, err = u.send(ctx, method, retry); err != nil {
			return nil, err
		}
	}
}

// answerInputs answers the input requests of one round, one at a time in key order (a
// person may have to answer them), and returns the inputResponses object (nil when
// nothing was asked: load shedding). Each request goes to the AnswerInputFunc when one is
// set; what it does not answer gets the bridge's default: an elicitation is declined (a
// valid answer the server must handle, so the call goes on); sampling and roots have no
// "declined" result, so the call fails with an error that says what the server asked for.
func (u *rawUpstream) answerInputs(ctx context.Context, method string, requests map[string]json.RawMessage) (json.RawMessage, error) {
	if len(requests) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(requests))
	for k := range requests {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]json.RawMessage, len(requests))
	for _, key := range keys {
		var req struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(requests[key], &req); err != nil || req.Method == "" {
			return nil, &rpc.RPCError{Code: mcp.INTERNAL_ERROR,
				Message: fmt.Sprintf("%s: the server asked for input %q that is not a request", method, key)}
		}
		res, err := json.RawMessage(nil), ErrNoAnswer
		if u.answer != nil {
			res, err = u.answer(ctx, InputRequest{Key: key, Method: req.Method, Params: req.Params})
		}
		if errors.Is(err, ErrNoAnswer) {
			// Nobody closer to the call answers: the session's policy does, as it answers a
			// 2025-11-25 server request (asks.go).
			var rerr *rpc.RPCError
			if res, rerr = u.answerAsk(ctx, req.Method, req.Params); rerr != nil {
				return nil, &rpc.RPCError{Code: rerr.Code, Data: rerr.Data,
					Message: fmt.Sprintf("%s: the server asked for input (%s) this session does not give: %s", method, req.Method, rerr.Message)}
			}
			err = nil
		}
		switch {
		case err == nil:
			if !json.Valid(res) {
				return nil, &rpc.RPCError{Code: mcp.INTERNAL_ERROR,
					Message: fmt.Sprintf("%s: the answer to the server's %s is not JSON", method, req.Method)}
			}
			out[key] = res
		case !errors.Is(err, ErrNoAnswer):
			return nil, err
		case req.Method == string(mcp.MethodElicitationCreate):
			u.logger.InfoContext(ctx, "input request declined: nobody to answer it", "request", method, "input", key, "method", req.Method)
			out[key] = declined
		default:
			return nil, &rpc.RPCError{Code: mcp.INTERNAL_ERROR,
				Message: fmt.Sprintf("%s: the server asked for input (%s) that the bridge did not declare it can give", method, req.Method)}
		}
	}
	return json.Marshal(out)
}
