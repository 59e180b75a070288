package bridgeproc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpctl/mcpctl/bridge"
	"github.com/mcpctl/mcpctl/events"
)

// taskQueue bounds the task events a bridge holds while the log is slow.
const taskQueue = 256

// taskCreatedWait bounds the append of a task_created, which the call's answer waits for.
const taskCreatedWait = 2 * time.Second

// taskRecorder appends the task events of a bridge (task_created, task_status,
// task_finished), in the order the bridge saw the changes, off the answer's path.
//
// Why the bridge writes them: it is the one process that sees every CreateTaskResult (from
// the CLI and from MCP hosts behind `proxy` alike), every status notification and every
// tasks/* answer, and it follows each open task with tasks/get until it finishes; a CLI
// that detached, or died, would record nothing. Unconditional appends: a task event
// competes with nobody and changes no session state.
type taskRecorder struct {
	log     events.Log
	node    string
	session string
	gen     uint64
	logger  *slog.Logger
	ch      chan bridge.TaskRecord
	dropped atomic.Int64
	wg      sync.WaitGroup
	once    sync.Once
}

func newTaskRecorder(log events.Log, node, session string, gen uint64, logger *slog.Logger) *taskRecorder {
	r := &taskRecorder{log: log, node: node, session: session, gen: gen, logger: logger, ch: make(chan bridge.TaskRecord, taskQueue)}
	r.wg.Add(1)
	go r.loop()
	return r
}

// Record queues a task's change; it never blocks, but for a creation: that one is appended
// before the bridge answers the call that created the task (the tracker reports it from
// there), so that once a client has the task id, task_created is in the log (`--detach`
// then `wait --for task:ID` finds it), bounded by taskCreatedWait.
func (r *taskRecorder) Record(t bridge.TaskRecord) {
	if t.Kind == bridge.TaskCreated {
		ctx, cancel := context.WithTimeout(context.Background(), taskCreatedWait)
		defer cancel()
		if _, err := r.log.Append(ctx, taskEvent(r.node, r.session, r.gen, t), events.Unconditional()); err != nil {
			r.logger.Warn("record task event", "task", t.TaskID, "status", t.Status, "err", err)
		}
		return
	}
	select {
	case r.ch <- t:
	default:
		if r.dropped.Add(1)%100 == 1 {
			r.logger.Warn("task event queue full: dropping", "dropped", r.dropped.Load())
		}
	}
}

// taskEvent is the event of one task change.
func taskEvent(node, session string, gen uint64, t bridge.TaskRecord) events.Event {
	kind := events.KindTaskStatus
	switch t.Kind {
	case bridge.TaskCreated:
		kind = events.KindTaskCreated
	case bridge.TaskFinished:
		kind = events.KindTaskFinished
	}
	e := events.New(kind, node, session, gen)
	e.PID = os.Getpid()
	e.TaskID, e.Tool, e.TaskStatus, e.StatusMessage, e.Error = t.TaskID, t.Tool, t.Status, t.StatusMessage, t.Error
	return e
}

func (r *taskRecorder) loop() {
	defer r.wg.Done()
	for t := range r.ch {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, err := r.log.Append(ctx, taskEvent(r.node, r.session, r.gen, t), events.Unconditional()); err != nil {
			r.logger.Warn("record task event", "task", t.TaskID, "status", t.Status, "err", err)
		}
		cancel()
	}
}

// Close flushes what is queued and stops.
func (r *taskRecorder) Close() {
	r.once.Do(func() { close(r.ch) })
	r.wg.Wait()
}

// openTasks reads the session's tasks that the log does not show finished: created by an
// earlier generation, they are followed by this one (found finished, or lost).
func openTasks(ctx context.Context, log events.Log, node, session string) ([]*events.Task, error) {
	tasks := map[events.TaskKey]*events.Task{}
	err := log.Read(ctx, events.Query{Node: node, Session: session,
		Kinds: []events.Kind{events.KindTaskCreated, events.KindTaskStatus, events.KindTaskFinished}},
		func(e events.Event) error {
			events.FoldTask(tasks, e)
			return nil
		})
	var open []*events.Task
	for _, t := range tasks {
		if !t.Finished {
			open = append(open, t)
		}
	}
	return open, err
}

// followOpenTasks has the bridge follow the session's tasks left open by earlier
// generations: an HTTP server that kept them reports them finished; a stdio server's died
// with its process, and tasks/get says so (lost).
func followOpenTasks(ctx context.Context, log events.Log, node, session string, transport events.Transport, gen uint64, b *bridge.Bridge, logger *slog.Logger) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	open, err := openTasks(rctx, log, node, session)
	if err != nil {
		logger.Warn("read the session's open tasks", "err", err)
	}
	for _, t := range open {
		why := ""
		if t.Generation < gen {
			why = fmt.Sprintf("created by generation %d, whose server connection ended with its bridge", t.Generation)
			if transport == events.TransportStdio {
				why = fmt.Sprintf("created by generation %d, whose stdio server process exited with its bridge", t.Generation)
			}
		}
		b.FollowTask(t.TaskID, t.Tool, t.Status, why)
	}
	if len(open) > 0 {
		logger.Info("following tasks of earlier generations", "tasks", len(open))
	}
}
