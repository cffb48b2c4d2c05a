package kubernetes_test

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// No full schema validator runs here: kubeconform installs from the Go
// module proxy, but fetches its JSON schemas from GitHub, which these
// machines cannot reach (docs/deploy.md). Instead this test decodes every
// manifest strictly into the Kubernetes API's own Go types (k8s.io/api and
// k8s.io/apimachinery), the way the API server decodes a request with
// fieldValidation=Strict: field names match case-sensitively, and an unknown,
// misspelt or misplaced field, a duplicate key or a wrong type (a string
// for a port, a malformed quantity) is an error instead of being dropped on
// the way to the API server. It then runs a few of the API server's own
// checks (names, labels, selectors, ports) and checks what the service
// depends on.

// The namespace every object of codeexec lives in.
const k8sNamespace = "codeexec-system"

// kustomization is the part of kustomize's Kustomization that the manifests
// use; k8s.io/api has no type for it, as it never reaches the API server.
type kustomization struct {
	metav1.TypeMeta `json:",inline"`
	Resources       []string `json:"resources"`
}

// manifests are the decoded files of this directory.
type manifests struct {
	files         []string // every *.yaml file name, sorted
	namespace     corev1.Namespace
	daemonSet     appsv1.DaemonSet
	service       corev1.Service
	kustomization kustomization
	// daemonSetDoc is the DaemonSet as untyped JSON, to tell a field set to
	// false from one left out, which the API types cannot.
	daemonSetDoc map[string]any
}

// decodeStrict decodes the one YAML document data into v as the API server
// would with fieldValidation=Strict: YAML to JSON, rejecting duplicate keys,
// then JSON into v, matching field names case-sensitively and rejecting
// unknown fields and wrong types. (sigs.k8s.io/yaml's own UnmarshalStrict
// matches field names case-insensitively, as encoding/json does, so it
// would accept imagepullpolicy for imagePullPolicy.)
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

// mustLoad reads and decodes every YAML file of this directory, each of
// which must hold exactly one object of a kind this test knows.
func mustLoad(t *testing.T) manifests {
	t.Helper()
	var m manifests
	names, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if yml, _ := filepath.Glob("*.yml"); len(yml) > 0 {
		t.Fatalf("%v: name manifests *.yaml", yml)
	}
	slices.Sort(names)
	m.files = names
	seen := map[string]string{}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains("\n"+string(data), "\n---") {
			t.Fatalf("%s: one object per file, please (found a --- separator)", name)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(data, &tm); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if prev, ok := seen[tm.Kind]; ok {
			t.Fatalf("%s and %s are both of kind %s; the test expects one of each", prev, name, tm.Kind)
		}
		seen[tm.Kind] = name
		var target any
		var wantAPI string
		switch tm.Kind {
		case "Namespace":
			target, wantAPI = &m.namespace, "v1"
		case "DaemonSet":
			target, wantAPI = &m.daemonSet, "apps/v1"
			j, err := yaml.YAMLToJSON(data)
			if err == nil {
				err = json.Unmarshal(j, &m.daemonSetDoc)
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		case "Service":
			target, wantAPI = &m.service, "v1"
		case "Kustomization":
			target, wantAPI = &m.kustomization, "kustomize.config.k8s.io/v1beta1"
		default:
			t.Fatalf("%s: kind %q is unknown to this test; add it to mustLoad", name, tm.Kind)
		}
		if tm.APIVersion != wantAPI {
			t.Fatalf("%s: apiVersion %q, want %q for a %s", name, tm.APIVersion, wantAPI, tm.Kind)
		}
		if err := decodeStrict(data, target); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, kind := range []string{"Namespace", "DaemonSet", "Service", "Kustomization"} {
		if _, ok := seen[kind]; !ok {
			t.Fatalf("no %s among %v", kind, names)
		}
	}
	return m
}

// isSet reports whether the untyped document doc sets the field at path.
func isSet(doc map[string]any, path ...string) bool {
	for i, key := range path {
		v, ok := doc[key]
		if !ok {
			return false
		}
		if i == len(path)-1 {
			return true
		}
		if doc, ok = v.(map[string]any); !ok {
			return false
		}
	}
	return false
}

// server returns the DaemonSet's codeexec container.
func (m manifests) server(t *testing.T) corev1.Container {
	t.Helper()
	cs := m.daemonSet.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("DaemonSet has %d containers, want 1 (codeexec)", len(cs))
	}
	return cs[0]
}

// importer returns the init container that imports the sandbox images.
func (m manifests) importer(t *testing.T) corev1.Container {
	t.Helper()
	for _, c := range m.daemonSet.Spec.Template.Spec.InitContainers {
		if slices.Contains(c.Command, "/usr/local/bin/codeexec-import-images") {
			return c
		}
	}
	t.Fatal("no init container runs /usr/local/bin/codeexec-import-images")
	return corev1.Container{}
}

// env returns the value of the environment variable name, and whether the
// container sets it.
func env(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// mustEnv returns a setting the manifest must spell out.
func mustEnv(t *testing.T, c corev1.Container, name string) string {
	t.Helper()
	v, ok := env(c, name)
	if !ok || v == "" {
		t.Fatalf("container %s does not set %s", c.Name, name)
	}
	return v
}

// hostPathMount checks that container c mounts the hostPath path at the same
// path, and returns the volume's hostPath type.
func hostPathMount(t *testing.T, spec corev1.PodSpec, c corev1.Container, path string) (volumeType string, readOnly bool) {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != path {
			continue
		}
		if vm.SubPath != "" {
			t.Errorf("container %s mounts %s with subPath %q: the path would differ from the host's", c.Name, path, vm.SubPath)
		}
		if p := vm.MountPropagation; p != nil && *p != corev1.MountPropagationNone {
			t.Errorf("container %s mounts %s with propagation %s: nothing needs it", c.Name, path, *p)
		}
		for _, v := range spec.Volumes {
			if v.Name != vm.Name {
				continue
			}
			if v.HostPath == nil {
				t.Fatalf("volume %s at %s is not a hostPath", v.Name, path)
			}
			if v.HostPath.Path != path {
				t.Fatalf("volume %s: host path %s is mounted at %s in container %s; they must be the same path", v.Name, v.HostPath.Path, path, c.Name)
			}
			if v.HostPath.Type == nil {
				return "", vm.ReadOnly
			}
			return string(*v.HostPath.Type), vm.ReadOnly
		}
		t.Fatalf("container %s mounts volume %s, which the pod does not define", c.Name, vm.Name)
	}
	t.Fatalf("container %s mounts nothing at %s", c.Name, path)
	return "", false
}

// containerPort resolves a probe's or Service's port (a number or the name
// of one of the container's ports) to a number.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) int {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	t.Fatalf("container %s has no port named %q", c.Name, p.StrVal)
	return 0
}

// capabilities returns caps as strings.
func capabilities(caps []corev1.Capability) []string {
	s := make([]string, len(caps))
	for i, c := range caps {
		s[i] = string(c)
	}
	return s
}

func TestManifestFiles(t *testing.T) {
	m := mustLoad(t)

	t.Run("every namespaced object is in codeexec-system", func(t *testing.T) {
		if got := m.namespace.Name; got != k8sNamespace {
			t.Errorf("Namespace is %q, want %q", got, k8sNamespace)
		}
		for kind, meta := range map[string]metav1.ObjectMeta{"DaemonSet": m.daemonSet.ObjectMeta, "Service": m.service.ObjectMeta} {
			if meta.Namespace != k8sNamespace {
				t.Errorf("%s %s is in namespace %q, want %q", kind, meta.Name, meta.Namespace, k8sNamespace)
			}
		}
	})

	t.Run("the kustomization lists every manifest and only those", func(t *testing.T) {
		var want []string
		for _, f := range m.files {
			if f != "kustomization.yaml" {
				want = append(want, f)
			}
		}
		got := slices.Sorted(slices.Values(m.kustomization.Resources))
		if !slices.Equal(got, want) {
			t.Errorf("kustomization resources %v, want the files %v", got, want)
		}
	})

	t.Run("names, labels, selectors and ports pass the API server's checks", func(t *testing.T) {
		check := func(what string, errs []string) {
			t.Helper()
			for _, e := range errs {
				t.Errorf("%s: %s", what, e)
			}
		}
		ds, svc := m.daemonSet, m.service
		pod := ds.Spec.Template.Spec
		check("Namespace name", validation.IsDNS1123Label(m.namespace.Name))
		check("DaemonSet name", validation.IsDNS1123Subdomain(ds.Name))
		check("Service name", validation.IsDNS1035Label(svc.Name))
		for what, meta := range map[string]metav1.ObjectMeta{
			"Namespace":              m.namespace.ObjectMeta,
			"DaemonSet":              ds.ObjectMeta,
			"DaemonSet pod template": ds.Spec.Template.ObjectMeta,
			"Service":                svc.ObjectMeta,
		} {
			if meta.Namespace != "" {
				check(what+" namespace", validation.IsDNS1123Label(meta.Namespace))
			}
			for k, v := range meta.Labels {
				check(what+" label key "+k, content.IsLabelKey(k))
				check(what+" label "+k+" value", content.IsLabelValue(v))
			}
		}
		if _, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector); err != nil {
			t.Errorf("DaemonSet selector: %v", err)
		}
		for k, v := range svc.Spec.Selector {
			check("Service selector key "+k, content.IsLabelKey(k))
			check("Service selector "+k+" value", content.IsLabelValue(v))
		}
		for k := range pod.NodeSelector {
			check("nodeSelector key "+k, content.IsLabelKey(k))
		}
		volumes := map[string]bool{}
		for _, v := range pod.Volumes {
			check("volume "+v.Name, validation.IsDNS1123Label(v.Name))
			if volumes[v.Name] {
				t.Errorf("volume %s is defined twice", v.Name)
			}
			volumes[v.Name] = true
		}
		containers := map[string]bool{}
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			check("container "+c.Name, validation.IsDNS1123Label(c.Name))
			if containers[c.Name] {
				t.Errorf("container name %s is used twice", c.Name)
			}
			containers[c.Name] = true
			for _, e := range c.Env {
				// The classic rule, which every cluster accepts (since 1.34
				// the API server takes any printable ASCII but '=').
				check("container "+c.Name+" env "+e.Name, validation.IsEnvVarName(e.Name))
			}
			for _, p := range c.Ports {
				check("container "+c.Name+" port", validation.IsValidPortNum(int(p.ContainerPort)))
				if p.Name != "" {
					check("container "+c.Name+" port name", validation.IsValidPortName(p.Name))
				}
			}
			for _, vm := range c.VolumeMounts {
				if !volumes[vm.Name] {
					t.Errorf("container %s mounts volume %s, which the pod does not define", c.Name, vm.Name)
				}
			}
			for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
				if p != nil && p.HTTPGet != nil {
					check("container "+c.Name+" probe port", validation.IsValidPortNum(containerPort(t, c, p.HTTPGet.Port)))
				}
			}
		}
		for _, p := range svc.Spec.Ports {
			check("Service port", validation.IsValidPortNum(int(p.Port)))
			check("Service port name", validation.IsValidPortName(p.Name))
			if p.TargetPort.Type == intstr.String {
				check("Service targetPort", validation.IsValidPortName(p.TargetPort.StrVal))
			} else {
				check("Service targetPort", validation.IsValidPortNum(p.TargetPort.IntValue()))
			}
		}
	})
}

func TestDaemonSet(t *testing.T) {
	m := mustLoad(t)
	spec := m.daemonSet.Spec.Template.Spec
	srv := m.server(t)
	imp := m.importer(t)

	t.Run("the service uses a containerd namespace of its own, never the kubelet's", func(t *testing.T) {
		ns := mustEnv(t, srv, "CODEEXEC_NAMESPACE")
		if ns == "k8s.io" || ns == "moby" {
			t.Fatalf("CODEEXEC_NAMESPACE=%s is another system's namespace", ns)
		}
		if ns != runner.DefaultNamespace {
			t.Logf("CODEEXEC_NAMESPACE=%s (the default is %s)", ns, runner.DefaultNamespace)
		}
	})

	t.Run("the init container imports into the same namespace through the same socket", func(t *testing.T) {
		for _, name := range []string{"CODEEXEC_NAMESPACE", "CODEEXEC_CONTAINERD_SOCKET", "CODEEXEC_SNAPSHOTTER"} {
			if got, want := mustEnv(t, imp, name), mustEnv(t, srv, name); got != want {
				t.Errorf("%s is %q in %s and %q in %s", name, got, imp.Name, want, srv.Name)
			}
		}
		if imp.Image != srv.Image {
			t.Errorf("init container image %s, service image %s: the archives must come from the image that serves them", imp.Image, srv.Image)
		}
	})

	t.Run("both containers mount the containerd socket at the node's path", func(t *testing.T) {
		sock := mustEnv(t, srv, "CODEEXEC_CONTAINERD_SOCKET")
		for _, c := range []corev1.Container{srv, imp} {
			if typ, _ := hostPathMount(t, spec, c, sock); typ != string(corev1.HostPathSocket) {
				t.Errorf("socket volume type %q, want Socket (fail fast where containerd is elsewhere)", typ)
			}
		}
	})

	t.Run("the state directory has the same path in the pod as on the node", func(t *testing.T) {
		dir := mustEnv(t, srv, "CODEEXEC_STATE_DIR")
		typ, ro := hostPathMount(t, spec, srv, dir)
		if typ != string(corev1.HostPathDirectoryOrCreate) {
			t.Errorf("state volume type %q, want DirectoryOrCreate", typ)
		}
		if ro {
			t.Error("the state directory is mounted read-only; the service writes job directories there")
		}
	})

	t.Run("the host's cgroup tree is mounted read-only where the runner reads it", func(t *testing.T) {
		typ, ro := hostPathMount(t, spec, srv, "/sys/fs/cgroup")
		if !ro {
			t.Error("/sys/fs/cgroup is writable; the service only reads it")
		}
		if typ != string(corev1.HostPathDirectory) {
			t.Errorf("cgroup volume type %q, want Directory", typ)
		}
	})

	t.Run("readiness is /readyz and liveness /healthz, on the port the service listens on", func(t *testing.T) {
		_, port, err := net.SplitHostPort(mustEnv(t, srv, "CODEEXEC_ADDR"))
		if err != nil {
			t.Fatal(err)
		}
		listen, _ := strconv.Atoi(port)
		if listen != 3000 {
			t.Errorf("CODEEXEC_ADDR port %d, want 3000", listen)
		}
		for _, p := range []struct {
			name, path string
			probe      *corev1.Probe
		}{
			{"readinessProbe", "/readyz", srv.ReadinessProbe},
			{"livenessProbe", "/healthz", srv.LivenessProbe},
			{"startupProbe", "/healthz", srv.StartupProbe},
		} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				t.Errorf("%s: want an httpGet probe of %s", p.name, p.path)
				continue
			}
			if p.probe.HTTPGet.Path != p.path {
				t.Errorf("%s: path %s, want %s", p.name, p.probe.HTTPGet.Path, p.path)
			}
			if got := containerPort(t, srv, p.probe.HTTPGet.Port); got != listen {
				t.Errorf("%s: port %d, want %d", p.name, got, listen)
			}
		}
	})

	t.Run("SIGTERM gets longer than the preStop pause and the shutdown timeout", func(t *testing.T) {
		shutdown, err := time.ParseDuration(mustEnv(t, srv, "CODEEXEC_SHUTDOWN_TIMEOUT"))
		if err != nil {
			t.Fatal(err)
		}
		var pause time.Duration
		if l := srv.Lifecycle; l != nil && l.PreStop != nil {
			if l.PreStop.Exec == nil {
				t.Fatal("preStop: the test understands only exec [sleep N]")
			}
			cmd := l.PreStop.Exec.Command
			if len(cmd) != 2 || filepath.Base(cmd[0]) != "sleep" {
				t.Fatalf("preStop %v: the test understands only [sleep N]", cmd)
			}
			n, err := strconv.Atoi(cmd[1])
			if err != nil {
				t.Fatal(err)
			}
			pause = time.Duration(n) * time.Second
		}
		g := spec.TerminationGracePeriodSeconds
		if g == nil {
			t.Fatal("terminationGracePeriodSeconds is not set (the default, 30s, is no longer than the drain)")
		}
		if grace := time.Duration(*g) * time.Second; grace <= pause+shutdown {
			t.Errorf("terminationGracePeriodSeconds %s is not longer than preStop %s + shutdown timeout %s", grace, pause, shutdown)
		}
		// The drain must outlast the longest request at the default limits:
		// a full queue wait, a compile and a run.
		d := runner.DefaultConfig()
		if longest := d.QueueTimeout + d.CompileTimeout + d.RunTimeout; shutdown < longest {
			t.Errorf("shutdown timeout %s is shorter than the longest request at the default limits, %s", shutdown, longest)
		}
	})

	t.Run("the service runs as root with CHOWN and DAC_OVERRIDE and nothing else", func(t *testing.T) {
		sc := srv.SecurityContext
		if sc == nil || sc.Capabilities == nil {
			t.Fatal("no securityContext.capabilities")
		}
		if drop := capabilities(sc.Capabilities.Drop); !slices.Equal(drop, []string{"ALL"}) {
			t.Errorf("drop %v, want [ALL]", drop)
		}
		if got := slices.Sorted(slices.Values(capabilities(sc.Capabilities.Add))); !slices.Equal(got, []string{"CHOWN", "DAC_OVERRIDE"}) {
			t.Errorf("add %v, want [CHOWN DAC_OVERRIDE]", got)
		}
		checkLockedDown(t, srv, spec)
	})

	t.Run("the init container runs with no capability", func(t *testing.T) {
		sc := imp.SecurityContext
		if sc == nil || sc.Capabilities == nil {
			t.Fatal("no securityContext.capabilities")
		}
		if !slices.Equal(capabilities(sc.Capabilities.Drop), []string{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("capabilities drop %v add %v, want drop [ALL] and no add", sc.Capabilities.Drop, sc.Capabilities.Add)
		}
		checkLockedDown(t, imp, spec)
	})

	t.Run("the pod stays out of the host's PID, IPC and network namespaces", func(t *testing.T) {
		// The API types hold these as plain bools: false and left out are
		// the same, so whether the manifest spells them out is read from
		// the untyped document.
		for name, v := range map[string]bool{"hostPID": spec.HostPID, "hostIPC": spec.HostIPC, "hostNetwork": spec.HostNetwork} {
			if v || !isSet(m.daemonSetDoc, "spec", "template", "spec", name) {
				t.Errorf("%s must be set to false", name)
			}
		}
		if v := spec.AutomountServiceAccountToken; v == nil || *v {
			t.Error("automountServiceAccountToken must be false: the service never calls the API server")
		}
	})

	t.Run("an update never runs two pods on one node", func(t *testing.T) {
		u := m.daemonSet.Spec.UpdateStrategy
		if u.Type != appsv1.RollingUpdateDaemonSetStrategyType || u.RollingUpdate == nil {
			t.Fatalf("updateStrategy %q, want RollingUpdate with maxUnavailable 1 and maxSurge 0", u.Type)
		}
		if s := u.RollingUpdate.MaxSurge; s == nil || (*s != intstr.FromInt32(0) && *s != intstr.FromString("0%")) {
			t.Errorf("maxSurge must be 0: two pods on a node share the state directory")
		}
		if v := u.RollingUpdate.MaxUnavailable; v == nil || *v != intstr.FromInt32(1) {
			t.Errorf("maxUnavailable must be 1: one node at a time drains")
		}
	})

	t.Run("the memory request leaves room for the concurrent compiles", func(t *testing.T) {
		d := runner.DefaultConfig()
		concurrent := d.MaxConcurrent
		if v, ok := env(srv, "CODEEXEC_MAX_CONCURRENT"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			concurrent = n
		}
		compile := d.CompileLimits.MemoryBytes
		if v, ok := env(srv, "CODEEXEC_COMPILE_MEMORY_MB"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			compile = n << 20
		}
		reqQ, ok := srv.Resources.Requests[corev1.ResourceMemory]
		if !ok {
			t.Fatal("no memory request")
		}
		req := reqQ.Value()
		if want := int64(concurrent) * compile; req < want {
			t.Errorf("memory request %d MiB is less than %d compiles at %d MiB", req>>20, concurrent, compile>>20)
		}
		if lim, ok := srv.Resources.Limits[corev1.ResourceMemory]; !ok || lim.Cmp(reqQ) < 0 {
			t.Errorf("memory limit %q must be set and at least the request", lim.String())
		}
	})

	t.Run("the selector matches the pod template's labels", func(t *testing.T) {
		if m.daemonSet.Spec.Selector == nil || len(m.daemonSet.Spec.Selector.MatchLabels) == 0 {
			t.Fatal("empty selector")
		}
		for k, v := range m.daemonSet.Spec.Selector.MatchLabels {
			if m.daemonSet.Spec.Template.Labels[k] != v {
				t.Errorf("selector %s=%s is not a label of the pod template", k, v)
			}
		}
	})

	t.Run("the locally imported image is never pulled", func(t *testing.T) {
		for _, c := range []corev1.Container{srv, imp} {
			if strings.HasPrefix(c.Image, "localhost/") && c.ImagePullPolicy != corev1.PullIfNotPresent && c.ImagePullPolicy != corev1.PullNever {
				t.Errorf("container %s: image %s with imagePullPolicy %q; a :latest tag means Always, which fails without a registry", c.Name, c.Image, c.ImagePullPolicy)
			}
		}
	})
}

// checkLockedDown checks the settings every container of the pod shares:
// root without privilege, no escalation, a read-only root, the runtime's
// seccomp profile.
func checkLockedDown(t *testing.T, c corev1.Container, spec corev1.PodSpec) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	uid := psc.RunAsUser
	if sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if uid == nil || *uid != 0 {
		t.Errorf("%s: runAsUser must be 0 (the containerd socket is root's)", c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged", c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation must be false", c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem must be true", c.Name)
	}
	profile := psc.SeccompProfile
	if sc.SeccompProfile != nil {
		profile = sc.SeccompProfile
	}
	if profile == nil || profile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile must be RuntimeDefault", c.Name)
	}
}

func TestService(t *testing.T) {
	m := mustLoad(t)
	srv := m.server(t)

	t.Run("it selects the DaemonSet's pods", func(t *testing.T) {
		sel := m.service.Spec.Selector
		if len(sel) == 0 {
			t.Fatal("empty selector would match every pod of the namespace")
		}
		for k, v := range sel {
			if m.daemonSet.Spec.Template.Labels[k] != v {
				t.Errorf("selector %s=%s is not a label of the DaemonSet's pods", k, v)
			}
		}
	})

	t.Run("it is a ClusterIP on port 3000 forwarding to the service's port", func(t *testing.T) {
		if m.service.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("type %q, want ClusterIP", m.service.Spec.Type)
		}
		if len(m.service.Spec.Ports) != 1 {
			t.Fatalf("%d ports, want 1", len(m.service.Spec.Ports))
		}
		p := m.service.Spec.Ports[0]
		if p.Port != 3000 {
			t.Errorf("port %d, want 3000", p.Port)
		}
		if got := containerPort(t, srv, p.TargetPort); got != 3000 {
			t.Errorf("targetPort %q is container port %d, want 3000", p.TargetPort.String(), got)
		}
	})
}

// TestStrictDecodeRejectsUnknownFields shows that the decoding above fails
// on the mistakes it is there to catch: each case breaks one field of an
// otherwise valid DaemonSet.
func TestStrictDecodeRejectsUnknownFields(t *testing.T) {
	const valid = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: codeexec
  namespace: codeexec-system
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: codeexec
  template:
    metadata:
      labels:
        app.kubernetes.io/name: codeexec
    spec:
      hostPID: false
      containers:
        - name: codeexec
          image: localhost/codeexec/service:latest
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 3000
          resources:
            requests:
              memory: 2560Mi
`
	var ds appsv1.DaemonSet
	if err := decodeStrict([]byte(valid), &ds); err != nil {
		t.Fatalf("the unbroken DaemonSet: %v", err)
	}
	if got := ds.Spec.Template.Spec.Containers[0].ImagePullPolicy; got != corev1.PullIfNotPresent {
		t.Fatalf("the unbroken DaemonSet decoded imagePullPolicy %q", got)
	}
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"misspelt field", "imagePullPolicy:", "imagePullPolcy:", `unknown field "spec.template.spec.containers[0].imagePullPolcy"`},
		{"field in the wrong case", "imagePullPolicy:", "imagepullpolicy:", `unknown field "spec.template.spec.containers[0].imagepullpolicy"`},
		{"misplaced field", "      hostPID: false\n", "      hostPID: false\n      privileged: false\n", `unknown field "spec.template.spec.privileged"`},
		{"duplicate key", "          imagePullPolicy: IfNotPresent\n", "          imagePullPolicy: IfNotPresent\n          imagePullPolicy: Always\n", "already set in map"},
		{"string for a number", "containerPort: 3000", `containerPort: "abc"`, "containerPort"},
		{"number for a string", "image: localhost/codeexec/service:latest", "image: 3", "image"},
		{"malformed quantity", "memory: 2560Mi", "memory: 2560MB", "quantities must match"},
		{"list for a map", "      containers:\n", "      nodeSelector: [linux]\n      containers:\n", "nodeSelector"},
	} {
		t.Run(c.name, func(t *testing.T) {
			broken := strings.Replace(valid, c.old, c.new, 1)
			if broken == valid {
				t.Fatalf("%q is not in the DaemonSet", c.old)
			}
			err := decodeStrict([]byte(broken), new(appsv1.DaemonSet))
			if err == nil {
				t.Fatal("decoded without an error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to mention %q", err, c.want)
			}
			t.Log(err)
		})
	}
}

// TestKustomizeBuild renders the kustomization with kubectl, where kubectl is
// installed, as `kubectl apply -k` would.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	out, err := exec.Command(kubectl, "kustomize", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	var kinds []string
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, tm.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"DaemonSet", "Namespace", "Service"}; !slices.Equal(kinds, want) {
		t.Errorf("kustomize rendered %v, want %v", kinds, want)
	}
}
