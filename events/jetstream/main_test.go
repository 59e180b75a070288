package jetstream_test

import (
	"os"
	"testing"

	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
)

// TestMain lets the test binary run as a NATS node of a jstest.ProcCluster.
func TestMain(m *testing.M) {
	jstest.RunNodeIfAsked()
	os.Exit(m.Run())
}
