package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// environment is what setup installed and built, and what the report states about the
// machine.
type environment struct {
	Tmp           string
	MCPCTL        string // built binary
	TestServer    string // built Go test server
	Hello         string // built Go hello world (the process-start floor)
	FloorClient   string // built Go program making one raw request on a bridge socket
	MCPC          string // node_modules/.bin/mcpc
	EverythingJS  string // dist/index.js of server-everything
	Node          string
	MCPCTLHome    string
	MCPCHome      string
	MCPConfig     string // mcp.json naming both servers for mcpc
	Machine       machine
	Versions      map[string]string
	RepoRoot      string
	MCPCTLVersion string
}

type machine struct {
	CPUs     int
	CPUModel string
	MemTotal string
	Kernel   string
}

func setup(ctx context.Context, c config, tmp string) (*environment, error) {
	root, err := repoRoot(ctx)
	if err != nil {
		return nil, err
	}
	env := &environment{
		Tmp:         tmp,
		RepoRoot:    root,
		MCPCTL:      filepath.Join(tmp, "bin", "mcpctl"),
		TestServer:  filepath.Join(tmp, "bin", "mcptestserver"),
		Hello:       filepath.Join(tmp, "bin", "hello"),
		FloorClient: filepath.Join(tmp, "bin", "rawreq"),
		MCPCTLHome:  filepath.Join(tmp, "h"),
		MCPCHome:    filepath.Join(tmp, "c"),
		MCPConfig:   filepath.Join(tmp, "mcp.json"),
		Versions:    map[string]string{},
	}
	logf("building mcpctl, the Go test server and a hello world into %s", tmp)
	if err := goBuild(ctx, root, env.MCPCTL, "./cmd/mcpctl"); err != nil {
		return nil, err
	}
	// The hub starts bridges from mcpctld next to mcpctl.
	if err := goBuild(ctx, root, filepath.Join(filepath.Dir(env.MCPCTL), "mcpctld"), "./cmd/mcpctld"); err != nil {
		return nil, err
	}
	if err := goBuild(ctx, root, env.TestServer, "./e2e/mcptestserver"); err != nil {
		return nil, err
	}
	if err := buildTiny(ctx, tmp, "hello", helloSrc, env.Hello); err != nil {
		return nil, err
	}
	if err := buildTiny(ctx, tmp, "rawreq", floorClientSrc, env.FloorClient); err != nil {
		return nil, err
	}
	// A run of mcpctl alone against the Go test server alone needs neither node nor npm.
	if !c.noMCPC || strings.Contains(c.servers, "everything") {
		if env.Node, err = exec.LookPath("node"); err != nil {
			return nil, fmt.Errorf("node is needed for mcpc and server-everything: %w", err)
		}
		modules, err := npmInstall(ctx, c.cache)
		if err != nil {
			return nil, err
		}
		env.MCPC = filepath.Join(modules, ".bin", "mcpc")
		env.EverythingJS = filepath.Join(modules, "@modelcontextprotocol", "server-everything", "dist", "index.js")
		for _, p := range []string{env.MCPC, env.EverythingJS} {
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("npm install did not provide %s: %w", p, err)
			}
		}
	}
	for _, d := range []string{env.MCPCTLHome, env.MCPCHome} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	cfg := fmt.Sprintf(`{"mcpServers":{"go":{"command":%q,"args":[]},"everything":{"command":%q,"args":[%q,"stdio"]}}}`,
		env.TestServer, env.Node, env.EverythingJS)
	if err := os.WriteFile(env.MCPConfig, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	env.Machine = readMachine()
	env.Versions["go"] = runtime.Version()
	env.Versions["node"], env.Versions["mcpc"] = "–", "–"
	if env.Node != "" {
		env.Versions["node"] = firstLine(output(ctx, env.Node, "--version"))
		env.Versions["mcpc"] = firstLine(output(ctx, env.Node, env.MCPC, "--version"))
	}
	env.Versions["server-everything"] = strings.TrimPrefix(everythingPackage, "@modelcontextprotocol/server-everything@")
	env.Versions["mcpctl"] = strings.TrimPrefix(firstLine(output(ctx, env.MCPCTL, "--version")), "mcpctl ") + " (" + gitDescribe(ctx, root) + ")"
	return env, nil
}

func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the benchmark from inside the mcpctl module (go run ./e2e/bench)")
	}
	return filepath.Dir(mod), nil
}

func goBuild(ctx context.Context, root, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// helloSrc is the smallest Go program that writes a line: the cost of starting any Go
// process here, which no Go CLI can beat.
const helloSrc = "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"hello\\n\") }\n"

// buildTiny builds a one-file Go program with no dependencies outside the standard library.
func buildTiny(ctx context.Context, tmp, name, src, out string) error {
	dir := filepath.Join(tmp, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mod := "module " + name + "\n\ngo 1.22\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", name, err, b)
	}
	return nil
}

// npmInstall installs the pinned packages into a cache directory keyed by their versions
// and returns its node_modules. An install that already completed is reused.
func npmInstall(ctx context.Context, cache string) (string, error) {
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(base, "mcpctl-bench")
	}
	sum := sha256.Sum256([]byte(mcpcPackage + " " + everythingPackage))
	dir := filepath.Join(cache, "npm-"+hex.EncodeToString(sum[:6]))
	modules := filepath.Join(dir, "node_modules")
	done := filepath.Join(dir, ".installed")
	if _, err := os.Stat(done); err == nil {
		logf("reusing npm packages in %s", dir)
		return modules, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"mcpctl-bench","private":true}`), 0o644); err != nil {
		return "", err
	}
	logf("npm install %s %s into %s", mcpcPackage, everythingPackage, dir)
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir,
		mcpcPackage, everythingPackage)
	cmd.Dir = dir
	// npm's own cache goes next to the install, not into the user's ~/.npm.
	cmd.Env = append(os.Environ(), "npm_config_cache="+filepath.Join(cache, "npm-cache"), "npm_config_update_notifier=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install: %v\n%s", err, b)
	}
	if err := os.WriteFile(done, []byte(time.Now().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return "", err
	}
	return modules, nil
}

func output(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func gitDescribe(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "-C", root, "describe", "--always", "--dirty")
	b, err := cmd.Output()
	if err != nil {
		return "unknown commit"
	}
	return strings.TrimSpace(string(b))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

func readMachine() machine {
	m := machine{CPUs: runtime.NumCPU()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, ln := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(ln, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				m.MemTotal = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = string(bytes.TrimSpace(b))
	}
	return m
}
