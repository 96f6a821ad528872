package loader_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cenkalti/backoff/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fakedriver"
	"github.com/riptides/driverbuild/internal/fixtures"
	"github.com/riptides/driverbuild/loader"
	"github.com/riptides/driverbuild/loader/kmod"
)

// recordingKernel stands in for finit_module, delete_module and sysfs.
type recordingKernel struct {
	mu     sync.Mutex
	loaded map[string]kmod.Loaded
	calls  []string
}

func newKernel(loaded ...kmod.Loaded) *recordingKernel {
	k := &recordingKernel{loaded: map[string]kmod.Loaded{}}
	for _, m := range loaded {
		k.loaded[m.Name] = m
	}
	return k
}

func (k *recordingKernel) Loaded(name string) (kmod.Loaded, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, ok := k.loaded[name]
	return m, ok, nil
}

// Load checks what it is given as the kernel would: an uncompressed ELF
// module with a vermagic.
func (k *recordingKernel) Load(file string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !strings.HasSuffix(file, ".ko") {
		return fmt.Errorf("finit_module needs an uncompressed .ko, got %s", file)
	}
	info, err := kmod.ParseFile(file)
	if err != nil {
		return err
	}
	if _, ok := k.loaded[info.Name]; ok {
		return kmod.ErrExists
	}
	k.loaded[info.Name] = kmod.Loaded{Name: info.Name, Version: info.Version, SrcVersion: info.SrcVersion}
	k.calls = append(k.calls, "finit_module "+info.Name+" "+info.Version+" "+info.Vermagic)
	return nil
}

func (k *recordingKernel) Unload(name string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.loaded[name]; !ok {
		return errors.New("not loaded")
	}
	delete(k.loaded, name)
	k.calls = append(k.calls, "delete_module "+name)
	return nil
}

func (k *recordingKernel) Calls() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.calls...)
}

// recordingExec stands in for the package manager and modprobe.
type recordingExec struct {
	mu    sync.Mutex
	have  map[string]bool
	calls []string
	fail  string // a command line starting with this fails
}

func (x *recordingExec) LookPath(file string) (string, error) {
	if x.have[file] {
		return "/usr/bin/" + file, nil
	}
	return "", errors.New("not found")
}

func (x *recordingExec) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	line := strings.Join(append([]string{name}, args...), " ")
	x.calls = append(x.calls, line)
	if x.fail != "" && strings.HasPrefix(line, x.fail) {
		return []byte("E: something broke"), errors.New("exit status 100")
	}
	return nil, nil
}

func (x *recordingExec) Calls() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]string(nil), x.calls...)
}

// release is a GitHub-like release download server.
type release struct {
	mu       sync.Mutex
	files    map[string][]byte
	requests []string
}

func (r *release) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req.URL.Path)
	b, ok := r.files[req.URL.Path]
	if !ok {
		http.NotFound(w, req)
		return
	}
	_, _ = w.Write(b)
}

func (r *release) put(path string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[path] = b
}

func (r *release) get(path string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.files[path]
	return b, ok
}

func (r *release) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// node is one simulated machine: its root, kernel and tools.
type node struct {
	root    string
	release string // uname -r
	arch    string
	kernel  *recordingKernel
	exec    *recordingExec
	cache   string
	http    *recordingTransport
	backoff func() backoff.BackOff
}

// recordingTransport notes every request the loader makes.
type recordingTransport struct {
	mu       sync.Mutex
	requests []string
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.requests = append(rt.requests, r.Method+" "+r.URL.String())
	rt.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (rt *recordingTransport) Requests() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]string(nil), rt.requests...)
}

func newNode(t *testing.T, osRelease, kernelRelease string) *node {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "os-release"), fixtures.Read(t, "os-release", osRelease), 0o644))
	return &node{
		root: root, release: kernelRelease, arch: "x86_64", kernel: newKernel(),
		exec:    &recordingExec{have: map[string]bool{"apt-get": true, "dpkg": true, "dnf": true, "rpm": true}},
		cache:   t.TempDir(),
		http:    &recordingTransport{},
		backoff: func() backoff.BackOff { return &backoff.ZeroBackOff{} },
	}
}

// config is a run on the node against a release URL.
func (n *node) config(releaseURL string) loader.Config {
	cfg := loader.Defaults()
	cfg.DriverVersion = "v0.1.2"
	cfg.ReleaseURL = releaseURL
	cfg.CacheDir = n.cache
	cfg.HostRoot = n.root
	cfg.Mode = loader.ModeContainer
	return cfg
}

type result struct {
	err  error
	code int
	out  string
}

func (n *node) run(t *testing.T, cfg loader.Config) result {
	t.Helper()
	require.NoError(t, cfg.Finish())
	var out strings.Builder
	l := &loader.Loader{
		Config: cfg, HTTP: &http.Client{Transport: n.http}, Kernel: n.kernel, Exec: n.exec, Out: &out,
		Uname:   func() (string, string, error) { return n.release, n.arch, nil },
		Backoff: n.backoff,
	}
	ctx := zerolog.New(zerolog.NewTestWriter(t)).WithContext(context.Background())
	err := l.Run(ctx)
	return result{err: err, code: loader.ExitCode(err), out: out.String()}
}

// serveRelease publishes packages at /dl/{driver_version}/{name}, with a
// .sha256 asset beside each when withDigest.
func serveRelease(t *testing.T) (*release, string) {
	t.Helper()
	r := &release{files: map[string][]byte{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL + "/dl"
}

func publish(t *testing.T, r *release, name string, spec fakedriver.Spec, withDigest bool) []byte {
	t.Helper()
	b := fakedriver.MustPackage(t, spec)
	r.put("/dl/"+spec.DriverVersion+"/"+name, b)
	if withDigest {
		r.put("/dl/"+spec.DriverVersion+"/"+name+".sha256", []byte(sha(b)+"  "+name+"\n"))
	}
	return b
}
