package e2e

// MCP tasks against the reference server (server-everything's simulate-research-query:
// execution.taskSupport "required", four stages of a second each), over stdio and
// Streamable HTTP: a task-augmented tools-call, a detached task collected by another
// process, a cancelled one, their events, a task detached before a kill -9 of the bridge,
// and the bad inputs.

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

const researchTool = "simulate-research-query"

// taskEvents are the task_* events of one task of a session.
func (e *env) taskEvents(session, id string) []events.Event {
	e.t.Helper()
	var out []events.Event
	for _, ev := range e.events("--session", session, "--type", "task_*") {
		if ev.TaskID == id {
			out = append(out, ev)
		}
	}
	return out
}

// detach starts a task and returns its id (what --detach prints on stdout).
func (e *env) detach(session string, args ...string) string {
	e.t.Helper()
	r := e.ok(append([]string{"@" + session, "tools-call", researchTool, "--detach"}, args...)...)
	id := strings.TrimSpace(r.Stdout)
	if id == "" || strings.ContainsAny(id, " \n") {
		e.t.Fatalf("--detach: want one task id on stdout:\n%s", r)
	}
	return id
}

func bridgePID(t *testing.T, e *env, session string) int {
	t.Helper()
	s, ok := e.session(session)
	if !ok || s.Bridge == nil {
		t.Fatalf("@%s has no bridge: %+v", session, s)
	}
	return s.Bridge.PID
}

func TestTasks_EverythingStdio(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	node, entry := everything(t)
	e.ok("connect", "@"+name, "--", node, entry, "stdio")
	t.Cleanup(func() { e.run("close", "@"+name) })

	t.Run("a tool that requires a task is called as one; --detach and tasks-result from another process give the same result", func(t *testing.T) {
		t.Parallel()
		attached := make(chan result, 1)
		go func() { attached <- e.run("@"+name, "tools-call", researchTool, "topic:=same") }()
		id := e.detach(name, "topic:=same")
		got := e.ok("@"+name, "tasks-result", id)
		want := <-attached
		if want.Code != 0 || !strings.Contains(want.Stdout, "# Research Report: same") {
			t.Fatalf("tools-call of a task-required tool: want the report, exit 0:\n%s", want)
		}
		if got.Stdout != want.Stdout {
			t.Fatalf("tasks-result of the detached task differs from the attached call:\n%s\n---\n%s", got, want)
		}
		// Its events: created, its stages, completed; and wait --for finds the end.
		evs := e.taskEvents(name, id)
		if len(evs) < 2 || evs[0].Type != events.KindTaskCreated || evs[0].Tool != researchTool ||
			evs[len(evs)-1].Type != events.KindTaskFinished || evs[len(evs)-1].TaskStatus != "completed" {
			t.Fatalf("task %s events: %+v", id, kindsOf(evs))
		}
		if r := e.ok("@"+name, "wait", "--for", "task:"+id); !strings.Contains(r.Stdout, "completed") {
			t.Fatalf("wait --for task:%s:\n%s", id, r)
		}
		// A finished task is not cancelled: exit 1, and nothing recorded.
		r := e.run("@"+name, "tasks-cancel", id)
		if r.Code != 1 || !strings.Contains(r.Stderr, "completed already") {
			t.Fatalf("tasks-cancel of a completed task: want exit 1, \"completed already\":\n%s", r)
		}
		if n := len(e.taskEvents(name, id)); n != len(evs) {
			t.Fatalf("tasks-cancel of a completed task recorded %d events", n-len(evs))
		}
	})

	t.Run("tasks-cancel cancels; tasks-result then says so, exit 2", func(t *testing.T) {
		t.Parallel()
		id := e.detach(name, "topic:=cancel-me")
		if r := e.ok("@"+name, "tasks-list"); !strings.Contains(r.Stdout, id) || !strings.Contains(r.Stdout, researchTool) {
			t.Fatalf("tasks-list does not list %s with its tool:\n%s", id, r)
		}
		e.ok("@"+name, "tasks-cancel", id)
		var task struct{ Status string }
		e.jsonOK(&task, "@"+name, "tasks-get", id)
		if task.Status != "cancelled" {
			t.Fatalf("tasks-get after tasks-cancel: status %q", task.Status)
		}
		r := e.run("@"+name, "tasks-result", id)
		if r.Code != 2 || !strings.Contains(r.Stderr, "was cancelled") {
			t.Fatalf("tasks-result of a cancelled task: want exit 2, \"was cancelled\":\n%s", r)
		}
		testwait.For(t, 10*time.Second, func() error {
			evs := e.taskEvents(name, id)
			if len(evs) == 0 || evs[len(evs)-1].Type != events.KindTaskFinished || evs[len(evs)-1].TaskStatus != "cancelled" {
				return fmt.Errorf("task %s events: %v", id, kindsOf(evs))
			}
			return nil
		})
		if r := e.run("@"+name, "wait", "--for", "task:"+id); r.Code != 2 {
			t.Fatalf("wait --for task:%s of a cancelled task: want exit 2:\n%s", id, r)
		}
	})

	t.Run("an unknown task id: exit 1, nothing recorded", func(t *testing.T) {
		t.Parallel()
		before := len(e.events("--session", name, "--type", "task_*"))
		for _, cmd := range []string{"tasks-get", "tasks-result", "tasks-cancel"} {
			r := e.run("@"+name, cmd, "no-such-task")
			if r.Code != 1 || !strings.Contains(r.Stderr, "no task no-such-task on @"+name) {
				t.Errorf("%s of an unknown id: want exit 1, \"no task …\":\n%s", cmd, r)
			}
		}
		if r := e.run("@"+name, "wait", "--for", "task:no-such-task"); r.Code != 1 {
			t.Errorf("wait --for an unknown task: want exit 1:\n%s", r)
		}
		for _, ev := range e.events("--session", name, "--type", "task_*")[before:] {
			if ev.TaskID == "no-such-task" {
				t.Fatalf("an event about the unknown task: %+v", ev)
			}
		}
	})
}

func TestTasks_BadInputOnAServerWithoutTasks(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	calls := e.connectTest(name)

	// --task and --detach: refused before anything is sent (the tool never runs).
	for _, flag := range []string{"--task", "--detach"} {
		r := e.run("@"+name, "tools-call", "echo", "text:=hi", flag)
		if r.Code != 1 || !strings.Contains(r.Stderr, "does not support tasks") {
			t.Errorf("tools-call %s on a server without tasks: want exit 1, \"does not support tasks\":\n%s", flag, r)
		}
	}
	if n := countCalls(t, calls, "echo"); n != 0 {
		t.Fatalf("the tool ran %d times after a refused --task", n)
	}
	// Without the flag it still works as before.
	if r := e.ok("@"+name, "tools-call", "echo", "text:=hi"); !strings.Contains(r.Stdout, "hi") {
		t.Fatalf("tools-call echo:\n%s", r)
	}
	// A task of another session is refused as foreign before anything is sent.
	other := uniqueName(t) + "o"
	node, entry := everything(t)
	e.ok("connect", "@"+other, "--", node, entry, "stdio")
	t.Cleanup(func() { e.run("close", "@"+other) })
	id := e.detach(other, "topic:=foreign")
	for _, cmd := range []string{"tasks-get", "tasks-result", "tasks-cancel"} {
		r := e.run("@"+name, cmd, id)
		if r.Code != 1 || !strings.Contains(r.Stderr, "it is @"+other+"'s") {
			t.Errorf("%s of @%s's task on @%s: want exit 1, \"it is @%s's\":\n%s", cmd, other, name, other, r)
		}
	}
	// And the foreign task was left alone: it completes.
	e.ok("@"+other, "tasks-result", id)
}

// A task detached before the bridge is killed: a stdio server dies with its bridge, and its
// tasks with it; the CLI says so (exit 3) and never hangs. An HTTP server keeps them: the
// next bridge resumes the MCP session, the task is listed and its result collected.
func TestTasks_DetachedTaskAcrossABridgeKill(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"stdio", "http"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			e := shared(t)
			name := uniqueName(t)
			var server []string
			if via == "stdio" {
				node, entry := everything(t)
				server = []string{"--", node, entry, "stdio"}
			} else {
				url, _ := startEverythingHTTP(t)
				server = []string{url}
			}
			e.ok(append([]string{"connect", "@" + name}, server...)...)
			t.Cleanup(func() { e.run("close", "@"+name) })
			id := e.detach(name, "topic:=survivor")
			if err := syscall.Kill(bridgePID(t, e, name), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if via == "stdio" {
				r := e.run("@"+name, "tasks-result", id)
				if r.Code != 3 || !strings.Contains(r.Stderr, "lost") || !strings.Contains(r.Stderr, "stdio server process exited with its bridge") {
					t.Fatalf("tasks-result of a task whose stdio server died: want exit 3 and why:\n%s", r)
				}
				if r := e.run("@"+name, "wait", "--for", "task:"+id); r.Code != 3 {
					t.Fatalf("wait --for task:%s of a lost task: want exit 3:\n%s", id, r)
				}
				if r := e.ok("@"+name, "tasks-list"); !strings.Contains(r.Stdout, id) || !strings.Contains(r.Stdout, "lost") {
					t.Fatalf("tasks-list does not show %s lost:\n%s", id, r)
				}
				return
			}
			if r := e.ok("@"+name, "tasks-list"); !strings.Contains(r.Stdout, id) {
				t.Fatalf("tasks-list after the bridge's kill does not list %s:\n%s", id, r)
			}
			r := e.ok("@"+name, "tasks-result", id)
			if !strings.Contains(r.Stdout, "# Research Report: survivor") {
				t.Fatalf("tasks-result after the bridge's kill:\n%s", r)
			}
			// The next bridge followed the task: its end is in the log.
			if r := e.ok("@"+name, "wait", "--for", "task:"+id); !strings.Contains(r.Stdout, "completed") {
				t.Fatalf("wait --for task:%s:\n%s", id, r)
			}
		})
	}
}

// The 2026-07-28 Tasks extension (our test server's --tasks-ext): the bridge declares the
// extension on a task's requests, a task-required tool is called as one, tasks/get carries
// the result or the error inline, there is no tasks/list (the log lists), and a failed
// task is a specific error, exit 2.
func TestTasks_TasksExtension2026(t *testing.T) {
	t.Parallel()
	skipIfServerSpeaks(t, protocolLegacy, "the Tasks extension is 2026-07-28's")
	e := shared(t)
	name := uniqueName(t)
	e.ok("connect", "@"+name, "--", serverBin, "--modern", "--tasks-ext")
	t.Cleanup(func() { e.run("close", "@"+name) })
	if s, _ := e.session(name); s.ProtocolVersion != "2026-07-28" {
		t.Fatalf("@%s negotiated %q, want 2026-07-28", name, s.ProtocolVersion)
	}

	t.Run("a required task, attached and detached", func(t *testing.T) {
		t.Parallel()
		if r := e.ok("@"+name, "tools-call", "job", "text:=attached", "ms:=300"); strings.TrimSpace(r.Stdout) != "job done: attached" {
			t.Fatalf("tools-call job:\n%s", r)
		}
		r := e.ok("@"+name, "tools-call", "job", "text:=detached", "ms:=300", "--detach")
		id := strings.TrimSpace(r.Stdout)
		// Once --detach printed the id, the log has the task: another process waits for it.
		if r := e.ok("@"+name, "wait", "--for", "task:"+id); !strings.Contains(r.Stdout, "completed") {
			t.Fatalf("wait --for task:%s right after --detach:\n%s", id, r)
		}
		if r := e.ok("@"+name, "tasks-result", id); strings.TrimSpace(r.Stdout) != "job done: detached" {
			t.Fatalf("tasks-result %s:\n%s", id, r)
		}
		if r := e.ok("@"+name, "tasks-list"); !strings.Contains(r.Stdout, id) || !strings.Contains(r.Stdout, "job") {
			t.Fatalf("tasks-list (from the log) does not list %s:\n%s", id, r)
		}
		e.ok("@"+name, "wait", "--for", "task:"+id)
	})

	t.Run("a failed task: exit 2 with the server's error, recorded", func(t *testing.T) {
		t.Parallel()
		r := e.run("@"+name, "tools-call", "job", "fail:=true", "ms:=100")
		if r.Code != 2 || !strings.Contains(r.Stderr, "failed: server error -32603: job failed on purpose") {
			t.Fatalf("tools-call of a failing task: want exit 2 and the error:\n%s", r)
		}
		id := strings.TrimSpace(e.ok("@"+name, "tools-call", "job", "fail:=true", "ms:=100", "--detach").Stdout)
		r = e.run("@"+name, "tasks-result", id)
		if r.Code != 2 || !strings.Contains(r.Stderr, "task "+id+" on @"+name+" failed") {
			t.Fatalf("tasks-result of a failed task: want exit 2:\n%s", r)
		}
		testwait.For(t, 10*time.Second, func() error {
			evs := e.taskEvents(name, id)
			if len(evs) == 0 || evs[len(evs)-1].TaskStatus != "failed" || evs[len(evs)-1].Error != "job failed on purpose" {
				return fmt.Errorf("task %s events: %+v", id, evs)
			}
			return nil
		})
	})

	t.Run("a cancelled task", func(t *testing.T) {
		t.Parallel()
		id := strings.TrimSpace(e.ok("@"+name, "tools-call", "job", "ms:=60000", "--detach").Stdout)
		e.ok("@"+name, "tasks-cancel", id)
		if r := e.run("@"+name, "tasks-result", id); r.Code != 2 || !strings.Contains(r.Stderr, "was cancelled") {
			t.Fatalf("tasks-result of a cancelled task: want exit 2:\n%s", r)
		}
		if r := e.run("@"+name, "tasks-get", "nope"); r.Code != 1 {
			t.Fatalf("tasks-get of an unknown id: want exit 1:\n%s", r)
		}
	})
}
