// Package jstest runs real NATS JetStream servers inside a test process: one loopback server
// for tests of the client side, and a three-node cluster configured from the very nats.conf
// that docker-compose.yml gives its three containers (only addresses, ports, directories,
// names and the token are substituted; DriftReport says whether anything else changed).
package jstest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Size is the number of nodes, as in docker-compose.yml.
const Size = 3

// FindCompose returns the path of docker-compose.yml at the module root above the current
// directory.
func FindCompose() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "docker-compose.yml"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("jstest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ComposeNATSConf extracts the content of `configs: nats.conf: content: |` from a compose
// file, dedented, with compose's `$$` escape turned back into `$`. It is a purpose-built
// reader of that one block, not a YAML parser: it fails loudly when the block is not there.
func ComposeNATSConf(composeYAML []byte) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(string(composeYAML)))
	const (
		wantConfigs = iota
		wantNATSConf
		wantContent
		inContent
	)
	state, keyIndent, blockIndent := wantConfigs, -1, -1
	var out []string
	indent := func(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch state {
		case wantConfigs:
			if line == "configs:" {
				state = wantNATSConf
			}
		case wantNATSConf:
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			if indent(line) == 0 {
				return "", errors.New("jstest: compose top-level configs has no nats.conf")
			}
			if trimmed == "nats.conf:" {
				state = wantContent
			}
		case wantContent:
			if trimmed == "content: |" {
				state, keyIndent = inContent, indent(line)
			} else if trimmed != "" && indent(line) == 0 {
				return "", errors.New("jstest: compose config nats.conf has no `content: |` block")
			}
		case inContent:
			if trimmed == "" {
				out = append(out, "")
				continue
			}
			if indent(line) <= keyIndent {
				return finish(out)
			}
			if blockIndent < 0 {
				blockIndent = indent(line)
			}
			if indent(line) < blockIndent {
				return "", fmt.Errorf("jstest: nats.conf block: line %q is indented less than the block", line)
			}
			out = append(out, strings.ReplaceAll(line[blockIndent:], "$$", "$"))
		}
	}
	if state != inContent {
		return "", errors.New("jstest: no `configs: nats.conf: content: |` block in the compose file")
	}
	return finish(out)
}

func finish(lines []string) (string, error) {
	s := strings.TrimRight(strings.Join(lines, "\n"), "\n") + "\n"
	if strings.TrimSpace(s) == "" {
		return "", errors.New("jstest: the nats.conf block is empty")
	}
	return s, nil
}

// Node is what differs between the nodes: the values compose gives each container.
type Node struct {
	Name        string
	ClientPort  int
	HTTPPort    int
	ClusterPort int
	StoreDir    string
}

// The substitutions, each of which must match exactly once in the compose configuration:
// a setting the regexp does not find means the compose file changed shape, and the test
// configuration would silently drift from it.
var (
	reClientPort = regexp.MustCompile(`(?m)^port: 4222$`)
	reHTTPPort   = regexp.MustCompile(`(?m)^http_port: 8222$`)
	reStoreDir   = regexp.MustCompile(`(?m)^(\s+)store_dir: /data$`)
	reListen     = regexp.MustCompile(`(?m)^(\s+)listen: 0\.0\.0\.0:6222$`)
	reRoute      = regexp.MustCompile(`nats://nats-([1-3]):6222`)
)

// LoopbackConf turns the compose configuration into node i's (0-based) configuration on
// loopback: its ports, its store directory, routes to the other nodes' loopback ports, and
// the variables compose would set in its environment (NATS_NAME, NATS_TOKEN) defined at
// the top of the file, which nats-server resolves like environment variables.
func LoopbackConf(conf string, nodes []Node, i int, token string) (string, error) {
	n := nodes[i]
	var err error
	sub := func(re *regexp.Regexp, s, repl string, want int) string {
		if got := len(re.FindAllStringIndex(s, -1)); got != want && err == nil {
			err = fmt.Errorf("jstest: %s matches %d times in the compose nats.conf, want %d", re, got, want)
		}
		return re.ReplaceAllString(s, repl)
	}
	out := sub(reClientPort, conf, "port: "+strconv.Itoa(n.ClientPort), 1)
	out = sub(reHTTPPort, out, "http_port: "+strconv.Itoa(n.HTTPPort), 1)
	out = sub(reStoreDir, out, "${1}store_dir: "+strconv.Quote(n.StoreDir), 1)
	out = sub(reListen, out, "${1}listen: 127.0.0.1:"+strconv.Itoa(n.ClusterPort), 1)
	if got := len(reRoute.FindAllString(out, -1)); got != len(nodes) && err == nil {
		err = fmt.Errorf("jstest: %d routes in the compose nats.conf, want %d", got, len(nodes))
	}
	out = reRoute.ReplaceAllStringFunc(out, func(m string) string {
		k, _ := strconv.Atoi(reRoute.FindStringSubmatch(m)[1])
		return "nats://127.0.0.1:" + strconv.Itoa(nodes[k-1].ClusterPort)
	})
	if err != nil {
		return "", err
	}
	vars := fmt.Sprintf("NATS_NAME: %q\nNATS_TOKEN: %q\n", n.Name, token)
	return vars + out, nil
}

// Cluster is a running three-node cluster.
type Cluster struct {
	Token   string   // compose's token (not used with an Operator)
	Sec     Security // what clients need beyond the token
	Account string   // the account that holds mcpctl's streams
	Nodes   []Node
	Confs   []string // the configuration file of each node
	Servers []*server.Server
	t       testing.TB
}

// StartCluster starts the cluster of the compose file and waits until JetStream has a meta
// leader. It is stopped when the test ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return StartSecureCluster(t, Security{})
}

// StartSecureCluster is StartCluster with the compose configuration secured further:
// decentralized authentication instead of the token, mutual TLS, or both.
func StartSecureCluster(t testing.TB, sec Security) *Cluster {
	t.Helper()
	token, nodes, confs := writeConfs(t, sec)
	c := &Cluster{Token: token, Sec: sec, Account: server.DEFAULT_GLOBAL_ACCOUNT, Nodes: nodes, Confs: confs, t: t}
	if sec.Operator != nil {
		c.Account = sec.Operator.AccountPub
	}
	c.Servers = make([]*server.Server, Size)
	t.Cleanup(c.Shutdown)
	for i := range Size {
		c.Start(i)
	}
	c.WaitReady(30 * time.Second)
	return c
}

// writeConfs writes the loopback configuration of every node (fresh ports, stores under a
// test directory), secured by sec, and returns the token, the nodes and the configuration
// files.
func writeConfs(t testing.TB, sec Security) (string, []Node, []string) {
	t.Helper()
	path, err := FindCompose()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := ComposeNATSConf(data)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	token := "test-token-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var nodes []Node
	var confs []string
	ports := freePorts(t, 3*Size)
	for i := range Size {
		nodes = append(nodes, Node{Name: fmt.Sprintf("nats-%d", i+1), ClientPort: ports[3*i],
			HTTPPort: ports[3*i+1], ClusterPort: ports[3*i+2], StoreDir: filepath.Join(dir, fmt.Sprintf("data-%d", i+1))})
	}
	for i := range Size {
		lc, err := LoopbackConf(conf, nodes, i, token)
		if err == nil {
			lc, err = sec.secure(lc)
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("nats-%d.conf", i+1))
		if err := os.WriteFile(p, []byte(lc), 0o600); err != nil {
			t.Fatal(err)
		}
		confs = append(confs, p)
	}
	return token, nodes, confs
}

// Start starts node i (again) from its configuration file and store.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	opts, err := server.ProcessConfigFile(c.Confs[i])
	if err != nil {
		c.t.Fatalf("node %d: %v", i+1, err)
	}
	opts.NoSigs, opts.NoLog = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		c.t.Fatalf("node %d: %v", i+1, err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		c.t.Fatalf("node %d not ready for connections", i+1)
	}
	c.Servers[i] = s
}

// Stop shuts node i down and waits for it (a crash as far as the others can tell).
func (c *Cluster) Stop(i int) {
	if s := c.Servers[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.Servers[i] = nil
	}
}

// Shutdown stops every node.
func (c *Cluster) Shutdown() {
	for i := range c.Servers {
		c.Stop(i)
	}
}

// URLs lists the client URLs of every node, running or not.
func (c *Cluster) URLs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, "nats://127.0.0.1:"+strconv.Itoa(n.ClientPort))
	}
	return out
}

// URL is URLs joined with commas, as MCPCTL_NATS_URL takes it.
func (c *Cluster) URL() string { return strings.Join(c.URLs(), ",") }

// WaitReady waits until every running node sees a JetStream meta leader and is current.
func (c *Cluster) WaitReady(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		leader := false
		for _, s := range c.Servers {
			if s == nil {
				continue
			}
			if s.JetStreamIsLeader() {
				leader = true
			}
			if !s.JetStreamIsCurrent() {
				ok = false
			}
		}
		if ok && leader {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the JetStream cluster has no meta leader after %s", timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling the servers' state; nothing to wait on
	}
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return out
}

// DriftReport compares the server options of the compose configuration (as a container
// would load it, with its environment) and of the loopback configuration of the same node,
// ignoring only what LoopbackConf substitutes. It returns one line per other difference.
func DriftReport(composeConf, loopbackConf string, dir string) ([]string, error) {
	load := func(name, text string) (*server.Options, error) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			return nil, err
		}
		return server.ProcessConfigFile(p)
	}
	// The container gets its variables from the environment; define them the same way the
	// loopback file does, so that only the settings differ.
	composeOpts, err := load("compose.conf", "NATS_NAME: \"nats-1\"\nNATS_TOKEN: \"t\"\n"+composeConf)
	if err != nil {
		return nil, fmt.Errorf("compose nats.conf: %w", err)
	}
	loopOpts, err := load("loopback.conf", loopbackConf)
	if err != nil {
		return nil, fmt.Errorf("loopback nats.conf: %w", err)
	}
	for _, o := range []*server.Options{composeOpts, loopOpts} {
		o.Port, o.HTTPPort, o.StoreDir, o.ServerName, o.Authorization = 0, 0, "", "", ""
		o.Cluster.Host, o.Cluster.Port, o.Routes, o.RoutesStr = "", 0, nil, ""
		o.ConfigFile = ""
	}
	var diffs []string
	a, b := reflect.ValueOf(*composeOpts), reflect.ValueOf(*loopOpts)
	for i := range a.NumField() {
		f := a.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s: compose %v, test %v", f.Name, a.Field(i).Interface(), b.Field(i).Interface()))
		}
	}
	return diffs, nil
}
