package hostile

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// bin is where TestMain built the binaries.
var bin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "hostile-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		build := exec.Command("go", "build", "-o", dir+"/", "./cmd/build-service", "./cmd/ghsim", "./cmd/driver-loader")
		build.Dir = "../.."
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build the binaries:", err)
			return 1
		}
		bin = dir
		return m.Run()
	}())
}

// freeAddr is a loopback address nothing listens on, for a process to take.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// proc is a binary running for the test; it is killed when the test ends.
type proc struct {
	cmd  *exec.Cmd
	log  string // its stderr
	done chan error
}

func start(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	log := filepath.Join(dir, name+".log")
	f, err := os.Create(log)
	require.NoError(t, err)
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, f, f
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, log: log, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) logText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(p.log)
	require.NoError(t, err)
	return string(b)
}

func (p *proc) logSize(t *testing.T) int64 {
	t.Helper()
	fi, err := os.Stat(p.log)
	require.NoError(t, err)
	return fi.Size()
}

// peakRSS is the most memory the process has held resident (VmHWM), in bytes.
func (p *proc) peakRSS(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	require.FailNow(t, "no VmHWM in /proc/PID/status")
	return 0
}

// service is a build-service running against a ghsim, both binaries.
type service struct {
	URL, SimURL, Secret string
	Dir                 string
	Proc                *proc
}

// simConfig is the part of ghsim's written config the tests read.
type simConfig struct {
	GitHub struct {
		WebURL string `yaml:"web_url"`
		App    struct {
			WebhookSecret string `yaml:"webhook_secret"`
		} `yaml:"app"`
	} `yaml:"github"`
}

// startSim runs ghsim delivering webhooks to serviceAddr, and returns the
// build-service config it wrote.
func startSim(t *testing.T, dir, serviceAddr string) (configPath string, cfg simConfig) {
	t.Helper()
	configPath = filepath.Join(dir, "sim.yml")
	start(t, dir, "ghsim", "-listen", "127.0.0.1:0", "-releases", "v0.1.2", "-build-duration", "1s",
		"-webhook-url", "http://"+serviceAddr+"/api/github/hook", "-write-config", configPath)
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(configPath)
		return err == nil && yaml.Unmarshal(b, &cfg) == nil && cfg.GitHub.WebURL != ""
	}, 20*time.Second, 20*time.Millisecond, "ghsim writes its config")
	return configPath, cfg
}

func startService(t *testing.T) *service {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	configPath, cfg := startSim(t, dir, addr)
	s := &service{URL: "http://" + addr, SimURL: strings.TrimSuffix(cfg.GitHub.WebURL, "/"), Secret: cfg.GitHub.App.WebhookSecret, Dir: dir}
	s.Proc = start(t, dir, "build-service", "-config", configPath, "-listen", addr, "-log-format", "json")
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "build-service answers /healthz")
	return s
}

// run runs a binary to its end and returns its exit code and output.
func run(t *testing.T, dir, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode(), out.String()
	}
	require.NoError(t, err, out.String())
	return 0, out.String()
}
