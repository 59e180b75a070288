package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

// waitTask is `wait --for task:ID`: it waits, in the event log, for the task's
// task_finished, which the session's bridge records (it follows every open task, also one
// an earlier generation created). It needs no connection to the bridge, so it works across
// bridge restarts and from any process. Exit 0: completed; 2: failed or cancelled; 3: lost,
// or the session ended and nobody follows the task any more; 1: no such task in the log.
func waitTask(ctx context.Context, f *cmdkit.Factory, name, id string) error {
	if id == "" {
		return clierr.WithHint(errors.New("--for task: needs a task id"), clierr.ExitUsage, "mcpctl @s wait --for task:ID")
	}
	hub, err := f.Hub(ctx)
	if err != nil {
		return err
	}
	target := name
	hub, name = hub.Target(name)
	s, err := sessioncall.LoadSession(ctx, hub, name)
	if err != nil {
		return err
	}
	if s.Status == "" {
		return sessioncall.NotFoundErr(target)
	}
	kinds := []events.Kind{events.KindTaskCreated, events.KindTaskStatus, events.KindTaskFinished}
	tasks := map[events.TaskKey]*events.Task{}
	key := events.TaskKey{Node: hub.Node, Session: name, TaskID: id}
	var last *events.Event
	err = hub.Log.Read(ctx, events.Query{Node: hub.Node, Session: name, Kinds: kinds}, func(e events.Event) error {
		if e.TaskID == id {
			events.FoldTask(tasks, e)
			last = &e
		}
		return nil
	})
	if err != nil {
		return err
	}
	t := tasks[key]
	if t == nil {
		return clierr.WithHint(fmt.Errorf("no task %s recorded on @%s", id, target), clierr.ExitUsage,
			"mcpctl events --session "+name+" --type 'task_*'")
	}
	after := s.LastSeq
	if last != nil && last.Seq > after {
		after = last.Seq
	}
	if !t.Finished {
		err = hub.Log.Follow(ctx, events.Query{Node: hub.Node, Session: name, AfterSeq: after}, func(e events.Event) error {
			s = projector.Apply(s, e)
			if e.TaskID == id && e.Type.IsTask() {
				events.FoldTask(tasks, e)
				last = &e
				if tasks[key].Finished {
					return errDone
				}
			}
			if nobodyFollows(s) {
				return errDone
			}
			return nil
		})
		if ctx.Err() != nil {
			return sessioncall.TimeoutErr(ctx, "waiting for task "+id+" on @"+target)
		}
		if !errors.Is(err, errDone) {
			return err
		}
	}
	if !t.Finished {
		return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("task %s on @%s: the session is %s; no bridge follows the task any more (last status: %s)",
			id, target, s.Status, t.Status)}
	}
	if f.JSON {
		if err := cmdkit.WriteJSON(f.IO.Out, map[string]any{"session": target, "for": "task:" + id, "task": t, "event": last}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(f.IO.Out, "@%s: task %s %s (seq %d)\n", target, id, t.Status, t.LastSeq)
	}
	switch t.Status {
	case "completed":
		return nil
	case events.TaskLost:
		return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("task %s on @%s is lost: %s", id, target, t.Error)}
	}
	return &clierr.Error{Code: clierr.ExitServer, Err: fmt.Errorf("task %s on @%s %s%s", id, target, t.Status,
		map[bool]string{true: ": " + sessioncall.FirstNonEmpty(t.Error, t.StatusMessage), false: ""}[t.Error != "" || t.StatusMessage != ""])}
}

// nobodyFollows reports whether the session reached a state where no bridge will come to
// follow its tasks.
func nobodyFollows(s projector.Session) bool {
	switch s.Status {
	case projector.StatusClosed, projector.StatusFailed, projector.StatusExpired, projector.StatusUnauthorized:
		return true
	case projector.StatusCrashed:
		return s.Restart == events.RestartNever
	}
	return s.Cleaned
}
