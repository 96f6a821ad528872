// Package images_test runs the build scripts against local fakes, with no
// network: dnf, apt-get, dpkg-deb, koji, make and uname are stand-ins put
// first on PATH, and an httptest TLS server plays the URL sources (kernel
// URLs, the Debian snapshot archive, Launchpad), which the scripts reach
// over https only. Real curl, jq and bash do the rest.
package images_test

import (
	"bufio"
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

var nfpmDir string // holds the nfpm stand-in, built once

func TestMain(m *testing.M) {
	code := func() int {
		// The scripts run real bash, curl and jq. Without them the tests are
		// skipped on a workstation and fail in CI.
		for _, tool := range []string{"bash", "curl", "jq", "sha256sum"} {
			if _, err := exec.LookPath(tool); err != nil {
				fmt.Fprintf(os.Stderr, "images: %s is not installed (apt-get install -y curl jq)\n", tool)
				if os.Getenv("CI") != "" {
					return 1
				}
				return 0
			}
		}
		dir, err := os.MkdirTemp("", "nfpm-standin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "nfpm"), "./testdata/nfpm").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build the nfpm stand-in: %v\n%s", err, out)
			return 1
		}
		nfpmDir = dir
		return m.Run()
	}()
	os.Exit(code)
}

// env is one isolated run of a script: its own root, work directory, fake
// repositories and HTTP server.
type env struct {
	t       *testing.T
	dir     string
	sysroot string
	work    string
	log     string
	srv     *httptest.Server
	vars    map[string]string

	mu       sync.Mutex
	files    map[string]string // request URI -> body
	requests []string
}

func newEnv(t *testing.T, distribution, distroVersion, arch, release string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, sysroot: filepath.Join(dir, "root"), work: filepath.Join(dir, "work"), log: filepath.Join(dir, "commands.log"), files: map[string]string{}}
	e.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.requests = append(e.requests, r.URL.RequestURI())
		body, ok := e.files[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(strings.ReplaceAll(body, "SRV", "https://"+r.Host)))
	}))
	t.Cleanup(e.srv.Close)
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw}), 0o644))
	path, err := filepath.Abs("testdata/fakebin")
	require.NoError(t, err)
	e.vars = map[string]string{
		"PATH":            path + ":" + nfpmDir + ":" + os.Getenv("PATH"),
		"HOME":            dir,
		"KVERSION":        release,
		"DISTRIBUTION":    distribution,
		"DISTRO_VERSION":  distroVersion,
		"ARCH":            arch,
		"SYSROOT":         e.sysroot,
		"HEADERS_WORKDIR": e.work,
		"FAKE_LOG":        e.log,
		"CURL_CA_BUNDLE":  ca,
		"KERNEL_URLS":     "",
		"SNAPSHOT_URL":    e.srv.URL + "/snapshot",
		"LAUNCHPAD_API":   e.srv.URL + "/1.0",
		// Anything that tried the real network would fail at once.
		"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1,localhost",
	}
	return e
}

func (e *env) serve(uri, body string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.files[uri] = body
}

// repo writes a fake repository's index and points variable at it.
func (e *env) repo(variable string, lines ...string) {
	f := filepath.Join(e.dir, strings.ToLower(variable))
	require.NoError(e.t, os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	e.vars[variable] = f
}

func (e *env) run(script string, args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	touchInputs(e.t)
	cmd := exec.CommandContext(context.Background(), "bash", append([]string{filepath.Join("scripts", script)}, args...)...)
	for k, v := range e.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// touchInputs reads the scripts and fakes the subprocesses run, so that go
// test's cache, which sees only the files this process opens, reruns the
// tests when they change.
func touchInputs(t *testing.T) {
	t.Helper()
	for _, glob := range []string{"scripts/*", "testdata/fakebin/*"} {
		files, err := filepath.Glob(glob)
		require.NoError(t, err)
		for _, f := range files {
			_, err := os.ReadFile(f)
			require.NoError(t, err)
		}
	}
}

func (e *env) commands() []string {
	b, err := os.ReadFile(e.log)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(e.t, err)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func (e *env) requested() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.requests...)
}

// tried lists the sources a run says it tried, in order.
func tried(stderr string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "install-headers: trying "); ok {
			out = append(out, s)
		}
	}
	return out
}

func TestInstallHeaders(t *testing.T) {
	t.Parallel()
	type tc struct {
		distribution, version, arch, release string
		setup                                func(e *env)
		tried                                []string
		ok                                   bool
		check                                func(t *testing.T, e *env, stderr string)
	}
	const fedora = "6.15.5-200.fc42.x86_64"
	const amazon = "6.1.153-175.280.amzn2023.x86_64"
	for name, tc := range map[string]tc{
		"fedora from dnf": {
			"fedora", "42", "x86_64", fedora,
			func(e *env) {
				e.repo("FAKE_DNF_REPO", "default kernel-devel-"+fedora)
				e.vars["KERNEL_URLS"] = e.srv.URL + "/a"
			},
			[]string{"dnf kernel-devel-" + fedora}, true,
			func(t *testing.T, e *env, _ string) {
				require.Empty(t, e.requested(), "the first source that works ends the chain")
				require.Equal(t, []string{"dnf install -y kernel-devel-" + fedora}, e.commands())
			},
		},
		"fedora from the second URL": {
			"fedora", "42", "x86_64", fedora,
			func(e *env) {
				e.vars["KERNEL_URLS"] = e.srv.URL + "/a " + e.srv.URL + "/b/"
				e.serve("/b/kernel-devel-"+fedora+".rpm", "release: "+fedora+"\n")
			},
			nil, true,
			func(t *testing.T, e *env, stderr string) {
				require.Equal(t, []string{"dnf kernel-devel-" + fedora, "url " + e.srv.URL + "/a", "url " + e.srv.URL + "/b/"}, tried(stderr))
				require.Equal(t, []string{"/a/kernel-devel-" + fedora + ".rpm", "/b/kernel-devel-" + fedora + ".rpm"}, e.requested())
				require.Contains(t, e.commands(), "dnf install -y "+e.work+"/kernel-devel-"+fedora+".rpm")
				require.Contains(t, stderr, "headers of "+fedora+" from url "+e.srv.URL+"/b/")
			},
		},
		"fedora from koji": {
			"fedora", "42", "x86_64", fedora,
			func(e *env) {
				e.vars["KERNEL_URLS"] = e.srv.URL + "/a"
				e.vars["KOJI_FEDORA_HUB"] = "https://koji.example/kojihub"
				e.repo("FAKE_KOJI", "fedora kernel-devel-"+fedora+" "+fedora)
			},
			nil, true,
			func(t *testing.T, e *env, stderr string) {
				require.Equal(t, []string{"dnf kernel-devel-" + fedora, "url " + e.srv.URL + "/a", "koji fedora"}, tried(stderr))
				require.Contains(t, e.commands(), "koji --config "+e.work+"/koji.conf --profile fedora download-build --rpm kernel-devel-"+fedora)
				conf, err := os.ReadFile(filepath.Join(e.work, "koji.conf"))
				require.NoError(t, err)
				require.Contains(t, string(conf), "[fedora]\nserver = https://koji.example/kojihub\n")
			},
		},
		"centos stream from cbs": {
			"centos", "stream9", "aarch64", "5.14.0-596.el9.aarch64",
			func(e *env) {
				e.vars["KERNEL_URLS"] = e.srv.URL + "/AppStream"
				e.vars["KOJI_CBS_HUB"] = "https://cbs.example/kojihub"
				e.repo("FAKE_KOJI", "cbs kernel-devel-5.14.0-596.el9.aarch64 5.14.0-596.el9.aarch64")
			},
			[]string{"dnf kernel-devel-5.14.0-596.el9.aarch64", "url %SRV%/AppStream", "koji stream", "koji cbs"}, true,
			func(t *testing.T, e *env, _ string) {
				conf, err := os.ReadFile(filepath.Join(e.work, "koji.conf"))
				require.NoError(t, err)
				require.Contains(t, string(conf), "[cbs]\nserver = https://cbs.example/kojihub\n")
				require.Contains(t, string(conf), "[stream]\nserver = https://kojihub.stream.centos.org/kojihub\n")
			},
		},
		"amazon linux from the latest release": {
			"amazonlinux", "2023", "x86_64", amazon,
			func(e *env) { e.repo("FAKE_DNF_REPO", "latest kernel-devel-"+amazon) },
			[]string{"dnf kernel-devel-" + amazon, "dnf --releasever=latest kernel-devel-" + amazon}, true,
			func(t *testing.T, e *env, _ string) {
				require.Contains(t, e.commands(), "dnf install -y --releasever=latest kernel-devel-"+amazon)
			},
		},
		"amazon linux from the kernel-livepatch repository": {
			"amazonlinux", "2023", "x86_64", amazon,
			func(e *env) { e.repo("FAKE_DNF_REPO", "kernel-livepatch kernel-devel-"+amazon) },
			[]string{"dnf kernel-devel-" + amazon, "dnf --releasever=latest kernel-devel-" + amazon, "dnf --enablerepo=kernel-livepatch kernel-devel-" + amazon}, true,
			func(t *testing.T, e *env, _ string) {
				require.Contains(t, e.commands(), "dnf install -y --enablerepo=kernel-livepatch kernel-devel-"+amazon)
			},
		},
		// The kernel-livepatch package is a kpatch module: having it is no
		// headers.
		"amazon linux with only a livepatch package": {
			"amazonlinux", "2023", "x86_64", amazon,
			func(e *env) { e.repo("FAKE_DNF_REPO", "kernel-livepatch kernel-livepatch-6.1.153-175.280") },
			[]string{"dnf kernel-devel-" + amazon, "dnf --releasever=latest kernel-devel-" + amazon, "dnf --enablerepo=kernel-livepatch kernel-devel-" + amazon}, false,
			nil,
		},
		"fedora nowhere": {
			"fedora", "43", "x86_64", "7.1.8-100.fc43.x86_64",
			func(e *env) { e.vars["KERNEL_URLS"] = e.srv.URL + "/updates " + e.srv.URL + "/releases" },
			[]string{"dnf kernel-devel-7.1.8-100.fc43.x86_64", "url %SRV%/updates", "url %SRV%/releases", "koji fedora"}, false,
			func(t *testing.T, e *env, stderr string) {
				require.Contains(t, stderr, "no headers of 7.1.8-100.fc43.x86_64 for fedora 43 x86_64; tried:\n"+
					"install-headers:   - dnf kernel-devel-7.1.8-100.fc43.x86_64\n"+
					"install-headers:   - url "+e.srv.URL+"/updates\n"+
					"install-headers:   - url "+e.srv.URL+"/releases\n"+
					"install-headers:   - koji fedora\n")
			},
		},
		"debian from apt": {
			"debian", "13", "x86_64", "6.12.63+deb13-amd64",
			func(e *env) { e.repo("FAKE_APT_REPO", "linux-headers-6.12.63+deb13-amd64 6.12.63+deb13-amd64") },
			[]string{"apt linux-headers-6.12.63+deb13-amd64"}, true,
			func(t *testing.T, e *env, _ string) {
				require.Empty(t, e.requested())
				require.Equal(t, []string{"apt-get update", "apt-get install -y --no-install-recommends linux-headers-6.12.63+deb13-amd64"}, e.commands())
			},
		},
		"debian from the snapshot archive": {
			"debian", "12", "x86_64", "6.1.0-43-amd64",
			func(e *env) {
				const h, common = "1111111111111111111111111111111111111111", "3333333333333333333333333333333333333333"
				e.serve("/snapshot/mr/binary/linux-headers-6.1.0-43-amd64/", `{"_comment": "foo", "binary": "linux-headers-6.1.0-43-amd64",
					"result": [{"binary_version": "6.1.162-1", "name": "linux-headers-6.1.0-43-amd64", "source": "linux", "version": "6.1.162-1"}]}`)
				e.serve("/snapshot/mr/binary/linux-headers-6.1.0-43-amd64/6.1.162-1/binfiles?fileinfo=1", `{"binary": "linux-headers-6.1.0-43-amd64", "binary_version": "6.1.162-1",
					"result": [{"architecture": "arm64", "hash": "2222222222222222222222222222222222222222"}, {"architecture": "amd64", "hash": "`+h+`"}],
					"fileinfo": {"`+h+`": [{"archive_name": "debian", "first_seen": "20260105T000000Z", "name": "linux-headers-6.1.0-43-amd64_6.1.162-1_amd64.deb", "path": "/pool/main/l/linux", "size": 1}]}}`)
				e.serve("/snapshot/file/"+h, "Package: linux-headers-6.1.0-43-amd64\nVersion: 6.1.162-1\nDepends: linux-headers-6.1.0-43-common (= 6.1.162-1), linux-kbuild-6.1 (>= 6.1.162-1), libc6 (>= 2.34)\nrelease: 6.1.0-43-amd64\n")
				e.serve("/snapshot/mr/binary/linux-headers-6.1.0-43-common/6.1.162-1/binfiles?fileinfo=1", `{"result": [{"architecture": "all", "hash": "`+common+`"}],
					"fileinfo": {"`+common+`": [{"name": "linux-headers-6.1.0-43-common_6.1.162-1_all.deb"}]}}`)
				e.serve("/snapshot/file/"+common, "Package: linux-headers-6.1.0-43-common\nVersion: 6.1.162-1\n")
			},
			[]string{"apt linux-headers-6.1.0-43-amd64", "snapshot %SRV%/snapshot"}, true,
			func(t *testing.T, e *env, stderr string) {
				debs := e.work + "/debs/"
				require.Contains(t, e.commands(), "apt-get install -y --no-install-recommends "+debs+"linux-headers-6.1.0-43-amd64_6.1.162-1_amd64.deb "+debs+"linux-headers-6.1.0-43-common_6.1.162-1_all.deb")
				require.Contains(t, stderr, "snapshot: no linux-kbuild-6.1 6.1.162-1, leaving it to apt")
			},
		},
		"ubuntu from launchpad": {
			"ubuntu", "22.04", "x86_64", "6.8.0-1053-gcp",
			func(e *env) {
				const deb = "linux-headers-6.8.0-1053-gcp_6.8.0-1053.56~22.04.1_amd64.deb"
				e.serve("/1.0/ubuntu/+archive/primary?ws.op=getPublishedBinaries&binary_name=linux-headers-6.8.0-1053-gcp&exact_match=true", `{"entries": [
					{"binary_package_version": "6.8.0-1053.56~22.04.1", "distro_arch_series_link": "https://api.launchpad.net/1.0/ubuntu/jammy/arm64", "self_link": "SRV/1.0/ubuntu/+archive/primary/+binarypub/1"},
					{"binary_package_version": "6.8.0-1053.56~22.04.1", "distro_arch_series_link": "https://api.launchpad.net/1.0/ubuntu/jammy/amd64", "self_link": "SRV/1.0/ubuntu/+archive/primary/+binarypub/2"}]}`)
				e.serve("/1.0/ubuntu/+archive/primary/+binarypub/2?ws.op=binaryFileUrls", `["SRV/ubuntu/+archive/primary/+files/`+deb+`"]`)
				e.serve("/ubuntu/+archive/primary/+files/"+deb, "Package: linux-headers-6.8.0-1053-gcp\nVersion: 6.8.0-1053.56~22.04.1\nDepends: linux-gcp-6.8-headers-6.8.0-1053, libc6 (>= 2.34)\nrelease: 6.8.0-1053-gcp\n")
				e.serve("/1.0/ubuntu/+archive/primary?ws.op=getPublishedBinaries&binary_name=linux-gcp-6.8-headers-6.8.0-1053&exact_match=true", `{"entries": [
					{"binary_package_version": "6.8.0-1053.56~22.04.1", "distro_arch_series_link": "https://api.launchpad.net/1.0/ubuntu/jammy/amd64", "self_link": "SRV/1.0/ubuntu/+archive/primary/+binarypub/3"}]}`)
				e.serve("/1.0/ubuntu/+archive/primary/+binarypub/3?ws.op=binaryFileUrls", `["SRV/ubuntu/+archive/primary/+files/linux-gcp-6.8-headers-6.8.0-1053_6.8.0-1053.56~22.04.1_all.deb"]`)
				e.serve("/ubuntu/+archive/primary/+files/linux-gcp-6.8-headers-6.8.0-1053_6.8.0-1053.56~22.04.1_all.deb", "Package: linux-gcp-6.8-headers-6.8.0-1053\n")
			},
			[]string{"apt linux-headers-6.8.0-1053-gcp", "launchpad %SRV%/1.0"}, true,
			func(t *testing.T, e *env, _ string) {
				debs := e.work + "/debs/"
				require.Contains(t, e.commands(), "apt-get install -y --no-install-recommends "+debs+"linux-gcp-6.8-headers-6.8.0-1053_6.8.0-1053.56~22.04.1_all.deb "+debs+"linux-headers-6.8.0-1053-gcp_6.8.0-1053.56~22.04.1_amd64.deb")
				require.NotContains(t, e.requested(), "/1.0/ubuntu/+archive/primary/+binarypub/1?ws.op=binaryFileUrls", "the arm64 build is not ours")
			},
		},
		"ubuntu nowhere": {
			"ubuntu", "24.04", "aarch64", "6.14.0-37-generic",
			func(e *env) {
				e.serve("/1.0/ubuntu/+archive/primary?ws.op=getPublishedBinaries&binary_name=linux-headers-6.14.0-37-generic&exact_match=true", `{"entries": []}`)
			},
			[]string{"apt linux-headers-6.14.0-37-generic", "launchpad %SRV%/1.0"}, false,
			func(t *testing.T, e *env, stderr string) {
				require.Contains(t, stderr, "no headers of 6.14.0-37-generic for ubuntu 24.04 aarch64; tried:")
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.distribution, tc.version, tc.arch, tc.release)
			tc.setup(e)
			stdout, stderr, err := e.run("install-headers.sh")
			if tc.tried != nil {
				want := make([]string, len(tc.tried))
				for i, s := range tc.tried {
					want[i] = strings.ReplaceAll(s, "%SRV%", e.srv.URL)
				}
				require.Equal(t, want, tried(stderr), stderr)
			}
			if !tc.ok {
				require.Error(t, err, stderr)
				require.Empty(t, stdout)
			} else {
				require.NoError(t, err, stderr)
				dir := filepath.Join(e.sysroot, "usr", "src", "kernels", tc.release)
				if tc.distribution == "ubuntu" || tc.distribution == "debian" {
					dir = filepath.Join(e.sysroot, "usr", "src", "linux-headers-"+tc.release)
				}
				require.Equal(t, dir+"\n", stdout, "stdout is the headers directory, and nothing else")
				require.FileExists(t, filepath.Join(dir, "Makefile"))
			}
			if tc.check != nil {
				tc.check(t, e, stderr)
			}
		})
	}
}

// Values that reach command lines and URLs are checked again in the script.
func TestInstallHeadersRefusesHostileInput(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		variable, value, says string
	}{
		"substitution in release": {"KVERSION", "6.8.0-$(touch pwned)", "is not a kernel release"},
		"newline in release":      {"KVERSION", "6.8.0\n-generic", "is not a kernel release"},
		"slash in release":        {"KVERSION", "6.8.0/../../etc", "is not a kernel release"},
		"unknown distribution":    {"DISTRIBUTION", "arch", "accepted are ubuntu, debian, fedora, centos, amazonlinux"},
		"space in version":        {"DISTRO_VERSION", "24.04 x", "is not a distribution version"},
		"unknown arch":            {"ARCH", "riscv64", "accepted are x86_64 and aarch64"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "ubuntu", "24.04", "x86_64", "6.8.0-40-generic")
			e.vars[tc.variable] = tc.value
			_, stderr, err := e.run("install-headers.sh")
			require.Error(t, err)
			require.Contains(t, stderr, tc.says)
			require.Empty(t, e.commands(), "nothing ran")
		})
	}
}

// What the archives answer chooses further URLs: only https URLs and
// well-formed snapshot hashes are followed.
func TestInstallHeadersRefusesHostileAnswers(t *testing.T) {
	t.Parallel()
	const lpQuery = "/1.0/ubuntu/+archive/primary?ws.op=getPublishedBinaries&binary_name=linux-headers-6.8.0-1053-gcp&exact_match=true"
	launchpad := func(self, files string) func(e *env) {
		return func(e *env) {
			e.serve(lpQuery, `{"entries": [{"binary_package_version": "6.8.0-1053.56~22.04.1", "distro_arch_series_link": "https://api.launchpad.net/1.0/ubuntu/jammy/amd64", "self_link": "`+self+`"}]}`)
			e.serve("/1.0/ubuntu/+archive/primary/+binarypub/2?ws.op=binaryFileUrls", files)
		}
	}
	snapshot := func(hash string) func(e *env) {
		return func(e *env) {
			e.serve("/snapshot/mr/binary/linux-headers-6.1.0-43-amd64/", `{"result": [{"binary_version": "6.1.162-1"}]}`)
			e.serve("/snapshot/mr/binary/linux-headers-6.1.0-43-amd64/6.1.162-1/binfiles?fileinfo=1", `{"result": [{"architecture": "amd64", "hash": "`+hash+`"}],
				"fileinfo": {"`+hash+`": [{"name": "linux-headers-6.1.0-43-amd64_6.1.162-1_amd64.deb"}]}}`)
		}
	}
	for name, tc := range map[string]struct {
		distribution, version, release string
		setup                          func(e *env)
		says                           string
	}{
		"plain http file": {"ubuntu", "22.04", "6.8.0-1053-gcp",
			launchpad("SRV/1.0/ubuntu/+archive/primary/+binarypub/2", `["http://127.0.0.1:9/linux-headers-6.8.0-1053-gcp_6.8.0-1053.56~22.04.1_amd64.deb"]`),
			`refusing URL 'http://127.0.0.1:9/`},
		"file url": {"ubuntu", "22.04", "6.8.0-1053-gcp",
			launchpad("SRV/1.0/ubuntu/+archive/primary/+binarypub/2", `["file:///etc/shadow.deb"]`),
			`refusing URL 'file:///etc/shadow.deb'`},
		"option as url": {"ubuntu", "22.04", "6.8.0-1053-gcp",
			launchpad("SRV/1.0/ubuntu/+archive/primary/+binarypub/2", `["-o/tmp/x https://a/b.deb"]`),
			`refusing URL '-o/tmp/x https://a/b.deb'`},
		"plain http self link": {"ubuntu", "22.04", "6.8.0-1053-gcp",
			launchpad("http://127.0.0.1:9/1.0/ubuntu/+archive/primary/+binarypub/2", `[]`),
			`refusing URL 'http://127.0.0.1:9/1.0/`},
		"path in snapshot hash": {"debian", "12", "6.1.0-43-amd64",
			snapshot("../../../etc/passwd"),
			`refusing hash '../../../etc/passwd'`},
		"short snapshot hash": {"debian", "12", "6.1.0-43-amd64",
			snapshot("1111"),
			`refusing hash '1111'`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.distribution, tc.version, "x86_64", tc.release)
			tc.setup(e)
			stdout, stderr, err := e.run("install-headers.sh")
			require.Error(t, err, stderr)
			require.Empty(t, stdout)
			require.Contains(t, stderr, tc.says)
			for _, uri := range e.requested() {
				require.NotContains(t, uri, "/file/", "no snapshot file was fetched")
				require.NotContains(t, uri, "+files", "no Launchpad file was fetched")
			}
		})
	}
}
