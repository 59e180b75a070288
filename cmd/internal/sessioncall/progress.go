package sessioncall

import (
	"encoding/json"
	"sync"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
)

// ProgressSink receives the progress notifications of one call, in the order the server
// sent them (cmdkit.Progress.Report is one). It runs on the goroutine that reads them:
// keep it quick.
type ProgressSink func(cmdkit.ProgressNote)

// progressToken is the token a call of this process sends in params._meta. One connection
// carries one call at a time, and the bridge rewrites tokens per request (so clients never
// collide upstream) and gives it back as it was sent.
const progressToken = "mcpctl-progress"

// WithProgressToken asks the server for progress notifications on this request: params
// with _meta.progressToken set (any token already there is replaced).
func WithProgressToken(params json.RawMessage) (json.RawMessage, error) {
	return withMeta(params, "progressToken", json.RawMessage(`"`+progressToken+`"`))
}

// ProgressReader hands the progress notifications of a connection to a sink until Stop.
type ProgressReader struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

// ReadProgress starts handing c's progress notifications for the token WithProgressToken
// sets to sink, for a caller that makes its own requests on c (CallSessionWith does this
// for one call). Nothing else arrives on a one-shot connection (server notifications go to
// connections that sent initialize), and whatever else does is dropped.
func ReadProgress(c *rpc.Client, sink ProgressSink) *ProgressReader {
	r := &ProgressReader{stop: make(chan struct{})}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			select {
			case m, ok := <-c.Notifications():
				if !ok {
					return
				}
				deliverProgress(m, sink)
			case <-r.stop:
				// What arrived before the answer is shown too: the bridge forwards a
				// call's progress ahead of its result on the same connection.
				for {
					select {
					case m, ok := <-c.Notifications():
						if !ok {
							return
						}
						deliverProgress(m, sink)
					default:
						return
					}
				}
			}
		}
	}()
	return r
}

// Stop delivers what has already arrived and returns once the sink is no longer called.
func (r *ProgressReader) Stop() {
	close(r.stop)
	r.wg.Wait()
}

func deliverProgress(m rpc.Message, sink ProgressSink) {
	if m.Method != "notifications/progress" {
		return
	}
	var p struct {
		Token json.RawMessage `json:"progressToken"`
		cmdkit.ProgressNote
	}
	if json.Unmarshal(m.Params, &p) != nil || string(p.Token) != `"`+progressToken+`"` {
		return
	}
	sink(p.ProgressNote)
}
