package qemu_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/e2e"
	"github.com/riptides/driverbuild/internal/fixtures"
	"github.com/riptides/driverbuild/internal/qemu"
	"github.com/riptides/driverbuild/loader"
)

// Flag is the environment variable that turns the kernel end-to-end test on.
const Flag = "DRIVERBUILD_E2E_KERNEL"

// The whole loop on a real kernel: Debian 12's current kernel boots under
// QEMU with the driver-loader as init's payload. The first boot finds no
// package, asks the build-service, whose ghsim runs the real build script
// (-runner-command) against the real headers; the loader downloads, verifies and
// loads the module. The second boot finds the package and builds nothing.
// A third is given a module built for the cloud flavour of the same
// release, which the loader's vermagic check refuses.
func TestKernel(t *testing.T) {
	if os.Getenv(Flag) == "" {
		t.Skipf("boots a real kernel under QEMU and builds the driver for real (root, apt, qemu-system-x86): run `make e2e-kernel`, or set %s=1", Flag)
	}
	require.Zero(t, os.Geteuid(), "run as root: the build installs kernel headers with apt-get")
	for _, tool := range []string{"qemu-system-x86_64", "apt-get", "dpkg-deb", "/bin/busybox", "make", "gcc"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is missing: `make e2e-kernel-deps` installs what the test needs", tool)
	}
	ctx := t.Context()
	root := repoRoot(t)
	work := t.TempDir()
	art := artifacts(t)

	release, err := qemu.CurrentRelease(ctx, "amd64")
	require.NoError(t, err)
	cloud, err := qemu.CurrentRelease(ctx, "cloud-amd64")
	require.NoError(t, err)
	accel, why, _ := qemu.Accel()
	t.Logf("kernel %s (and %s for the refusal); accelerator %s: %s", release, cloud, accel, why)

	kdir := filepath.Join(work, "kernel")
	require.NoError(t, os.MkdirAll(kdir, 0o755))
	k, err := qemu.FetchKernel(ctx, release, kdir)
	require.NoError(t, err)
	nic, err := k.ModuleFiles(qemu.NICModule)
	require.NoError(t, err)

	loaderBin := filepath.Join(work, "driver-loader")
	gobuild := exec.CommandContext(ctx, "go", "build", "-o", loaderBin, "./cmd/driver-loader")
	gobuild.Dir, gobuild.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	out, err := gobuild.CombinedOutput()
	require.NoError(t, err, "%s", out)
	base, err := qemu.Guest{
		Busybox:   "/bin/busybox",
		Loader:    loaderBin,
		OSRelease: fixtures.Read(t, "os-release", "debian-12"),
		Modules:   nic,
	}.Initramfs()
	require.NoError(t, err)

	builder := newNativeBuilder(t, root, work, art)
	env := e2e.Start(t, e2e.Options{RunnerCommand: shellQuote(builder.script)})
	simPort := port(t, env.ReleaseURL)
	config := func(driverVersion string, service bool) []byte {
		c := fmt.Sprintf("driver_version: %s\nrelease_url: %s\nbuild_timeout: 10m\n", driverVersion, guestURL(t, env.ReleaseURL))
		if service {
			c += "service_url: " + guestURL(t, env.ServiceURL) + "\n"
		}
		return []byte(c)
	}
	boot := func(name string, loaderConfig []byte) *console {
		t.Helper()
		extra, err := qemu.Boot(loaderConfig, simPort)
		require.NoError(t, err)
		c := newConsole(t, filepath.Join(art, name+".console.log"))
		m := qemu.Machine{Kernel: k.Image, Initramfs: append(append([]byte(nil), base...), extra...), Dir: work, Console: c}
		bootCtx, cancel := context.WithTimeout(ctx, 15*time.Minute)
		defer cancel()
		err = m.Run(bootCtx)
		c.close()
		require.NoError(t, err, "boot %s; console in %s", name, c.path)
		require.True(t, c.has("e2e: done"), "boot %s did not finish; console in %s", name, c.path)
		return c
	}
	pkg := "riptides-driver-debian-" + release + "_v0.1.2_amd64.deb"

	// 1. Cold: 404, POST /build, the real build, download, load.
	cold := boot("1-cold", config("v0.1.2", true))
	require.Equal(t, loader.ExitOK, cold.exit(t), "console in %s", cold.path)
	cold.loaded(t, "v0.1.2")
	require.Equal(t, int64(1), env.Sim.Stats().Dispatches, "one build dispatched")
	require.Len(t, builder.builds(t, "v0.1.2"), 1, "the real build script ran once")
	require.True(t, cold.has("package: "+pkg), "the loader named the package as the build did")
	require.True(t, cold.has("package missing; asking the build-service"), "the 404 led to POST /build")
	require.Equal(t, []string{
		"Set up job: success", "Install kernel headers: success", "Build driver: success",
		"Package: success", "Upload: success", "Complete job: success",
	}, jobSteps(t, env), "the run's steps are the build script's")

	// 2. Warm: the package is in the release; nothing is built.
	warm := boot("2-warm", config("v0.1.2", true))
	require.Equal(t, loader.ExitOK, warm.exit(t), "console in %s", warm.path)
	warm.loaded(t, "v0.1.2")
	require.Equal(t, int64(1), env.Sim.Stats().Dispatches, "no second dispatch")
	require.Len(t, builder.builds(t, "v0.1.2"), 1, "no second build")
	require.False(t, warm.has("asking the build-service"), "found in the release: no POST /build; console in %s", warm.path)

	// 3. A module for the cloud flavour of the same release, published
	// under this kernel's package name: the vermagic check refuses it.
	cloudOut := filepath.Join(work, "cloud")
	err = builder.build(map[string]string{
		"kernel_version": cloud, "architecture": "x86_64", "distribution": "debian",
		"distro_version": "12", "driver_version": "v0.1.0",
	}, cloudOut)
	require.NoError(t, err)
	cloudPkg, err := os.ReadFile(filepath.Join(cloudOut, "riptides-driver-debian-"+cloud+"_v0.1.0_amd64.deb"))
	require.NoError(t, err)
	upload(t, env, "v0.1.0", "riptides-driver-debian-"+release+"_v0.1.0_amd64.deb", cloudPkg)
	refused := boot("3-cloud-flavour", config("v0.1.0", false))
	require.Equal(t, loader.ExitRejected, refused.exit(t), "console in %s", refused.path)
	require.Empty(t, refused.lines("e2e: module: "), "nothing loaded")
	var said bool
	for _, l := range refused.lines("") {
		said = said || strings.Contains(l, "module does not match the running kernel") &&
			strings.Contains(l, "built for kernel \\\""+cloud) && strings.Contains(l, "this node runs \\\""+release)
	}
	require.True(t, said, "refused for its vermagic; console in %s", refused.path)

	t.Logf("timings (%s): cold %s (the build itself %s), warm %s, loader start to module loaded; boots took %s, %s, %s",
		accel, cold.loaderTime(t).Round(100*time.Millisecond), builder.builds(t, "v0.1.2")[0].Round(100*time.Millisecond),
		warm.loaderTime(t).Round(10*time.Millisecond),
		cold.bootTime().Round(100*time.Millisecond), warm.bootTime().Round(100*time.Millisecond), refused.bootTime().Round(100*time.Millisecond))
}

// nativeBuilder is ghsim's runner command in this test: a shell script
// that runs images/scripts/build-native.sh with the workflow's inputs in
// its environment and OUT_DIR, keeping its log with the artifacts and its
// time, in milliseconds, beside the log.
type nativeBuilder struct {
	script, logs string
}

func newNativeBuilder(t *testing.T, root, dir, logs string) *nativeBuilder {
	t.Helper()
	script := filepath.Join(dir, "runner.sh")
	body := fmt.Sprintf(`#!/bin/sh
logs=%s
log="$logs/build-$KERNEL_VERSION-$DRIVER_VERSION.log"
start=$(date +%%s%%N)
{ %s; echo $? >"$log.rc"; } 2>&1 | tee "$log"
echo $(( ($(date +%%s%%N) - start) / 1000000 )) >"$log.ms"
exit "$(cat "$log.rc")"
`, shellQuote(logs), shellQuote(filepath.Join(root, "images", "scripts", "build-native.sh")))
	require.NoError(t, os.WriteFile(script, []byte(body), 0o755))
	return &nativeBuilder{script: script, logs: logs}
}

// build runs the runner script as ghsim does, for a build ghsim was not
// asked for.
func (b *nativeBuilder) build(inputs map[string]string, out string) error {
	cmd := exec.Command(b.script)
	cmd.Env = append(os.Environ(), "OUT_DIR="+out)
	for k, v := range inputs {
		cmd.Env = append(cmd.Env, strings.ToUpper(k)+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", b.script, err, out)
	}
	return nil
}

// builds are the times of the builds of a driver version the script ran.
func (b *nativeBuilder) builds(t *testing.T, driverVersion string) []time.Duration {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(b.logs, "build-*-"+driverVersion+".log.ms"))
	require.NoError(t, err)
	var out []time.Duration
	for _, f := range files {
		ms, err := os.ReadFile(f)
		require.NoError(t, err)
		n, err := strconv.Atoi(strings.TrimSpace(string(ms)))
		require.NoError(t, err)
		out = append(out, time.Duration(n)*time.Millisecond)
	}
	return out
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// upload publishes a package and its .sha256 through ghsim's release
// upload API, as driver-build.yml's gh release upload does.
func upload(t *testing.T, env *e2e.Env, tag, name string, data []byte) {
	t.Helper()
	gh := simClient(t, env)
	rel, _, err := gh.Repositories.GetReleaseByTag(t.Context(), env.Config.Repository.Owner, env.Config.Repository.Name, tag)
	require.NoError(t, err)
	dir := t.TempDir()
	files := map[string][]byte{name: data, name + ".sha256": fmt.Appendf(nil, "%s  %s\n", sha256Hex(data), name)}
	// The .sha256 first, as the workflow does: a listed package always has its digest.
	for _, n := range []string{name + ".sha256", name} {
		p := filepath.Join(dir, n)
		require.NoError(t, os.WriteFile(p, files[n], 0o644))
		f, err := os.Open(p)
		require.NoError(t, err)
		opts := &github.UploadOptions{Name: n}
		if n == name {
			opts.Label = "debian 12" // the distro version it was built for, as the workflow labels it
		}
		_, _, err = gh.Repositories.UploadReleaseAsset(t.Context(), env.Config.Repository.Owner, env.Config.Repository.Name, rel.GetID(), opts, f)
		f.Close()
		require.NoError(t, err)
	}
}

// simClient talks to ghsim as the app's installation.
func simClient(t *testing.T, env *e2e.Env) *github.Client {
	t.Helper()
	sim := env.Sim
	creator := githubapp.NewClientCreator(sim.URL()+"/api/v3/", "", sim.AppID(), sim.PrivateKeyPEM())
	gh, err := creator.NewInstallationClient(sim.InstallationID())
	require.NoError(t, err)
	gh.UploadURL, err = url.Parse(sim.URL() + "/api/uploads/")
	require.NoError(t, err)
	return gh
}

// jobSteps are the steps of the one job of the one run of driver-build.yml,
// with their conclusions.
func jobSteps(t *testing.T, env *e2e.Env) []string {
	t.Helper()
	gh := simClient(t, env)
	owner, repo := env.Config.Repository.Owner, env.Config.Repository.Name
	runs, _, err := gh.Actions.ListWorkflowRunsByFileName(t.Context(), owner, repo, "driver-build.yml", nil)
	require.NoError(t, err)
	require.Len(t, runs.WorkflowRuns, 1)
	jobs, _, err := gh.Actions.ListWorkflowJobs(t.Context(), owner, repo, runs.WorkflowRuns[0].GetID(), nil)
	require.NoError(t, err)
	require.Len(t, jobs.Jobs, 1)
	var out []string
	for _, s := range jobs.Jobs[0].Steps {
		out = append(out, s.GetName()+": "+s.GetConclusion())
	}
	return out
}

// console is one boot's serial console: written to a file, with the
// "e2e: " lines init prints kept and stamped as they arrive.
type console struct {
	path  string
	file  *os.File
	start time.Time

	mu    sync.Mutex
	part  []byte
	seen  []line
	ended time.Time
}

type line struct {
	at   time.Time
	text string
}

func newConsole(t *testing.T, path string) *console {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	return &console{path: path, file: f, start: time.Now()}
}

func (c *console) Write(p []byte) (int, error) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.part = append(c.part, p...)
	for {
		i := bytes.IndexByte(c.part, '\n')
		if i < 0 {
			break
		}
		c.seen = append(c.seen, line{now, strings.TrimRight(string(c.part[:i]), "\r")})
		c.part = c.part[i+1:]
	}
	return c.file.Write(p)
}

func (c *console) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = time.Now()
	_ = c.file.Close()
}

func (c *console) has(s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.seen {
		if strings.Contains(l.text, s) {
			return true
		}
	}
	return false
}

// lines are the console lines starting with prefix, without it.
func (c *console) lines(prefix string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range c.seen {
		if rest, ok := strings.CutPrefix(l.text, prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}

func (c *console) at(t *testing.T, prefix string) time.Time {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.seen {
		if strings.HasPrefix(l.text, prefix) {
			return l.at
		}
	}
	t.Fatalf("no %q on the console (%s)", prefix, c.path)
	return time.Time{}
}

func (c *console) exit(t *testing.T) int {
	t.Helper()
	got := c.lines("e2e: loader exit ")
	require.Len(t, got, 1, "one loader run; console in %s", c.path)
	code, err := strconv.Atoi(got[0])
	require.NoError(t, err)
	return code
}

// loaded asserts the module is in /proc/modules, shows its version as its
// parameter, and said so in the kernel log.
func (c *console) loaded(t *testing.T, version string) {
	t.Helper()
	mods := c.lines("e2e: module: ")
	require.Len(t, mods, 1, "riptides in /proc/modules; console in %s", c.path)
	require.Regexp(t, `^riptides \d+ 0 - Live 0x[0-9a-f]+ \(OE\)$`, mods[0])
	require.Equal(t, []string{version}, c.lines("e2e: version parameter value "), "the version as its parameter")
	require.Equal(t, []string{"444"}, c.lines("e2e: version parameter mode "), "a read-only parameter")
	var said bool
	for _, l := range c.lines("e2e: kernel: ") {
		said = said || strings.HasSuffix(l, "riptides: driver "+version+" loaded")
	}
	require.True(t, said, "the load line in the kernel log; console in %s", c.path)
}

// loaderTime is from the loader's start to its exit with the module loaded.
func (c *console) loaderTime(t *testing.T) time.Duration {
	return c.at(t, "e2e: loader exit ").Sub(c.at(t, "e2e: loader start"))
}

func (c *console) bootTime() time.Duration { return c.ended.Sub(c.start) }

// artifacts is where the consoles and build logs go: $E2E_KERNEL_ARTIFACTS
// or a fresh temporary directory. They are removed when the test passes and
// kept, with a note saying where, when it fails.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("E2E_KERNEL_ARTIFACTS")
	var err error
	if dir == "" {
		dir, err = os.MkdirTemp("", "driverbuild-e2e-kernel-")
	} else {
		dir = filepath.Join(dir, time.Now().UTC().Format("20060102T150405Z"))
		err = os.MkdirAll(dir, 0o755)
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("guest consoles and build logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// guestURL is a URL on this machine's loopback as the guest reaches it.
func guestURL(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	p.Host = qemu.HostAddr + ":" + p.Port()
	return p.String()
}

func port(t *testing.T, u string) int {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	n, err := strconv.Atoi(p.Port())
	require.NoError(t, err)
	return n
}

var _ io.Writer = (*console)(nil)

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
