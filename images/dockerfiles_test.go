package images_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
)

// Every supported distribution has a base image with the whole toolchain.
func TestBaseDockerfiles(t *testing.T) {
	t.Parallel()
	for _, d := range kernel.DefaultCatalog().Distributions() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile("Dockerfile.base." + d.Name)
			require.NoError(t, err)
			f := string(b)
			require.Regexp(t, `(?m)^ARG VERSION=`+regexp.QuoteMeta(d.Default)+`$`, f, "parameterised by version, defaulting to the distribution's default")
			require.Regexp(t, `(?m)^FROM \S+:\$\{VERSION\}$`, f)
			for _, tool := range []string{"gcc", "make", "bc", "bison", "flex", "kmod", "openssl", "elfutils", "dwarves", "tpm2-tools", "jq"} {
				require.Regexp(t, `\s`+regexp.QuoteMeta(tool)+`\s`, f, "installs %s", tool)
			}
			if d.Format == kernel.FormatDeb {
				require.Contains(t, f, "libelf-dev")
				require.Contains(t, f, "libssl-dev")
			} else {
				require.Contains(t, f, "elfutils-libelf-devel")
				require.Contains(t, f, "openssl-devel")
			}
			if d.Name == "fedora" || d.Name == "centos" {
				require.Regexp(t, `\skoji\s`, f, "koji for the header fallback chain")
			}
			require.Contains(t, f, `install-nfpm.sh "${NFPM_VERSION}"`)
		})
	}
}

// The per-kernel Dockerfile starts from the distribution's image and hands
// build.sh every variable it needs.
func TestKernelDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("Dockerfile.kernel")
	require.NoError(t, err)
	f := string(b)
	require.Contains(t, f, "FROM ${REGISTRY}/${DISTRIBUTION}:${DISTRO_VERSION} AS build\n")
	_, stage, ok := strings.Cut(f, " AS build\n")
	require.True(t, ok)
	script, err := os.ReadFile("scripts/build.sh")
	require.NoError(t, err)
	headers, err := os.ReadFile("scripts/install-headers.sh")
	require.NoError(t, err)
	required := regexp.MustCompile(`\$\{([A-Z_]+):\?`)
	for _, m := range required.FindAllStringSubmatch(string(script)+string(headers), -1) {
		require.Regexp(t, `(?m)^ARG `+m[1]+`(=|$)`, stage, "build.sh needs %s", m[1])
	}
	require.Contains(t, stage, "RUN /usr/local/lib/driverbuild/build.sh\n")
}
