// Package deploy_test checks the deploy files: the Kubernetes manifests
// decode strictly into the Kubernetes API types, so that a typo fails.
package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const dir = "kubernetes"

// scheme knows the kinds the manifests may use; any other kind fails.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// decodeStrict decodes each YAML document into its Kubernetes type,
// refusing unknown and duplicate fields.
func decodeStrict(t *testing.T, name string, data []byte) []runtime.Object {
	t.Helper()
	var objs []runtime.Object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		require.NoError(t, err, name)
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal(doc, &tm), "%s, document %d", name, i)
		obj, err := scheme.New(schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind))
		require.NoError(t, err, "%s, document %d: %s %s", name, i, tm.APIVersion, tm.Kind)
		require.NoError(t, strictInto(doc, obj), "%s, document %d (%s)", name, i, tm.Kind)
		objs = append(objs, obj)
	}
}

// strictInto decodes a YAML document as the API server does: field names
// case-sensitive, unknown and duplicate fields refused.
func strictInto(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, obj)
	return errors.Join(append(strictErrs, err)...)
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// Every manifest in the directory, as written, is valid; and the
// kustomization lists every one of them.
func TestManifestsDecodeStrictly(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Namespace  string   `json:"namespace"`
		Resources  []string `json:"resources"`
		Labels     []struct {
			Pairs map[string]string `json:"pairs"`
		} `json:"labels"`
	}
	var manifests []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		if filepath.Base(f) == "kustomization.yaml" {
			require.NoError(t, strictInto(data, &k))
			continue
		}
		manifests = append(manifests, filepath.Base(f))
		require.NotEmpty(t, decodeStrict(t, f, data), f)
	}
	require.Equal(t, "kustomize.config.k8s.io/v1beta1", k.APIVersion)
	require.ElementsMatch(t, manifests, k.Resources, "kustomization.yaml lists every manifest")
}

// A typo is caught: the check above is not vacuous.
func TestStrictDecodeCatchesATypo(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(dir, "build-service.yaml"))
	require.NoError(t, err)
	for typo, want := range map[string]string{
		"readinessProbe:": "readinesProbe:",
		"containerPort:":  "containerport:",
		"replicas: 2":     "replicas: two",
		"  replicas: 2":   "  replicas: 2\n  replicas: 3",
	} {
		bad := bytes.Replace(data, []byte(typo), []byte(want), 1)
		require.NotEqual(t, data, bad)
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(bad)))
		var failed bool
		for {
			doc, err := r.Read()
			if err != nil {
				break
			}
			var tm metav1.TypeMeta
			_ = yaml.Unmarshal(doc, &tm)
			obj, err := scheme.New(schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind))
			if err == nil && strictInto(doc, obj) != nil {
				failed = true
			}
		}
		require.True(t, failed, "%q -> %q was accepted", typo, want)
	}
}

// What kustomize renders is what the service needs: two replicas behind a
// Service and a budget that select them, probes on the served port, the
// secrets from Secrets, a non-root, read-only container with resources.
func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err)
	out, err := res.AsYaml()
	require.NoError(t, err)
	objs := decodeStrict(t, "kustomize build", out)

	var (
		dep *appsv1.Deployment
		svc *corev1.Service
		pdb *policyv1.PodDisruptionBudget
		ds  *appsv1.DaemonSet
	)
	for _, o := range objs {
		if m, ok := o.(metav1.Object); ok && o.GetObjectKind().GroupVersionKind().Kind != "Namespace" {
			require.Equal(t, "riptides-system", m.GetNamespace(), "%T %s", o, m.GetName())
			require.Equal(t, "driverbuild", m.GetLabels()["app.kubernetes.io/part-of"], "%T %s", o, m.GetName())
		}
		switch o := o.(type) {
		case *appsv1.Deployment:
			dep = o
		case *corev1.Service:
			svc = o
		case *policyv1.PodDisruptionBudget:
			pdb = o
		case *appsv1.DaemonSet:
			ds = o
		}
	}
	require.NotNil(t, dep)
	require.NotNil(t, svc)
	require.NotNil(t, pdb)
	require.NotNil(t, ds, "the driver-loader DaemonSet is part of the kustomization")

	require.EqualValues(t, 2, *dep.Spec.Replicas)
	pod := dep.Spec.Template
	podLabels := labels.Set(pod.Labels)
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	require.NoError(t, err)
	require.True(t, sel.Matches(podLabels), "the Deployment selects its pods")
	pdbSel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	require.NoError(t, err)
	require.True(t, pdbSel.Matches(podLabels), "the budget selects the pods")
	require.Equal(t, intstr.FromInt32(1), *pdb.Spec.MinAvailable)
	require.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels), "the Service selects the pods")

	require.Len(t, pod.Spec.Containers, 1)
	c := pod.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	require.Contains(t, ports, svc.Spec.Ports[0].TargetPort.StrVal, "the Service targets a container port")
	require.Contains(t, c.Args, ":8080")
	require.EqualValues(t, 8080, ports["http"])
	for probe, path := range map[*corev1.Probe]string{c.ReadinessProbe: "/readyz", c.LivenessProbe: "/healthz"} {
		require.NotNil(t, probe)
		require.Equal(t, path, probe.HTTPGet.Path)
		require.Contains(t, ports, probe.HTTPGet.Port.StrVal)
	}

	env := map[string]*corev1.EnvVarSource{}
	for _, e := range c.Env {
		require.Empty(t, e.Value, "%s is set in the manifest, not from a Secret", e.Name)
		env[e.Name] = e.ValueFrom
	}
	require.Equal(t, "build-service-database", env["DATABASE_URL"].SecretKeyRef.Name)
	var configSecret string
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			configSecret = v.Secret.SecretName
		}
	}
	require.Equal(t, "build-service-config", configSecret, "config.yml, which holds the App's key, comes from a Secret")
	require.True(t, slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/etc/driverbuild" }))

	require.True(t, *pod.Spec.SecurityContext.RunAsNonRoot)
	require.NotZero(t, *pod.Spec.SecurityContext.RunAsUser)
	require.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	require.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		require.Contains(t, c.Resources.Requests, r)
		require.Contains(t, c.Resources.Limits, r)
	}
}
