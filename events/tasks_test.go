package events

import "testing"

func taskEv(k Kind, seq uint64, session, id, status string) Event {
	e := New(k, "n", session, 1)
	e.Seq, e.TaskID, e.TaskStatus = seq, id, status
	return e
}

func TestFoldTask_LastWordUntilFinished(t *testing.T) {
	tasks := map[TaskKey]*Task{}
	created := taskEv(KindTaskCreated, 1, "a", "t1", "working")
	created.Tool = "job"
	for _, e := range []Event{
		created,
		taskEv(KindTaskCreated, 2, "b", "t1", "working"), // the same id on another session
		taskEv(KindTaskStatus, 3, "a", "t1", "input_required"),
		taskEv(KindTaskFinished, 4, "a", "t1", "completed"),
		taskEv(KindTaskStatus, 5, "a", "t1", "working"), // after the end: ignored
		New(KindBridgeReady, "n", "a", 1),               // not a task event
	} {
		FoldTask(tasks, e)
	}
	a := tasks[TaskKey{"n", "a", "t1"}]
	if a == nil || !a.Finished || a.Status != "completed" || a.Tool != "job" || a.CreatedSeq != 1 || a.LastSeq != 4 {
		t.Fatalf("@a's t1: %+v", a)
	}
	if b := tasks[TaskKey{"n", "b", "t1"}]; b == nil || b.Finished || b.Status != "working" {
		t.Fatalf("@b's t1: %+v", b)
	}
	if len(tasks) != 2 {
		t.Fatalf("tasks: %d, want 2", len(tasks))
	}
}

func TestValidate_TaskEventsNeedAnIDAndAStatus(t *testing.T) {
	for _, e := range []Event{taskEv(KindTaskCreated, 0, "a", "", "working"), taskEv(KindTaskFinished, 0, "a", "t1", "")} {
		if err := e.Validate(); err == nil {
			t.Errorf("%s with id %q status %q: valid", e.Type, e.TaskID, e.TaskStatus)
		}
	}
	if err := taskEv(KindTaskStatus, 0, "a", "t1", "working").Validate(); err != nil {
		t.Fatal(err)
	}
}
