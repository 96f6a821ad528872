package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
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
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Args            []string `yaml:"args"`
	SecurityContext struct {
		Privileged bool `yaml:"privileged"`
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

	mounts := map[string]bool{} // path -> read-only
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.ReadOnly
	}
	require.Equal(t, map[string]bool{"/host": true, "/lib/modules": true, "/var/cache/driver-loader": false, "/etc/driver-loader": true}, mounts)
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath["path"]
		}
	}
	require.Equal(t, "/", hostPaths["host-root"])

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
	require.Equal(t, []string{"2 3 5"}, unit["RestartPreventExitStatus"])
	require.Equal(t, 2, loader.ExitUsage)
	require.Equal(t, 3, loader.ExitUnsupported)
	require.Equal(t, 5, loader.ExitRejected)
}

// requireFlagsAccepted parses args with the real flag set, stopping
// before anything runs: -h after them makes run return at once.
func requireFlagsAccepted(t *testing.T, args []string) {
	t.Helper()
	var stderr strings.Builder
	code := run(context.Background(), append(append([]string{}, args...), "-h"), io.Discard, &stderr, func(string) (string, bool) { return "", false }, nil)
	require.Equal(t, 0, code, stderr.String())
}
