package hubd

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
)

func TestSignalReady_WritesOneByteAndCloses(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := signalReady(w); err != nil {
		t.Fatalf("signalReady: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hubclient.WaitReady(ctx, r); err != nil {
		t.Fatalf("waitReady after signalReady: %v, want nil", err)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("after the byte: read %d, %v; want EOF (the writer closed)", n, err)
	}
	if err := signalReady(nil); err != nil {
		t.Fatalf("signalReady(nil) (a hub run by hand): %v", err)
	}
}

func TestReadyPipeFromEnv_IgnoresWhatIsNotAPipe(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "notapipe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Setenv(hubclient.HubReadyEnv, strconv.Itoa(int(f.Fd())))
	if got := readyPipeFromEnv(); got != nil {
		t.Fatalf("readyPipeFromEnv with a regular file's fd = %v, want nil", got)
	}
	if _, err := f.Write([]byte("still open")); err != nil {
		t.Fatalf("the file's fd was touched: %v", err)
	}
}
