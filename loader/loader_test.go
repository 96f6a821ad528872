package loader_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fakedriver"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader"
	"github.com/riptides/driverbuild/loader/fetch"
	"github.com/riptides/driverbuild/loader/kmod"
)

const (
	ubuntuKernel = "6.8.0-1053-gcp"
	ubuntuPkg    = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb"
	fedoraKernel = "6.15.5-200.fc42.x86_64"
	fedoraPkg    = "riptides-driver-fedora-6.15.5-200.fc42.x86_64_v0.1.2_amd64.rpm"
	vermagic     = ubuntuKernel + " SMP preempt mod_unload modversions"
)

func ubuntuSpec() fakedriver.Spec {
	return fakedriver.Spec{Format: kernel.FormatDeb, KernelRelease: ubuntuKernel, DriverVersion: "v0.1.2", Arch: "x86_64", Compression: "zstd", ModuleCompression: fakedriver.ModuleCompressionXZ}
}

func TestContainerModeLoadsThenUsesCache(t *testing.T) {
	t.Parallel()
	rel, url := serveRelease(t)
	publish(t, rel, ubuntuPkg, ubuntuSpec(), true)
	n := newNode(t, "ubuntu-24.04", ubuntuKernel)

	res := n.run(t, n.config(url))
	require.NoError(t, res.err)
	require.Equal(t, "package: "+ubuntuPkg+"\n", res.out)
	require.Equal(t, []string{"finit_module riptides v0.1.2 " + vermagic}, n.kernel.Calls())
	require.Len(t, rel.Requests(), 2, "the package and its .sha256")

	// A reboot: the module is gone, the cache is not, the network is not needed.
	n.kernel = newKernel()
	res = n.run(t, n.config("http://127.0.0.1:1/unreachable"))
	require.NoError(t, res.err)
	require.Equal(t, []string{"finit_module riptides v0.1.2 " + vermagic}, n.kernel.Calls())
	require.Len(t, rel.Requests(), 2)
}

func TestHostMode(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		osRelease, kernel, pkg string
		spec                   fakedriver.Spec
		have                   []string
		want                   []string
	}{
		"ubuntu with apt-get": {
			osRelease: "ubuntu-24.04", kernel: ubuntuKernel, pkg: ubuntuPkg, spec: ubuntuSpec(),
			have: []string{"apt-get", "dpkg"},
			want: []string{"apt-get install -y --no-install-recommends --allow-downgrades -o DPkg::Lock::Timeout=300 {pkg}", "depmod -a " + ubuntuKernel, "modprobe -- riptides"},
		},
		"debian with dpkg only": {
			osRelease: "ubuntu-24.04", kernel: ubuntuKernel, pkg: ubuntuPkg, spec: ubuntuSpec(),
			have: []string{"dpkg"},
			want: []string{"dpkg -i {pkg}", "depmod -a " + ubuntuKernel, "modprobe -- riptides"},
		},
		"fedora with dnf": {
			osRelease: "fedora-42", kernel: fedoraKernel, pkg: fedoraPkg,
			spec: fakedriver.Spec{Format: kernel.FormatRPM, KernelRelease: fedoraKernel, DriverVersion: "v0.1.2", Arch: "x86_64", Compression: "xz"},
			have: []string{"dnf", "rpm"},
			want: []string{"dnf install -y {pkg}", "depmod -a " + fedoraKernel, "modprobe -- riptides"},
		},
		"fedora with rpm only": {
			osRelease: "fedora-42", kernel: fedoraKernel, pkg: fedoraPkg,
			spec: fakedriver.Spec{Format: kernel.FormatRPM, KernelRelease: fedoraKernel, DriverVersion: "v0.1.2", Arch: "x86_64", ModuleCompression: fakedriver.ModuleCompressionZstd},
			have: []string{"rpm"},
			want: []string{"rpm -U --replacepkgs --oldpackage {pkg}", "depmod -a " + fedoraKernel, "modprobe -- riptides"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rel, url := serveRelease(t)
			publish(t, rel, tc.pkg, tc.spec, true)
			n := newNode(t, tc.osRelease, tc.kernel)
			n.exec.have = map[string]bool{}
			for _, h := range tc.have {
				n.exec.have[h] = true
			}
			cfg := n.config(url)
			cfg.Mode = loader.ModeHost
			res := n.run(t, cfg)
			require.NoError(t, res.err)
			requireCalls(t, tc.want, tc.pkg, n.exec.Calls())
			require.Empty(t, n.kernel.Calls(), "host mode leaves loading to modprobe")
		})
	}
}

// TestModuleNames: a module's name comes from the package and ends up in
// a path and in modprobe's arguments.
func TestModuleNames(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		module string
		code   int
		calls  []string
	}{
		"a path":           {module: "../../etc/evil", code: loader.ExitRejected},
		"a space":          {module: "a b", code: loader.ExitRejected},
		"an option's look": {module: "-r", code: loader.ExitOK, calls: []string{"dpkg -i {pkg}", "depmod -a " + ubuntuKernel, "modprobe -- -r"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rel, url := serveRelease(t)
			spec := ubuntuSpec()
			spec.ModuleName = tc.module
			publish(t, rel, ubuntuPkg, spec, true)
			n := newNode(t, "ubuntu-24.04", ubuntuKernel)
			n.exec.have = map[string]bool{"dpkg": true}
			cfg := n.config(url)
			cfg.Mode = loader.ModeHost
			res := n.run(t, cfg)
			require.Equal(t, tc.code, res.code, "%v", res.err)
			if tc.code != loader.ExitOK {
				require.ErrorContains(t, res.err, "accepted are 1 to 55 letters, digits, _ and -")
			}
			requireCalls(t, tc.calls, ubuntuPkg, n.exec.Calls())
		})
	}
}

// workCopy matches the private copy of a package that host mode installs:
// not the cache's file, which others might swap after it was verified.
func workCopy(pkg string) string {
	return regexp.QuoteMeta(os.TempDir()) + `/driver-loader-[^/]+/` + regexp.QuoteMeta(pkg)
}

// requireCalls compares commands, {pkg} standing for the package's copy.
func requireCalls(t *testing.T, want []string, pkg string, got []string) {
	t.Helper()
	require.Len(t, got, len(want), "%q", got)
	for i, w := range want {
		parts := strings.Split(w, "{pkg}")
		for j := range parts {
			parts[j] = regexp.QuoteMeta(parts[j])
		}
		require.Regexp(t, "^"+strings.Join(parts, workCopy(pkg))+"$", got[i])
	}
}

func TestHostModeInstallFails(t *testing.T) {
	t.Parallel()
	rel, url := serveRelease(t)
	publish(t, rel, ubuntuPkg, ubuntuSpec(), true)
	n := newNode(t, "ubuntu-24.04", ubuntuKernel)
	n.exec.fail = "apt-get"
	cfg := n.config(url)
	cfg.Mode = loader.ModeHost
	res := n.run(t, cfg)
	require.Equal(t, loader.ExitLoad, res.code)
	require.ErrorContains(t, res.err, "E: something broke")
	require.Len(t, n.exec.Calls(), 1, "nothing after a failed install")
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	rel, url := serveRelease(t)
	publish(t, rel, ubuntuPkg, ubuntuSpec(), true)
	for _, mode := range []loader.Mode{loader.ModeContainer, loader.ModeHost} {
		n := newNode(t, "ubuntu-24.04", ubuntuKernel)
		cfg := n.config(url)
		cfg.Mode, cfg.DryRun = mode, true
		res := n.run(t, cfg)
		require.NoError(t, res.err)
		require.Empty(t, n.kernel.Calls(), mode)
		require.Empty(t, n.exec.Calls(), mode)
		require.Regexp(t, `^package: `+ubuntuPkg+`\n`, res.out)
		if mode == loader.ModeContainer {
			require.Contains(t, res.out, "would load: riptides v0.1.2 from lib/modules/"+ubuntuKernel+"/extra/riptides.ko.xz with finit_module\n")
		} else {
			require.Regexp(t, "would run: apt-get install -y --no-install-recommends --allow-downgrades -o DPkg::Lock::Timeout=300 "+workCopy(ubuntuPkg)+"\n", res.out)
			require.Contains(t, res.out, "would run: modprobe -- riptides\n")
		}
	}
}

func TestAlreadyLoaded(t *testing.T) {
	t.Parallel()
	rel, url := serveRelease(t)
	publish(t, rel, ubuntuPkg, ubuntuSpec(), true)
	for name, tc := range map[string]struct {
		loaded  kmod.Loaded
		replace bool
		code    int
		calls   []string
		msg     string
	}{
		"same version is a no-op": {
			loaded: kmod.Loaded{Name: "riptides", Version: "v0.1.2", SrcVersion: "0123456789ABCDEF0123456"},
			code:   loader.ExitOK,
		},
		"other version without --replace": {
			loaded: kmod.Loaded{Name: "riptides", Version: "v0.1.1"},
			code:   loader.ExitLoad, msg: "riptides v0.1.1 is loaded and the package has v0.1.2: rerun with --replace",
		},
		"same version, other build": {
			loaded: kmod.Loaded{Name: "riptides", Version: "v0.1.2", SrcVersion: "FFFF"},
			code:   loader.ExitLoad, msg: "rerun with --replace",
		},
		"other version with --replace": {
			loaded: kmod.Loaded{Name: "riptides", Version: "v0.1.1"}, replace: true,
			code: loader.ExitOK, calls: []string{"delete_module riptides", "finit_module riptides v0.1.2 " + vermagic},
		},
		"built in": {
			loaded: kmod.Loaded{Name: "riptides", Version: "v0.0.9", Builtin: true}, replace: true,
			code: loader.ExitLoad, msg: "built into the kernel",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, "ubuntu-24.04", ubuntuKernel)
			n.kernel = newKernel(tc.loaded)
			cfg := n.config(url)
			cfg.Replace = tc.replace
			res := n.run(t, cfg)
			require.Equal(t, tc.code, res.code, "%v", res.err)
			if tc.msg != "" {
				require.ErrorContains(t, res.err, tc.msg)
			}
			require.Equal(t, tc.calls, n.kernel.Calls())
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		osRelease string
		kernel    string
		setup     func(t *testing.T, rel *release)
		code      int
		msg       string
	}{
		"vermagic of another kernel": {
			osRelease: "ubuntu-24.04", kernel: ubuntuKernel,
			setup: func(t *testing.T, rel *release) {
				s := ubuntuSpec()
				s.Vermagic = "6.8.0-1052-gcp SMP preempt mod_unload modversions"
				publish(t, rel, ubuntuPkg, s, true)
			},
			code: loader.ExitRejected, msg: `built for kernel "6.8.0-1052-gcp", but this node runs "6.8.0-1053-gcp"`,
		},
		"digest mismatch": {
			osRelease: "ubuntu-24.04", kernel: ubuntuKernel,
			setup: func(t *testing.T, rel *release) {
				publish(t, rel, ubuntuPkg, ubuntuSpec(), false)
				rel.put("/dl/v0.1.2/"+ubuntuPkg+".sha256", []byte(sha([]byte("something else"))+"\n"))
			},
			code: loader.ExitRejected, msg: "sha256 mismatch",
		},
		"no digest": {
			osRelease: "ubuntu-24.04", kernel: ubuntuKernel,
			setup: func(t *testing.T, rel *release) { publish(t, rel, ubuntuPkg, ubuntuSpec(), false) },
			code:  loader.ExitRejected, msg: "has no " + ubuntuPkg + ".sha256 asset beside it, so it cannot be verified",
		},
		"package of the wrong architecture": {
			osRelease: "ubuntu-24.04", kernel: ubuntuKernel,
			setup: func(t *testing.T, rel *release) {
				s := ubuntuSpec()
				s.Arch = "aarch64"
				publish(t, rel, ubuntuPkg, s, true)
			},
			code: loader.ExitRejected, msg: "wrong architecture",
		},
		"missing and no service": {
			osRelease: "ubuntu-24.04", kernel: ubuntuKernel,
			setup: func(*testing.T, *release) {},
			code:  loader.ExitUnavailable, msg: "configure --service-url",
		},
		"unsupported distribution": {
			osRelease: "rhel-9", kernel: "5.14.0-570.el9.x86_64",
			setup: func(*testing.T, *release) {},
			code:  loader.ExitUnsupported, msg: `Red Hat Enterprise Linux 9.6 (Plow) (ID="rhel" VERSION_ID="9.6")`,
		},
		"kernel of another distribution": {
			osRelease: "ubuntu-24.04", kernel: fedoraKernel,
			setup: func(*testing.T, *release) {},
			code:  loader.ExitUnsupported, msg: "is a fedora kernel",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rel, url := serveRelease(t)
			tc.setup(t, rel)
			n := newNode(t, tc.osRelease, tc.kernel)
			res := n.run(t, n.config(url))
			require.Equal(t, tc.code, res.code, "%v", res.err)
			require.ErrorContains(t, res.err, tc.msg)
			require.Empty(t, n.kernel.Calls())
		})
	}
}

// fakeService is a build-service that builds by publishing to the release
// after a few polls.
type fakeService struct {
	mu       sync.Mutex
	rel      *release
	spec     fakedriver.Spec
	pkg      string
	built    []byte // what the build publishes
	url      string
	polls    int
	fail     bool
	done     bool // the package exists: POST /build answers with it
	requests []string
}

func (s *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "POST" && r.URL.Path == "/build":
		var req kernel.Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.KernelVersion != s.spec.KernelRelease {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"unexpected request","field":"kernel_version"}`))
			return
		}
		if s.done {
			_ = json.NewEncoder(w).Encode(map[string]string{
				"status": "done", "package": s.pkg, "sha256": sha(s.built), "download_url": s.url + "/v0.1.2/" + s.pkg,
			})
			return
		}
		w.WriteHeader(202)
		_, _ = w.Write([]byte(`{"message":"workflow dispatched","build_id":"b-1","status":"queued"}`))
	case r.Method == "GET" && r.URL.Path == "/status/b-1":
		s.polls++
		b := map[string]string{"build_id": "b-1", "status": "in_progress", "progress": "build / Build driver"}
		switch {
		case s.polls < 3:
		case s.fail:
			b["status"], b["reason"], b["run_url"] = "error", "build_failed", "https://github.com/riptides/driver/actions/runs/1"
		default:
			s.rel.put("/dl/v0.1.2/"+s.pkg, s.built)
			b["status"], b["package"], b["sha256"] = "done", s.pkg, sha(s.built)
			b["download_url"] = s.url + "/v0.1.2/" + s.pkg
		}
		_ = json.NewEncoder(w).Encode(b)
	default:
		w.WriteHeader(404)
	}
}

func TestMissingPackageIsBuilt(t *testing.T) {
	t.Parallel()
	rel, url := serveRelease(t)
	svc := &fakeService{rel: rel, spec: ubuntuSpec(), pkg: ubuntuPkg, built: fakedriver.MustPackage(t, ubuntuSpec()), url: url}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)

	n := newNode(t, "ubuntu-24.04", ubuntuKernel)
	cfg := n.config(url)
	cfg.ServiceURL = srv.URL
	res := n.run(t, cfg)
	require.NoError(t, res.err)
	require.Equal(t, []string{"finit_module riptides v0.1.2 " + vermagic}, n.kernel.Calls())
	require.Equal(t, []string{"POST /build", "GET /status/b-1", "GET /status/b-1", "GET /status/b-1"}, svc.requests)
}

// TestNoDigestIsNotAskedOfTheService: a package in the release without
// its .sha256 is refused; POST /build is not a lookup (on a stale index it
// would dispatch a build nobody needs).
func TestNoDigestIsNotAskedOfTheService(t *testing.T) {
	t.Parallel()
	rel, url := serveRelease(t)
	built := publish(t, rel, ubuntuPkg, ubuntuSpec(), false)
	svc := &fakeService{rel: rel, spec: ubuntuSpec(), pkg: ubuntuPkg, built: built, url: url, done: true}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)

	n := newNode(t, "ubuntu-24.04", ubuntuKernel)
	cfg := n.config(url)
	cfg.ServiceURL = srv.URL
	res := n.run(t, cfg)
	require.Equal(t, loader.ExitRejected, res.code, "%v", res.err)
	require.ErrorContains(t, res.err, ".sha256 asset beside it, so it cannot be verified")
	require.Empty(t, svc.requests)
	require.Empty(t, n.kernel.Calls())
}

// TestMirrorsAndTheService: with a build-service, a mirror's package is
// checked against the service's digest, not the mirror's own .sha256.
func TestMirrorsAndTheService(t *testing.T) {
	t.Parallel()
	real := fakedriver.MustPackage(t, ubuntuSpec())
	other := ubuntuSpec()
	other.DriverVersion = "v0.1.1" // a genuine package, but not this one
	tampered := fakedriver.MustPackage(t, other)
	for name, tc := range map[string]struct {
		mirror   []byte
		withSum  bool
		service  bool
		code     int
		msg      string
		loaded   string
		svcCalls []string
	}{
		// Without a service the mirror is all there is to believe.
		"another package with its own digest, no service": {mirror: tampered, withSum: true, code: loader.ExitOK, loaded: "v0.1.1"},
		"tampered with its own digest, a service":         {mirror: tampered, withSum: true, service: true, code: loader.ExitRejected, msg: "sha256 mismatch", svcCalls: []string{"POST /build"}},
		"the real package, the service's digest":          {mirror: real, service: true, code: loader.ExitOK, loaded: "v0.1.2", svcCalls: []string{"POST /build"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, url := serveRelease(t) // the release does not have it
			mirror, mirrorURL := serveRelease(t)
			mirror.put("/dl/v0.1.2/"+ubuntuPkg, tc.mirror)
			if tc.withSum {
				mirror.put("/dl/v0.1.2/"+ubuntuPkg+".sha256", []byte(sha(tc.mirror)+"\n"))
			}
			n := newNode(t, "ubuntu-24.04", ubuntuKernel)
			cfg := n.config(url)
			cfg.Mirrors = []string{mirrorURL}
			var svc *fakeService
			if tc.service {
				svc = &fakeService{spec: ubuntuSpec(), pkg: ubuntuPkg, built: real, url: url, done: true}
				srv := httptest.NewServer(svc)
				t.Cleanup(srv.Close)
				cfg.ServiceURL = srv.URL
			}
			res := n.run(t, cfg)
			require.Equal(t, tc.code, res.code, "%v", res.err)
			if tc.code != loader.ExitOK {
				require.ErrorContains(t, res.err, tc.msg)
				require.Empty(t, n.kernel.Calls())
			} else {
				require.Equal(t, []string{"finit_module riptides " + tc.loaded + " " + vermagic}, n.kernel.Calls())
			}
			if svc != nil {
				require.Equal(t, tc.svcCalls, svc.requests)
			}
		})
	}
}

// TestPrivateRepository: the built package of a private repository is
// downloaded through the API, whose token the browser download_url does
// not take, and checked against the service's digest.
func TestPrivateRepository(t *testing.T) {
	t.Parallel()
	rel := &release{files: map[string][]byte{}} // what the release holds, seen only through the API
	var apiURL string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := rel.get("/dl/v0.1.2/" + ubuntuPkg)
		if r.Header.Get("Authorization") != "Bearer tok" || !ok {
			http.NotFound(w, r)
			return
		}
		switch r.URL.Path {
		case "/api/v3/repos/o/r/releases/tags/v0.1.2":
			_ = json.NewEncoder(w).Encode(map[string]any{"id": 7, "assets": []map[string]string{{"name": ubuntuPkg, "url": apiURL + "/api/v3/repos/o/r/releases/assets/1"}}})
		case "/api/v3/repos/o/r/releases/assets/1":
			_, _ = w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(api.Close)
	apiURL = api.URL
	browser := httptest.NewServer(http.NotFoundHandler()) // a private release's browser URLs
	t.Cleanup(browser.Close)
	svc := &fakeService{rel: rel, spec: ubuntuSpec(), pkg: ubuntuPkg, built: fakedriver.MustPackage(t, ubuntuSpec()), url: browser.URL + "/dl"}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)

	n := newNode(t, "ubuntu-24.04", ubuntuKernel)
	cfg := n.config(browser.URL + "/dl")
	cfg.ServiceURL = srv.URL
	cfg.GitHubToken, cfg.GitHubAPIURL, cfg.Repository = "tok", api.URL+"/api/v3", "o/r"
	res := n.run(t, cfg)
	require.NoError(t, res.err)
	require.Equal(t, []string{"finit_module riptides v0.1.2 " + vermagic}, n.kernel.Calls())
	for _, r := range n.http.Requests() {
		require.NotContains(t, r, browser.URL, "the browser URL is no use for a private repository")
	}
}

func TestFailedBuild(t *testing.T) {
	t.Parallel()
	rel, url := serveRelease(t)
	svc := &fakeService{rel: rel, spec: ubuntuSpec(), pkg: ubuntuPkg, url: url, fail: true}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)

	n := newNode(t, "ubuntu-24.04", ubuntuKernel)
	cfg := n.config(url)
	cfg.ServiceURL = srv.URL
	res := n.run(t, cfg)
	require.Equal(t, loader.ExitUnavailable, res.code)
	require.ErrorContains(t, res.err, "build b-1 failed: build_failed (see https://github.com/riptides/driver/actions/runs/1)")
}

func TestDryRunDoesNotBuild(t *testing.T) {
	t.Parallel()
	rel, url := serveRelease(t)
	svc := &fakeService{rel: rel, spec: ubuntuSpec(), pkg: ubuntuPkg, built: fakedriver.MustPackage(t, ubuntuSpec()), url: url}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)

	n := newNode(t, "ubuntu-24.04", ubuntuKernel)
	cfg := n.config(url)
	cfg.ServiceURL, cfg.DryRun = srv.URL, true
	res := n.run(t, cfg)
	require.NoError(t, res.err)
	require.Contains(t, res.out, "would request a build: POST "+srv.URL+`/build {"kernel_version":"`+ubuntuKernel+`"`)
	require.Empty(t, svc.requests)
}

func TestDryRunOffline(t *testing.T) {
	t.Parallel()
	n := newNode(t, "debian-12", "6.1.0-31-amd64")
	cfg := n.config("http://127.0.0.1:1/unreachable")
	cfg.DryRun = true
	res := n.run(t, cfg)
	require.NoError(t, res.err, "an unreachable network is reported, not failed")
	require.Regexp(t, `^package: riptides-driver-debian-6.1.0-31-amd64_v0.1.2_amd64.deb\n`, res.out)
	require.Contains(t, res.out, "could not reach the release")
	require.Contains(t, res.out, "a real run would stop here")

	// The same with a release that answers: missing, and nobody to build it.
	_, url := serveRelease(t)
	cfg = n.config(url)
	cfg.DryRun = true
	res = n.run(t, cfg)
	require.Equal(t, loader.ExitUnavailable, res.code)
	require.Regexp(t, `^package: `, res.out)
}

func TestUnusableCacheDir(t *testing.T) {
	t.Parallel()
	rel, url := serveRelease(t)
	publish(t, rel, ubuntuPkg, ubuntuSpec(), true)
	n := newNode(t, "ubuntu-24.04", ubuntuKernel)
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	n.cache = filepath.Join(file, "cache") // not creatable, even by root

	cfg := n.config(url)
	cfg.DryRun = true
	res := n.run(t, cfg)
	require.NoError(t, res.err, "a dry run downloads to a temporary dir instead")
	require.Contains(t, res.out, "would load: riptides v0.1.2")

	cfg.DryRun = false
	res = n.run(t, cfg)
	require.Equal(t, loader.ExitError, res.code)
	require.ErrorContains(t, res.err, "cache dir")
	require.Empty(t, n.kernel.Calls())
}

func TestUnsafeCacheDir(t *testing.T) {
	t.Parallel()
	rel, url := serveRelease(t)
	publish(t, rel, ubuntuPkg, ubuntuSpec(), true)
	n := newNode(t, "ubuntu-24.04", ubuntuKernel)
	require.NoError(t, os.Chmod(n.cache, 0o777))
	for _, dryRun := range []bool{true, false} {
		cfg := n.config(url)
		cfg.DryRun = dryRun
		res := n.run(t, cfg)
		require.Equal(t, loader.ExitError, res.code)
		require.ErrorContains(t, res.err, "writable by its group or others (mode 0777)")
		require.Empty(t, rel.Requests(), "nothing is fetched into it")
		require.Empty(t, n.kernel.Calls())
	}
}

// A release that serves a package past a download bound is refused with
// the bound named, and a dry run exits as the real run does; the service
// is not asked to build it, since it would point at the same release.
func TestDownloadBoundsExitAlikeInADryRun(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		serve     http.HandlerFunc
		configure func(*loader.Config)
		says      string
	}{
		"over the size limit": {
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", fmt.Sprint(int64(fetch.DefaultMaxSize)+1))
				w.WriteHeader(http.StatusOK)
			},
			says: "more than the 536870912 bytes accepted",
		},
		"dripping": {
			serve: func(w http.ResponseWriter, r *http.Request) {
				for {
					if _, err := w.Write([]byte{'x'}); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			},
			configure: func(c *loader.Config) { c.DownloadTimeout = 300 * time.Millisecond },
			says:      "took longer than 300ms",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.serve)
			t.Cleanup(srv.Close)
			svc := &fakeService{}
			svcSrv := httptest.NewServer(svc)
			t.Cleanup(svcSrv.Close)
			n := newNode(t, "ubuntu-24.04", ubuntuKernel)
			for _, dryRun := range []bool{false, true} {
				for _, serviceURL := range []string{"", svcSrv.URL} {
					cfg := n.config(srv.URL + "/dl")
					cfg.DryRun, cfg.ServiceURL = dryRun, serviceURL
					if tc.configure != nil {
						tc.configure(&cfg)
					}
					res := n.run(t, cfg)
					require.Equal(t, loader.ExitUnavailable, res.code, "dry run %v, service %q: %v", dryRun, serviceURL, res.err)
					require.ErrorContains(t, res.err, tc.says)
				}
			}
			require.Empty(t, svc.requests)
		})
	}
}
