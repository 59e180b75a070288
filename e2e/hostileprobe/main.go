// Command hostileprobe is run by the e2e hostile-neighbour tests as another uid: it tries to
// use a bridge socket, read the hub token and publish to the hub, and prints one line per
// attempt (what got through is in capitals).
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	w := os.Stdout
	if p := os.Getenv("MCPCTL_HOSTILE_SOCKET"); p != "" {
		nc, err := net.DialTimeout("unix", p, 2*time.Second)
		if err != nil {
			fmt.Fprintf(w, "socket: dial error: %v\n", err)
		} else {
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(nc, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`+"\n")
			line, err := bufio.NewReader(nc).ReadString('\n')
			if strings.Contains(line, `"result"`) {
				fmt.Fprintf(w, "socket: ANSWERED %q\n", line)
			} else {
				fmt.Fprintf(w, "socket: no answer: %q %v\n", line, err)
			}
			nc.Close()
		}
	}
	if p := os.Getenv("MCPCTL_HOSTILE_TOKEN"); p != "" {
		if b, err := os.ReadFile(p); err != nil {
			fmt.Fprintf(w, "token: read error: %v\n", err)
		} else {
			fmt.Fprintf(w, "token: READ %d bytes\n", len(b))
		}
	}
	if u := os.Getenv("MCPCTL_HOSTILE_NATS"); u != "" {
		nc, err := nats.Connect(u, nats.Timeout(2*time.Second), nats.MaxReconnects(0))
		if err != nil {
			fmt.Fprintf(w, "nats: connect error: %v\n", err)
		} else {
			err := nc.Publish("mcpctl.ev.e2e.t.closed", []byte(`{"v":1,"type":"closed"}`))
			if err == nil {
				err = nc.Flush()
			}
			fmt.Fprintf(w, "nats: CONNECTED, publish: %v, last error: %v\n", err, nc.LastError())
			nc.Close()
		}
	}
}
