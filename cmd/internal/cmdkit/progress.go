package cmdkit

import (
	"fmt"
	"sync"
	"time"
)

// progress shows a one-line status on stderr while a wait lasts more than a moment, on a
// terminal only: piped output and scripts never see it.
type progress struct {
	io    *IOStreams
	start time.Time
	mu    sync.Mutex
	shown bool
}

const progressDelay = 300 * time.Millisecond

func NewProgress(io *IOStreams, msg string) *progress {
	p := &progress{io: io, start: time.Now()}
	p.Update(msg)
	return p
}

// Update replaces the status line.
func (p *progress) Update(msg string) {
	if !p.io.ErrTTY || time.Since(p.start) < progressDelay {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shown = true
	fmt.Fprintf(p.io.ErrOut, "\r\x1b[2K%s %s", msg, time.Since(p.start).Round(100*time.Millisecond))
}

// Done clears the line.
func (p *progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.io.ErrOut, "\r\x1b[2K")
	}
}
