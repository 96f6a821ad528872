package images_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
)

// upload is one run of upload-package.sh against the gh stand-in: the
// releases are directories under gh, the build's output under out.
type upload struct {
	*env
	gh, out string
}

func newUpload(t *testing.T, driverVersion, pkg string, releases ...string) *upload {
	t.Helper()
	u := &upload{env: newEnv(t, "ubuntu", "24.04", "x86_64", "6.8.0-1053-gcp")}
	u.gh, u.out = filepath.Join(u.dir, "gh"), filepath.Join(u.dir, "out")
	for _, tag := range releases {
		require.NoError(t, os.MkdirAll(filepath.Join(u.gh, tag), 0o755))
	}
	require.NoError(t, os.MkdirAll(u.out, 0o755))
	u.write(filepath.Join(u.out, pkg), "built package")
	tag := kernel.ReleaseTag(driverVersion, pkg)
	_, shard, ok := kernel.DriverVersionOfTag(tag)
	require.True(t, ok)
	for k, v := range map[string]string{
		"FAKE_GH": u.gh, "OUT_DIR": u.out, "GITHUB_REPOSITORY": "riptides/driver",
		"DRIVER_VERSION": driverVersion, "PACKAGE_NAME": pkg, "DISTRO_VERSION": "24.04",
		"RELEASE": tag, "SHARD": strconv.Itoa(shard), "SHARDS": strconv.Itoa(kernel.Shards(driverVersion)), "REBUILD": "false",
	} {
		u.vars[k] = v
	}
	return u
}

func (u *upload) write(path, body string) {
	require.NoError(u.t, os.WriteFile(path, []byte(body), 0o644))
	if !strings.HasSuffix(path, ".sha256") && filepath.Dir(path) == u.out {
		require.NoError(u.t, os.WriteFile(path+".sha256", []byte(digest(body)+"  "+filepath.Base(path)+"\n"), 0o644))
	}
}

func digest(body string) string {
	s := sha256.Sum256([]byte(body))
	return hex.EncodeToString(s[:])
}

// assets lists a release's assets, and reads one.
func (u *upload) assets(tag string) []string {
	entries, err := os.ReadDir(filepath.Join(u.gh, tag))
	require.NoError(u.t, err)
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") && !strings.HasSuffix(e.Name(), ".label") {
			out = append(out, e.Name())
		}
	}
	return out
}

func (u *upload) read(tag, name string) string {
	b, err := os.ReadFile(filepath.Join(u.gh, tag, name))
	require.NoError(u.t, err)
	return string(b)
}

// uploads are the gh release upload calls, in order, as "tag file".
func (u *upload) uploads() []string {
	var out []string
	for _, c := range u.commands() {
		if rest, ok := strings.CutPrefix(c, "gh release upload "); ok {
			tag, _, _ := strings.Cut(rest, " ")
			file := rest[strings.Index(rest, u.dir):] // a label may hold spaces
			out = append(out, tag+" "+filepath.Base(file))
		}
	}
	return out
}

const (
	shardedPkg = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.2.0_amd64.deb" // in v0.2.0+shard.2
	shard2     = "v0.2.0+shard.2"
)

// The first package of a shard creates the shard release, as a
// pre-release that is not the latest, at the driver version's commit; the
// .sha256 goes up before the package.
func TestUploadCreatesTheShard(t *testing.T) {
	t.Parallel()
	u := newUpload(t, "v0.2.0", shardedPkg, "v0.2.0")
	stdout, stderr, err := u.run("upload-package.sh")
	require.NoError(t, err, stderr)
	require.Equal(t, shardedPkg+": uploaded to "+shard2+", sha256 "+digest("built package")+"\n", stdout)
	require.Contains(t, stderr, "created release "+shard2)
	require.Equal(t, "target=0123456789abcdef0123456789abcdef01234567 prerelease latest=false title=v0.2.0 packages, shard 2 of 8\n", u.read(shard2, ".release"))
	require.Equal(t, []string{shardedPkg, shardedPkg + ".sha256"}, u.assets(shard2))
	require.Equal(t, []string{shard2 + " " + shardedPkg + ".sha256", shard2 + " " + shardedPkg + "#ubuntu 24.04"}, u.uploads(), "the digest first")
	require.Equal(t, "ubuntu 24.04\n", u.read(shard2, shardedPkg+".label"))
	require.Empty(t, u.assets("v0.2.0"), "nothing goes to the plain release")
}

// Another build created the shard between this one's look and its
// create: GitHub refuses the second release of the tag, and the upload
// goes on into the release the other build made.
func TestUploadLosesTheRaceToCreateTheShard(t *testing.T) {
	t.Parallel()
	u := newUpload(t, "v0.2.0", shardedPkg, "v0.2.0")
	u.vars["FAKE_GH_RACE"] = "1"
	stdout, stderr, err := u.run("upload-package.sh")
	require.NoError(t, err, stderr)
	require.Contains(t, stdout, "uploaded to "+shard2)
	require.Contains(t, stderr, "created by another build meanwhile")
	require.Equal(t, "by another build\n", u.read(shard2, ".release"))
	require.Equal(t, []string{shardedPkg, shardedPkg + ".sha256"}, u.assets(shard2))
}

// A package published in the driver version's own release before it had
// shards is kept there, or, on a rebuild, moves to its shard.
func TestUploadFindsThePlainRelease(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		rebuild          string
		withSum          bool
		plain, shard     []string
		says             string
		publishedDigests string
	}{
		"kept": {
			rebuild: "false", withSum: true,
			plain: []string{shardedPkg, shardedPkg + ".sha256"}, shard: []string{},
			says: "kept the published package in v0.2.0; this build's sha256 was " + digest("built package"),
		},
		"kept, its missing .sha256 added": {
			rebuild: "false",
			plain:   []string{shardedPkg, shardedPkg + ".sha256"}, shard: []string{},
			says:             "kept the published package in v0.2.0 and added its missing .sha256 (" + digest("old package") + ")",
			publishedDigests: digest("old package") + "  " + shardedPkg + "\n",
		},
		"rebuilt into its shard": {
			rebuild: "true", withSum: true,
			plain: []string{}, shard: []string{shardedPkg, shardedPkg + ".sha256"},
			says: "uploaded to " + shard2,
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u := newUpload(t, "v0.2.0", shardedPkg, "v0.2.0", shard2)
			u.vars["REBUILD"] = tc.rebuild
			require.NoError(t, os.WriteFile(filepath.Join(u.gh, "v0.2.0", shardedPkg), []byte("old package"), 0o644))
			if tc.withSum {
				require.NoError(t, os.WriteFile(filepath.Join(u.gh, "v0.2.0", shardedPkg+".sha256"), []byte(digest("old package")+"\n"), 0o644))
			}
			stdout, stderr, err := u.run("upload-package.sh")
			require.NoError(t, err, stderr)
			require.Contains(t, stdout, tc.says)
			require.Equal(t, tc.plain, orEmpty(u.assets("v0.2.0")))
			require.Equal(t, tc.shard, orEmpty(u.assets(shard2)))
			if tc.publishedDigests != "" {
				require.Equal(t, tc.publishedDigests, u.read("v0.2.0", shardedPkg+".sha256"), "the digest of what is published, not of this build")
			}
			require.False(t, slices.ContainsFunc(u.commands(), func(c string) bool { return strings.HasPrefix(c, "gh release create") }), "the shard existed")
		})
	}
}

// A driver version without shards uploads to its own release, as before.
func TestUploadWithoutShards(t *testing.T) {
	t.Parallel()
	const pkg = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb"
	u := newUpload(t, "v0.1.2", pkg, "v0.1.2")
	stdout, stderr, err := u.run("upload-package.sh")
	require.NoError(t, err, stderr)
	require.Contains(t, stdout, "uploaded to v0.1.2")
	require.Equal(t, []string{pkg, pkg + ".sha256"}, u.assets("v0.1.2"))
	for _, c := range u.commands() {
		require.NotContains(t, c, "create")
	}

	u = newUpload(t, "v0.1.2", pkg, "v0.1.2")
	u.vars["RELEASE"] = "v0.1.3"
	_, stderr, err = u.run("upload-package.sh")
	require.Error(t, err)
	require.Contains(t, stderr, "is neither v0.1.2 nor one of its shards")
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
