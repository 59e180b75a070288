package events

// Task is what the log says of one MCP task of a session: folded from its task_created,
// task_status and task_finished events (FoldTask).
type Task struct {
	Node    string `json:"node"`
	Session string `json:"session"`
	TaskID  string `json:"task_id"`
	Tool    string `json:"tool,omitempty"`
	// Generation is the session generation whose bridge saw the task created.
	Generation    uint64 `json:"generation"`
	Status        string `json:"task_status"`
	StatusMessage string `json:"status_message,omitempty"`
	Error         string `json:"error,omitempty"`
	// CreatedSeq and LastSeq are the sequences of its first and last events.
	CreatedSeq uint64 `json:"created_seq"`
	LastSeq    uint64 `json:"last_seq"`
	// Finished: a task_finished was recorded (Status is then terminal or TaskLost).
	Finished bool `json:"finished"`
}

// FoldTask applies a task event to the tasks known so far, keyed by session and task id
// (a task id is the server's, so two sessions may show the same one). Other events leave
// tasks unchanged.
// A finished task stays finished.
func FoldTask(tasks map[TaskKey]*Task, e Event) {
	if !e.Type.IsTask() || e.TaskID == "" {
		return
	}
	k := TaskKey{Node: e.Node, Session: e.Session, TaskID: e.TaskID}
	t := tasks[k]
	if t == nil {
		// (A status event whose creation was not read still says the task exists.)
		t = &Task{Node: e.Node, Session: e.Session, TaskID: e.TaskID, Generation: e.Generation, CreatedSeq: e.Seq}
		tasks[k] = t
	}
	if t.Finished {
		return
	}
	if e.Tool != "" {
		t.Tool = e.Tool
	}
	t.Status, t.StatusMessage, t.LastSeq = e.TaskStatus, e.StatusMessage, e.Seq
	if e.Type == KindTaskFinished {
		t.Finished, t.Error = true, e.Error
	}
}

// TaskKey names a task: the server's id within one session.
type TaskKey struct {
	Node, Session, TaskID string
}
