package kubernetes_test

import (
	"fmt"
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
	"sigs.k8s.io/yaml"
)

// No schema-aware validator installs from the registries these machines
// reach (kubeconform fetches its schemas from GitHub; docs/deploy.md), so
// this test parses the manifests and checks what the service depends on.
// The types below mirror the Kubernetes API for exactly the fields the
// manifests use, and decoding is strict: a misspelt or misplaced field fails
// here instead of being dropped on the way to the API server. A new field in
// a manifest needs its counterpart here.

// The namespace every object of codeexec lives in.
const k8sNamespace = "codeexec-system"

type objectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type namespace struct {
	typeMeta `json:",inline"`
	Metadata objectMeta `json:"metadata"`
}

type kustomization struct {
	typeMeta  `json:",inline"`
	Resources []string `json:"resources"`
}

// intOrString is a Kubernetes IntOrString: a port number or a port name.
type intOrString string

func (v *intOrString) UnmarshalJSON(b []byte) error {
	if s, err := strconv.Unquote(string(b)); err == nil {
		*v = intOrString(s)
		return nil
	}
	if _, err := strconv.Atoi(string(b)); err != nil {
		return fmt.Errorf("%s is neither a number nor a string", b)
	}
	*v = intOrString(b)
	return nil
}

type service struct {
	typeMeta `json:",inline"`
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Type     string            `json:"type"`
		Selector map[string]string `json:"selector"`
		Ports    []struct {
			Name       string      `json:"name"`
			Protocol   string      `json:"protocol"`
			Port       int         `json:"port"`
			TargetPort intOrString `json:"targetPort"`
		} `json:"ports"`
	} `json:"spec"`
}

type daemonSet struct {
	typeMeta `json:",inline"`
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		UpdateStrategy struct {
			Type          string `json:"type"`
			RollingUpdate *struct {
				MaxUnavailable *intOrString `json:"maxUnavailable"`
				MaxSurge       *intOrString `json:"maxSurge"`
			} `json:"rollingUpdate"`
		} `json:"updateStrategy"`
		MinReadySeconds      int `json:"minReadySeconds"`
		RevisionHistoryLimit int `json:"revisionHistoryLimit"`
		Template             struct {
			Metadata objectMeta `json:"metadata"`
			Spec     podSpec    `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type podSpec struct {
	NodeSelector map[string]string `json:"nodeSelector"`
	Tolerations  []struct {
		Key      string `json:"key"`
		Operator string `json:"operator"`
		Value    string `json:"value"`
		Effect   string `json:"effect"`
	} `json:"tolerations"`
	HostPID                       *bool  `json:"hostPID"`
	HostIPC                       *bool  `json:"hostIPC"`
	HostNetwork                   *bool  `json:"hostNetwork"`
	AutomountServiceAccountToken  *bool  `json:"automountServiceAccountToken"`
	EnableServiceLinks            *bool  `json:"enableServiceLinks"`
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsUser      *int64          `json:"runAsUser"`
		RunAsGroup     *int64          `json:"runAsGroup"`
		RunAsNonRoot   *bool           `json:"runAsNonRoot"`
		SeccompProfile *seccompProfile `json:"seccompProfile"`
	} `json:"securityContext"`
	InitContainers []container `json:"initContainers"`
	Containers     []container `json:"containers"`
	Volumes        []struct {
		Name     string `json:"name"`
		HostPath *struct {
			Path string `json:"path"`
			Type string `json:"type"`
		} `json:"hostPath"`
	} `json:"volumes"`
}

type seccompProfile struct {
	Type string `json:"type"`
}

type probe struct {
	HTTPGet *struct {
		Path string      `json:"path"`
		Port intOrString `json:"port"`
	} `json:"httpGet"`
	InitialDelaySeconds int `json:"initialDelaySeconds"`
	PeriodSeconds       int `json:"periodSeconds"`
	TimeoutSeconds      int `json:"timeoutSeconds"`
	FailureThreshold    int `json:"failureThreshold"`
	SuccessThreshold    int `json:"successThreshold"`
}

type container struct {
	Name            string   `json:"name"`
	Image           string   `json:"image"`
	ImagePullPolicy string   `json:"imagePullPolicy"`
	Command         []string `json:"command"`
	Args            []string `json:"args"`
	Env             []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"env"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
		Protocol      string `json:"protocol"`
	} `json:"ports"`
	StartupProbe   *probe `json:"startupProbe"`
	LivenessProbe  *probe `json:"livenessProbe"`
	ReadinessProbe *probe `json:"readinessProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Exec *struct {
				Command []string `json:"command"`
			} `json:"exec"`
		} `json:"preStop"`
	} `json:"lifecycle"`
	SecurityContext *struct {
		RunAsUser                *int64 `json:"runAsUser"`
		RunAsNonRoot             *bool  `json:"runAsNonRoot"`
		Privileged               *bool  `json:"privileged"`
		AllowPrivilegeEscalation *bool  `json:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool  `json:"readOnlyRootFilesystem"`
		Capabilities             *struct {
			Drop []string `json:"drop"`
			Add  []string `json:"add"`
		} `json:"capabilities"`
		SeccompProfile *seccompProfile `json:"seccompProfile"`
	} `json:"securityContext"`
	Resources struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	} `json:"resources"`
	VolumeMounts []struct {
		Name              string `json:"name"`
		MountPath         string `json:"mountPath"`
		ReadOnly          bool   `json:"readOnly"`
		RecursiveReadOnly string `json:"recursiveReadOnly"`
		MountPropagation  string `json:"mountPropagation"`
		SubPath           string `json:"subPath"`
	} `json:"volumeMounts"`
}

// env returns the value of the environment variable name, and whether the
// container sets it.
func (c container) env(name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// manifests are the decoded files of this directory.
type manifests struct {
	files         []string // every *.yaml file name, sorted
	namespace     namespace
	daemonSet     daemonSet
	service       service
	kustomization kustomization
}

// decodeFile strictly decodes the one YAML document of name into v.
func decodeFile(name string, data []byte, v any) error {
	if err := yaml.UnmarshalStrict(data, v, yaml.DisallowUnknownFields); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
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
		var tm typeMeta
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
		if err := decodeFile(name, data, target); err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range []string{"Namespace", "DaemonSet", "Service", "Kustomization"} {
		if _, ok := seen[kind]; !ok {
			t.Fatalf("no %s among %v", kind, names)
		}
	}
	return m
}

// server returns the DaemonSet's codeexec container.
func (m manifests) server(t *testing.T) container {
	t.Helper()
	cs := m.daemonSet.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("DaemonSet has %d containers, want 1 (codeexec)", len(cs))
	}
	return cs[0]
}

// importer returns the init container that imports the sandbox images.
func (m manifests) importer(t *testing.T) container {
	t.Helper()
	for _, c := range m.daemonSet.Spec.Template.Spec.InitContainers {
		if slices.Contains(c.Command, "/usr/local/bin/codeexec-import-images") {
			return c
		}
	}
	t.Fatal("no init container runs /usr/local/bin/codeexec-import-images")
	return container{}
}

// mustEnv returns a setting the manifest must spell out.
func mustEnv(t *testing.T, c container, name string) string {
	t.Helper()
	v, ok := c.env(name)
	if !ok || v == "" {
		t.Fatalf("container %s does not set %s", c.Name, name)
	}
	return v
}

// hostPathMount checks that container c mounts the hostPath path at the same
// path, and returns the volume's hostPath type.
func hostPathMount(t *testing.T, spec podSpec, c container, path string) (volumeType string, readOnly bool) {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != path {
			continue
		}
		if vm.SubPath != "" {
			t.Errorf("container %s mounts %s with subPath %q: the path would differ from the host's", c.Name, path, vm.SubPath)
		}
		if vm.MountPropagation != "" && vm.MountPropagation != "None" {
			t.Errorf("container %s mounts %s with propagation %s: nothing needs it", c.Name, path, vm.MountPropagation)
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
			return v.HostPath.Type, vm.ReadOnly
		}
		t.Fatalf("container %s mounts volume %s, which the pod does not define", c.Name, vm.Name)
	}
	t.Fatalf("container %s mounts nothing at %s", c.Name, path)
	return "", false
}

// memoryBytes parses a Kubernetes memory quantity such as 2560Mi or 2G.
func memoryBytes(t *testing.T, q string) int64 {
	t.Helper()
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(q, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				t.Fatalf("memory quantity %q: %v", q, err)
			}
			return v * u.mult
		}
	}
	v, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		t.Fatalf("memory quantity %q: %v", q, err)
	}
	return v
}

// containerPort resolves a probe's or Service's port (a number or the name
// of one of the container's ports) to a number.
func containerPort(t *testing.T, c container, p intOrString) int {
	t.Helper()
	if n, err := strconv.Atoi(string(p)); err == nil {
		return n
	}
	for _, cp := range c.Ports {
		if cp.Name == string(p) {
			return cp.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %q", c.Name, p)
	return 0
}

func TestManifestFiles(t *testing.T) {
	m := mustLoad(t)

	t.Run("every namespaced object is in codeexec-system", func(t *testing.T) {
		if got := m.namespace.Metadata.Name; got != k8sNamespace {
			t.Errorf("Namespace is %q, want %q", got, k8sNamespace)
		}
		for kind, meta := range map[string]objectMeta{"DaemonSet": m.daemonSet.Metadata, "Service": m.service.Metadata} {
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
		for _, c := range []container{srv, imp} {
			if typ, _ := hostPathMount(t, spec, c, sock); typ != "Socket" {
				t.Errorf("socket volume type %q, want Socket (fail fast where containerd is elsewhere)", typ)
			}
		}
	})

	t.Run("the state directory has the same path in the pod as on the node", func(t *testing.T) {
		dir := mustEnv(t, srv, "CODEEXEC_STATE_DIR")
		typ, ro := hostPathMount(t, spec, srv, dir)
		if typ != "DirectoryOrCreate" {
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
		if typ != "Directory" {
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
			probe      *probe
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
		if l := srv.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Exec != nil {
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
		if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
			t.Errorf("drop %v, want [ALL]", sc.Capabilities.Drop)
		}
		if got := slices.Sorted(slices.Values(sc.Capabilities.Add)); !slices.Equal(got, []string{"CHOWN", "DAC_OVERRIDE"}) {
			t.Errorf("add %v, want [CHOWN DAC_OVERRIDE]", got)
		}
		checkLockedDown(t, srv, spec)
	})

	t.Run("the init container runs with no capability", func(t *testing.T) {
		sc := imp.SecurityContext
		if sc == nil || sc.Capabilities == nil {
			t.Fatal("no securityContext.capabilities")
		}
		if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("capabilities drop %v add %v, want drop [ALL] and no add", sc.Capabilities.Drop, sc.Capabilities.Add)
		}
		checkLockedDown(t, imp, spec)
	})

	t.Run("the pod stays out of the host's PID, IPC and network namespaces", func(t *testing.T) {
		for name, v := range map[string]*bool{"hostPID": spec.HostPID, "hostIPC": spec.HostIPC, "hostNetwork": spec.HostNetwork} {
			if v == nil || *v {
				t.Errorf("%s must be set to false", name)
			}
		}
		if v := spec.AutomountServiceAccountToken; v == nil || *v {
			t.Error("automountServiceAccountToken must be false: the service never calls the API server")
		}
	})

	t.Run("an update never runs two pods on one node", func(t *testing.T) {
		u := m.daemonSet.Spec.UpdateStrategy
		if u.Type != "RollingUpdate" || u.RollingUpdate == nil {
			t.Fatalf("updateStrategy %q, want RollingUpdate with maxUnavailable 1 and maxSurge 0", u.Type)
		}
		if s := u.RollingUpdate.MaxSurge; s == nil || (*s != "0" && *s != "0%") {
			t.Errorf("maxSurge must be 0: two pods on a node share the state directory")
		}
		if v := u.RollingUpdate.MaxUnavailable; v == nil || *v != "1" {
			t.Errorf("maxUnavailable must be 1: one node at a time drains")
		}
	})

	t.Run("the memory request leaves room for the concurrent compiles", func(t *testing.T) {
		d := runner.DefaultConfig()
		concurrent := d.MaxConcurrent
		if v, ok := srv.env("CODEEXEC_MAX_CONCURRENT"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			concurrent = n
		}
		compile := d.CompileLimits.MemoryBytes
		if v, ok := srv.env("CODEEXEC_COMPILE_MEMORY_MB"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			compile = n << 20
		}
		req := memoryBytes(t, srv.Resources.Requests["memory"])
		if want := int64(concurrent) * compile; req < want {
			t.Errorf("memory request %d MiB is less than %d compiles at %d MiB", req>>20, concurrent, compile>>20)
		}
		if lim, ok := srv.Resources.Limits["memory"]; !ok || memoryBytes(t, lim) < req {
			t.Errorf("memory limit %q must be set and at least the request", lim)
		}
	})

	t.Run("the selector matches the pod template's labels", func(t *testing.T) {
		sel := m.daemonSet.Spec.Selector.MatchLabels
		if len(sel) == 0 {
			t.Fatal("empty selector")
		}
		for k, v := range sel {
			if m.daemonSet.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("selector %s=%s is not a label of the pod template", k, v)
			}
		}
	})

	t.Run("the locally imported image is never pulled", func(t *testing.T) {
		for _, c := range []container{srv, imp} {
			if strings.HasPrefix(c.Image, "localhost/") && c.ImagePullPolicy != "IfNotPresent" && c.ImagePullPolicy != "Never" {
				t.Errorf("container %s: image %s with imagePullPolicy %q; a :latest tag means Always, which fails without a registry", c.Name, c.Image, c.ImagePullPolicy)
			}
		}
	})
}

// checkLockedDown checks the settings every container of the pod shares:
// root without privilege, no escalation, a read-only root, the runtime's
// seccomp profile.
func checkLockedDown(t *testing.T, c container, spec podSpec) {
	t.Helper()
	sc := c.SecurityContext
	uid := spec.SecurityContext.RunAsUser
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
	profile := spec.SecurityContext.SeccompProfile
	if sc.SeccompProfile != nil {
		profile = sc.SeccompProfile
	}
	if profile == nil || profile.Type != "RuntimeDefault" {
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
			if m.daemonSet.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("selector %s=%s is not a label of the DaemonSet's pods", k, v)
			}
		}
	})

	t.Run("it is a ClusterIP on port 3000 forwarding to the service's port", func(t *testing.T) {
		if m.service.Spec.Type != "ClusterIP" {
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
			t.Errorf("targetPort %q is container port %d, want 3000", p.TargetPort, got)
		}
	})
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
		var tm typeMeta
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
