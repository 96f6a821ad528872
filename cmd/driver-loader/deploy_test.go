package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/riptides/driverbuild/loader"
)

// The deploy files run this binary: their flags must be ones it accepts
// and their shape what docs/driver-loader.md promises.

type manifest struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Template struct {
			Spec struct {
				Tolerations    []map[string]string `yaml:"tolerations"`
				InitContainers []container         `yaml:"initContainers"`
				Volumes        []struct {
					Name     string            `yaml:"name"`
					HostPath map[string]string `yaml:"hostPath"`
					EmptyDir map[string]any    `yaml:"emptyDir"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Args            []string `yaml:"args"`
	SecurityContext struct {
		Privileged             bool `yaml:"privileged"`
		ReadOnlyRootFilesystem bool `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

func TestDaemonSet(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../deploy/kubernetes/driver-loader-daemonset.yaml")
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var ds *manifest
	for {
		var m manifest
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		if m.Kind == "DaemonSet" {
			ds = &m
		}
	}
	require.NotNil(t, ds)
	spec := ds.Spec.Template.Spec
	require.Contains(t, spec.Tolerations, map[string]string{"operator": "Exists"}, "runs on every node")
	require.Len(t, spec.InitContainers, 1)
	c := spec.InitContainers[0]
	require.True(t, c.SecurityContext.Privileged)
	require.NotEmpty(t, c.Resources.Requests["memory"])
	require.NotEmpty(t, c.Resources.Limits["memory"])
	require.Contains(t, c.Args, "--mode=container")
	require.Contains(t, c.Args, "--host-root=/host")
	require.Contains(t, c.Args, "--replace", "an upgrade finds the previous driver loaded")

	mounts := map[string]string{} // path -> volume
	readOnly := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath], readOnly[m.MountPath] = m.Name, m.ReadOnly
	}
	require.Equal(t, map[string]bool{"/host": true, "/lib/modules": true, "/var/cache/driver-loader": false, "/etc/driver-loader": true, "/tmp": false}, readOnly)
	require.True(t, c.SecurityContext.ReadOnlyRootFilesystem)
	hostPaths, emptyDirs := map[string]string{}, map[string]bool{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath["path"]
		}
		emptyDirs[v.Name] = v.EmptyDir != nil
	}
	require.Equal(t, "/", hostPaths["host-root"])
	require.True(t, emptyDirs[mounts["/tmp"]], "a writable work dir however read-only the image")

	requireFlagsAccepted(t, c.Args)
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../deploy/systemd/driver-loader.service")
	require.NoError(t, err)
	unit := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = append(unit[k], v)
		}
	}
	require.Equal(t, []string{"oneshot"}, unit["Type"])
	require.Equal(t, []string{"on-failure"}, unit["Restart"], "retried")
	require.Equal(t, []string{"riptides-agent.service"}, unit["Before"])
	require.Equal(t, []string{"riptides-agent.service"}, unit["RequiredBy"])
	require.Len(t, unit["ExecStart"], 1)
	args := strings.Fields(unit["ExecStart"][0])
	require.Equal(t, "/usr/local/bin/driver-loader", args[0])
	requireFlagsAccepted(t, args[1:])

	// Exit codes a retry cannot fix stop the retries.
	require.Equal(t, []string{"2 3 5 6"}, unit["RestartPreventExitStatus"])
	require.Equal(t, 2, loader.ExitUsage)
	require.Equal(t, 3, loader.ExitUnsupported)
	require.Equal(t, 5, loader.ExitRejected)
	require.Equal(t, 6, loader.ExitLoad)

	// A retry that succeeds starts the agent, whose own start failed with
	// the first attempt (Requires=); without waiting for it, which would
	// wait for this unit in turn.
	require.Len(t, unit["ExecStartPost"], 1)
	post := unit["ExecStartPost"][0]
	require.True(t, strings.HasPrefix(post, "-"), "an agent that is not installed does not fail the loader")
	require.Contains(t, post, "systemctl start --no-block riptides-agent.service")
	require.Contains(t, post, "systemctl is-enabled --quiet riptides-agent.service", "a disabled agent stays stopped")
}

// TestDockerfile: the DaemonSet's image is built static, for the target
// platform, with the binary the manifest runs.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../Dockerfile.driver-loader")
	require.NoError(t, err)
	s := string(b)
	require.Contains(t, s, "CGO_ENABLED=0")
	require.Contains(t, s, "GOOS=$TARGETOS GOARCH=$TARGETARCH")
	require.Contains(t, s, "./cmd/driver-loader")
	require.Regexp(t, `(?m)^FROM (scratch|gcr\.io/distroless/static\S*)$`, s)
	require.Regexp(t, `(?m)^ENTRYPOINT \["/usr/local/bin/driver-loader"\]$`, s)
	require.Regexp(t, `(?m)^ARG GO_VERSION=`+regexp.QuoteMeta(goVersion(t))+`$`, s, "the Go of go.mod")
}

func goVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(b)
	require.NotNil(t, m)
	return string(m[1])
}

// requireFlagsAccepted parses args with the real flag set, stopping
// before anything runs: -h after them makes run return at once.
func requireFlagsAccepted(t *testing.T, args []string) {
	t.Helper()
	var stderr strings.Builder
	code := run(context.Background(), append(append([]string{}, args...), "-h"), io.Discard, &stderr, func(string) (string, bool) { return "", false }, nil)
	require.Equal(t, 0, code, stderr.String())
}
