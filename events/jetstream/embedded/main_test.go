package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

// The test binary doubles as a helper process: with helperEnv set, TestMain runs the named
// role instead of the tests.
const helperEnv = "MCPCTL_JS_TEST_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role))
	}
	os.Exit(m.Run())
}

func runHelper(role string) int {
	var err error
	switch role {
	case "append":
		err = helperAppend()
	case "lock":
		err = helperLock()
	case "durable":
		err = helperDurable()
	default:
		err = fmt.Errorf("unknown helper role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// helperAppend connects to the server and, for each "round NODE SESSION SEQ" line on stdin,
// races HELPER_GOROUTINES conditional restart requests expecting SEQ and answers
// "result WINS CONFLICTS OTHER WINSEQ".
func helperAppend() error {
	ctx := context.Background()
	nc, err := jetstream.Dial(ctx, os.Getenv("HELPER_URL"), os.Getenv("HELPER_TOKEN"))
	if err != nil {
		return err
	}
	defer nc.Close()
	l, err := jetstream.NewLog(ctx, nc)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(os.Getenv("HELPER_GOROUTINES"))
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "round" {
			return fmt.Errorf("bad command %q", sc.Text())
		}
		seq, _ := strconv.ParseUint(f[3], 10, 64)
		var (
			mu                      sync.Mutex
			wins, conflicts, others int
			winSeq                  uint64
			firstErr                string
			start                   = make(chan struct{})
			wg                      sync.WaitGroup
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := events.New(events.KindRestartRequested, f[1], f[2], 2)
				<-start
				got, err := l.Append(ctx, e, events.After(seq))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
					winSeq = got
				case errors.Is(err, events.ErrConflict):
					conflicts++
				default:
					others++
					firstErr = err.Error()
				}
			}()
		}
		close(start)
		wg.Wait()
		if firstErr != "" {
			fmt.Fprintln(os.Stderr, "helper append error:", firstErr)
		}
		fmt.Printf("result %d %d %d %d\n", wins, conflicts, others, winSeq)
	}
	return sc.Err()
}

// helperLock opens a server on HELPER_DIR, says "open" and holds it until stdin closes.
func helperLock() error {
	s := NewServer(os.Getenv("HELPER_DIR"))
	s.Token = os.Getenv("HELPER_TOKEN")
	if err := s.Open(); err != nil {
		fmt.Println("error", err)
		return nil
	}
	fmt.Println("open")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return s.Close()
}

// helperDurable opens a SyncAlways server on HELPER_DIR, appends HELPER_N events printing
// "ack SEQ" after each acknowledgement, then waits to be killed.
func helperDurable() error {
	s := NewServer(os.Getenv("HELPER_DIR"))
	s.Token = os.Getenv("HELPER_TOKEN")
	if err := s.Open(); err != nil {
		return err
	}
	ctx := context.Background()
	nc, err := nats.Connect("", nats.InProcessServer(s.NATS()), nats.Token(s.Token))
	if err != nil {
		return err
	}
	l, err := jetstream.NewLog(ctx, nc)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(os.Getenv("HELPER_N"))
	var last uint64
	for i := range n {
		e := events.New(events.KindBridgeReady, "n1", "dur", uint64(i+1))
		seq, err := l.Append(ctx, e, events.After(last))
		if err != nil {
			return err
		}
		last = seq
		fmt.Printf("ack %d\n", seq)
	}
	select {} // wait for SIGKILL
}
