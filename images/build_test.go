package images_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	rpmutils "github.com/sassoftware/go-rpmutils"
	"github.com/stretchr/testify/require"
)

func buildEnv(t *testing.T, distribution, version, arch, release, driver, pkg string) *env {
	t.Helper()
	e := newEnv(t, distribution, version, arch, release)
	src := filepath.Join(e.dir, "driver")
	require.NoError(t, os.MkdirAll(src, 0o755))
	e.vars["DRIVER_SRC"] = src
	e.vars["OUT_DIR"] = filepath.Join(e.dir, "out")
	e.vars["DRIVER_VERSION"] = driver
	e.vars["PACKAGE_NAME"] = pkg
	e.vars["FAKE_MACHINE"] = arch
	if distribution == "ubuntu" || distribution == "debian" {
		e.repo("FAKE_APT_REPO", "linux-headers-"+release+" "+release)
	} else {
		e.repo("FAKE_DNF_REPO", "default kernel-devel-"+release)
	}
	return e
}

// checkSum asserts the .sha256 beside a package is sha256sum's line for it.
func checkSum(t *testing.T, out, pkg string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, pkg))
	require.NoError(t, err)
	sum, err := os.ReadFile(filepath.Join(out, pkg+".sha256"))
	require.NoError(t, err)
	h := sha256.Sum256(data)
	require.Equal(t, hex.EncodeToString(h[:])+"  "+pkg+"\n", string(sum))
	return data
}

func TestBuildRPM(t *testing.T) {
	t.Parallel()
	const release = "6.15.5-200.fc42.x86_64"
	const pkg = "riptides-driver-fedora-" + release + "_v0.1.2_amd64.rpm"
	e := buildEnv(t, "fedora", "42", "x86_64", release, "v0.1.2", pkg)
	e.vars["FAKE_MODULES"] = "riptides.ko riptides_tpm.ko"
	_, stderr, err := e.run("build.sh")
	require.NoError(t, err, stderr)
	require.Contains(t, e.commands(), "make -C "+e.sysroot+"/usr/src/kernels/"+release+" M="+e.vars["DRIVER_SRC"]+" modules")
	data := checkSum(t, e.vars["OUT_DIR"], pkg)

	rpm, err := rpmutils.ReadRpm(bytes.NewReader(data))
	require.NoError(t, err)
	nevra, err := rpm.Header.GetNEVRA()
	require.NoError(t, err)
	require.Equal(t, "riptides-driver-"+release, nevra.Name)
	require.Equal(t, "0.1.2", nevra.Version)
	require.Equal(t, "x86_64", nevra.Arch)
	files, err := rpm.Header.GetFiles()
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	require.ElementsMatch(t, []string{
		"/lib/modules/" + release + "/extra/riptides.ko",
		"/lib/modules/" + release + "/extra/riptides_tpm.ko",
	}, names)
	post, err := rpm.Header.GetString(rpmutils.POSTIN)
	require.NoError(t, err)
	require.Contains(t, post, "depmod -a '"+release+"'")
}

func TestBuildDeb(t *testing.T) {
	t.Parallel()
	const release = "6.8.0-1053-gcp"
	const pkg = "riptides-driver-ubuntu-" + release + "_v0.2.0-rc.1_arm64.deb"
	e := buildEnv(t, "ubuntu", "22.04", "aarch64", release, "v0.2.0-rc.1", pkg)
	e.vars["PACKAGE_PREFIX"] = "acme-driver"
	_, stderr, err := e.run("build.sh")
	require.NoError(t, err, stderr)
	data := checkSum(t, e.vars["OUT_DIR"], pkg)

	members := arMembers(t, data)
	require.Equal(t, "2.0\n", string(members["debian-binary"]))
	control := tarFiles(t, members, "control.tar")
	require.Contains(t, string(control["./control"]), "Package: acme-driver-"+release+"\n")
	require.Contains(t, string(control["./control"]), "Version: 0.2.0~rc.1\n")
	require.Contains(t, string(control["./control"]), "Architecture: arm64\n")
	require.Contains(t, string(control["./postinst"]), "depmod -a '"+release+"'")
	files := tarFiles(t, members, "data.tar")
	require.Equal(t, "module riptides.ko for "+release+"\n", string(files["./lib/modules/"+release+"/extra/riptides.ko"]))
}

func TestBuildFails(t *testing.T) {
	t.Parallel()
	const release = "6.12.0-228.el10.x86_64"
	const pkg = "riptides-driver-centos-" + release + "_v0.1.2_amd64.rpm"
	for name, tc := range map[string]struct {
		change func(e *env)
		says   string
	}{
		"compile error":    {func(e *env) { e.vars["FAKE_MAKE_RC"] = "2" }, "compiling the driver against " + release + " failed"},
		"no module":        {func(e *env) { e.vars["FAKE_MODULES"] = "" }, "compiling made no .ko"},
		"no headers":       {func(e *env) { e.vars["FAKE_DNF_REPO"] = "/dev/null" }, "no headers of " + release},
		"hostile name":     {func(e *env) { e.vars["PACKAGE_NAME"] = "x;id.rpm" }, "is not a .deb or .rpm file name"},
		"name without ext": {func(e *env) { e.vars["PACKAGE_NAME"] = "riptides-driver" }, "is not a .deb or .rpm file name"},
		"driver version":   {func(e *env) { e.vars["DRIVER_VERSION"] = "0.1.2" }, "accepted is vMAJOR.MINOR.PATCH"},
		"prefix":           {func(e *env) { e.vars["PACKAGE_PREFIX"] = "Acme Driver" }, "PACKAGE_PREFIX"},
		"other machine":    {func(e *env) { e.vars["FAKE_MACHINE"] = "aarch64" }, "ARCH is x86_64 but this machine is aarch64"},
		"quote in release": {func(e *env) { e.vars["KVERSION"] = `6.12.0-228.el10.x86_64"` }, "is not a kernel release"},
		"distribution":     {func(e *env) { e.vars["DISTRIBUTION"] = `centos" x` }, "DISTRIBUTION"},
		"distro version":   {func(e *env) { e.vars["DISTRO_VERSION"] = "stream10\n" }, "is not a distribution version"},
		"maintainer quote": {func(e *env) { e.vars["PACKAGE_MAINTAINER"] = `acme" arch: "all` }, "PACKAGE_MAINTAINER"},
		"maintainer eol":   {func(e *env) { e.vars["PACKAGE_MAINTAINER"] = "acme\nscripts: {}" }, "PACKAGE_MAINTAINER"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := buildEnv(t, "centos", "stream10", "x86_64", release, "v0.1.2", pkg)
			tc.change(e)
			_, stderr, err := e.run("build.sh")
			require.Error(t, err)
			require.Contains(t, stderr, tc.says)
			require.NoFileExists(t, filepath.Join(e.vars["OUT_DIR"], pkg+".sha256"))
		})
	}
}

func TestInstallNfpm(t *testing.T) {
	t.Parallel()
	var tarball bytes.Buffer
	gz := gzip.NewWriter(&tarball)
	tw := tar.NewWriter(gz)
	script := "#!/bin/sh\necho 'nfpm version 2.45.2'\n"
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "nfpm", Mode: 0o755, Size: int64(len(script))}))
	_, err := tw.Write([]byte(script))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	sum := sha256.Sum256(tarball.Bytes())

	for name, tc := range map[string]struct {
		arch, checksums string
		ok              bool
	}{
		"amd64":          {"amd64", hex.EncodeToString(sum[:]) + "  nfpm_2.45.2_Linux_x86_64.tar.gz\n", true},
		"aarch64":        {"aarch64", strings.Repeat("0", 64) + "  nfpm_2.45.2_Linux_x86_64.tar.gz\n" + hex.EncodeToString(sum[:]) + "  nfpm_2.45.2_Linux_arm64.tar.gz\n", true},
		"wrong checksum": {"amd64", strings.Repeat("0", 64) + "  nfpm_2.45.2_Linux_x86_64.tar.gz\n", false},
		"not listed":     {"arm64", hex.EncodeToString(sum[:]) + "  nfpm_2.45.2_Linux_x86_64.tar.gz\n", false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "ubuntu", "24.04", "x86_64", "6.8.0-40-generic")
			e.serve("/download/v2.45.2/nfpm_2.45.2_Linux_x86_64.tar.gz", tarball.String())
			e.serve("/download/v2.45.2/nfpm_2.45.2_Linux_arm64.tar.gz", tarball.String())
			e.serve("/download/v2.45.2/checksums.txt", tc.checksums)
			bin := filepath.Join(e.dir, "bin")
			require.NoError(t, os.MkdirAll(bin, 0o755))
			e.vars["BIN_DIR"] = bin
			e.vars["NFPM_RELEASES_URL"] = e.srv.URL + "/download"
			_, stderr, err := e.run("install-nfpm.sh", "2.45.2", tc.arch)
			if !tc.ok {
				require.Error(t, err)
				require.NoFileExists(t, filepath.Join(bin, "nfpm"))
				return
			}
			require.NoError(t, err, stderr)
			require.Contains(t, stderr, "nfpm version 2.45.2")
			fi, err := os.Stat(filepath.Join(bin, "nfpm"))
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
		})
	}
}

// arMembers reads a .deb's ar archive.
func arMembers(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	require.True(t, bytes.HasPrefix(data, []byte("!<arch>\n")), "an ar archive")
	data = data[8:]
	out := map[string][]byte{}
	for len(data) >= 60 {
		hdr := data[:60]
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[:16])), "/")
		var size int
		_, err := fmt.Sscanf(strings.TrimSpace(string(hdr[48:58])), "%d", &size)
		require.NoError(t, err)
		data = data[60:]
		require.GreaterOrEqual(t, len(data), size)
		out[name] = data[:size]
		data = data[size+size%2:]
	}
	return out
}

// tarFiles reads the member prefix.{gz,zst} of a .deb as a tar archive.
func tarFiles(t *testing.T, members map[string][]byte, prefix string) map[string][]byte {
	t.Helper()
	var r io.Reader
	switch {
	case members[prefix+".gz"] != nil:
		gz, err := gzip.NewReader(bytes.NewReader(members[prefix+".gz"]))
		require.NoError(t, err)
		r = gz
	case members[prefix+".zst"] != nil:
		z, err := zstd.NewReader(bytes.NewReader(members[prefix+".zst"]))
		require.NoError(t, err)
		defer z.Close()
		r = z
	default:
		t.Fatalf("no %s.gz or %s.zst in the .deb", prefix, prefix)
	}
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[h.Name] = b
	}
}
