package nats_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/codeexec/codeexec/internal/submissions"
)

// As ../manifests_test.go does for the service's manifests, this decodes
// every manifest strictly into the Kubernetes API's Go types (an unknown
// or misplaced field, a duplicate key or a wrong type is an error), then
// checks what the cluster needs to form: the routes name every pod of the
// StatefulSet through the headless Service, and nats-server itself parses
// the configuration.

func decodeStrict(data []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

type manifests struct {
	files     []string
	config    corev1.ConfigMap
	headless  corev1.Service
	client    corev1.Service
	pdb       policyv1.PodDisruptionBudget
	set       appsv1.StatefulSet
	resources []string
}

func load(t *testing.T) manifests {
	t.Helper()
	var m manifests
	names, _ := filepath.Glob("*.yaml")
	slices.Sort(names)
	m.files = names
	targets := map[string]any{
		"configmap.yaml": &m.config, "headless.yaml": &m.headless, "service.yaml": &m.client,
		"pdb.yaml": &m.pdb, "statefulset.yaml": &m.set,
	}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "kustomization.yaml" {
			var k struct {
				metav1.TypeMeta `json:",inline"`
				Resources       []string `json:"resources"`
			}
			if err := decodeStrict(data, &k); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			m.resources = k.Resources
			continue
		}
		target, ok := targets[name]
		if !ok {
			t.Fatalf("%s: a manifest this test does not know", name)
		}
		if err := decodeStrict(data, target); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return m
}

func TestNATSManifests(t *testing.T) {
	m := load(t)
	var want []string
	for _, f := range m.files {
		if f != "kustomization.yaml" {
			want = append(want, f)
		}
	}
	if got := slices.Sorted(slices.Values(m.resources)); !slices.Equal(got, want) {
		t.Errorf("kustomization resources %v, want %v", got, want)
	}
	for _, meta := range []metav1.ObjectMeta{m.config.ObjectMeta, m.headless.ObjectMeta, m.client.ObjectMeta, m.pdb.ObjectMeta, m.set.ObjectMeta} {
		if meta.Namespace != "codeexec-system" {
			t.Errorf("%s is in namespace %q", meta.Name, meta.Namespace)
		}
	}

	set := m.set
	if set.Spec.Replicas == nil || *set.Spec.Replicas != 3 || set.Spec.ServiceName != m.headless.Name {
		t.Fatalf("the StatefulSet: %d replicas behind %q, want 3 behind %q", set.Spec.Replicas, set.Spec.ServiceName, m.headless.Name)
	}
	if m.headless.Spec.ClusterIP != corev1.ClusterIPNone || !m.headless.Spec.PublishNotReadyAddresses {
		t.Error("the headless Service must be headless and publish not-ready pods (routes come before readiness)")
	}
	sel := set.Spec.Selector.MatchLabels
	for what, labels := range map[string]map[string]string{
		"pod template": set.Spec.Template.Labels, "headless selector": m.headless.Spec.Selector,
		"client selector": m.client.Spec.Selector, "PDB selector": m.pdb.Spec.Selector.MatchLabels,
	} {
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s lacks %s=%s", what, k, v)
			}
		}
	}

	// The image is the server version go.mod pins, which the tests run.
	gomod, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	v := regexp.MustCompile(`github.com/nats-io/nats-server/v2 v(\S+)`).FindSubmatch(gomod)
	c := set.Spec.Template.Spec.Containers[0]
	if v == nil || c.Image != "nats:"+string(v[1])+"-alpine" {
		t.Errorf("image %s, want the version go.mod pins (%s)", c.Image, v)
	}

	// nats-server parses the configuration, as the pod named nats-1 would.
	conf := m.config.Data["nats.conf"]
	dir := t.TempDir()
	file := filepath.Join(dir, "nats.conf")
	conf = strings.ReplaceAll(conf, "/data", filepath.Join(dir, "data"))
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SERVER_NAME", "nats-1")
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats-server cannot read nats.conf: %v", err)
	}
	if opts.ServerName != "nats-1" || !opts.JetStream || opts.Cluster.Name == "" || opts.Cluster.Port != 6222 || opts.Port != 4222 || opts.HTTPPort != 8222 {
		t.Errorf("options: name %q, jetstream %v, cluster %q:%d, client %d, monitor %d", opts.ServerName, opts.JetStream, opts.Cluster.Name, opts.Cluster.Port, opts.Port, opts.HTTPPort)
	}
	if opts.MaxPayload < submissions.DefaultMaxPayload {
		t.Errorf("max_payload %d is under the largest submission, %d", opts.MaxPayload, submissions.DefaultMaxPayload)
	}
	var routes []string
	for _, r := range opts.Routes {
		routes = append(routes, r.Host)
	}
	var wantRoutes []string
	for i := range int(*set.Spec.Replicas) {
		wantRoutes = append(wantRoutes, fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local:6222", set.Name, i, m.headless.Name, m.headless.Namespace))
	}
	if !slices.Equal(routes, wantRoutes) {
		t.Errorf("routes %v, want every pod: %v", routes, wantRoutes)
	}
	// The probes and the preStop hook reach what the configuration opens.
	for _, p := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "monitor" || !strings.HasPrefix(p.HTTPGet.Path, "/healthz") {
			t.Errorf("probe %+v", p)
		}
	}
	if !strings.Contains(strings.Join(c.Lifecycle.PreStop.Exec.Command, " "), opts.PidFile) {
		t.Errorf("preStop %v does not signal through the pid file %s", c.Lifecycle.PreStop.Exec.Command, opts.PidFile)
	}
	if m.pdb.Spec.MaxUnavailable == nil || m.pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Error("the PDB must let one server go at a time")
	}
}
