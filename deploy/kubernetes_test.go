package deploy_test

// The Kubernetes manifests are checked without a cluster: every document is
// decoded strictly into the Kubernetes API's own Go types, the way the API
// server decodes it (case-sensitive field names, an unknown or repeated
// field is an error), and then checked for what a schema cannot see: that
// the pieces name each other correctly and match the binaries and the
// image build.

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// image is the repository .github/workflows/image.yml publishes and
// `make image` builds; the manifests must run it.
const image = "ghcr.io/waitroom/waitroom"

// distrolessNonroot is the uid of the "nonroot" user of the Dockerfile's
// distroless base image.
const distrolessNonroot = 65532

// object is one decoded manifest document.
type object struct {
	file string
	doc  int
	kind string
	name string
	obj  any
}

func (o object) String() string { return fmt.Sprintf("%s#%d %s/%s", o.file, o.doc, o.kind, o.name) }

// kinds maps apiVersion/kind to a new value of its Go type. A kind not in
// this list fails the test: add it here to have it validated.
var kinds = map[string]func() any{
	"v1/Secret":                                     func() any { return &corev1.Secret{} },
	"v1/Service":                                    func() any { return &corev1.Service{} },
	"v1/ConfigMap":                                  func() any { return &corev1.ConfigMap{} },
	"v1/PersistentVolumeClaim":                      func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                            func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                           func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":                 func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/Ingress":                  func() any { return &networkingv1.Ingress{} },
	"networking.k8s.io/v1/NetworkPolicy":            func() any { return &networkingv1.NetworkPolicy{} },
	"kustomize.config.k8s.io/v1beta1/Kustomization": func() any { return &kustomization{} },
}

// kustomization is the part of kustomize's Kustomization type the
// directory uses; anything else in the file is an unknown field.
type kustomization struct {
	metav1.TypeMeta `json:",inline"`
	Resources       []string         `json:"resources"`
	Images          []kustomizeImage `json:"images"`
}

type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
}

// decodeStrict turns one YAML document into v exactly as the API server
// would read it: YAML with a repeated key, a field the type does not have
// or a field spelled in the wrong case is an error.
func decodeStrict(doc []byte, v any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(js, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// decodeFile decodes every document of a manifest file.
func decodeFile(file string, data []byte) ([]object, error) {
	var out []object
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := rd.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s#%d: %v", file, n, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return out, fmt.Errorf("%s#%d: %v", file, n, err)
		}
		newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			return out, fmt.Errorf("%s#%d: apiVersion %q kind %q is not one this test knows: add it to kinds", file, n, tm.APIVersion, tm.Kind)
		}
		obj := newObj()
		if err := decodeStrict(doc, obj); err != nil {
			return out, fmt.Errorf("%s#%d (%s): %v", file, n, tm.Kind, err)
		}
		name := ""
		if m, ok := obj.(metav1.Object); ok {
			name = m.GetName()
		}
		out = append(out, object{file: file, doc: n, kind: tm.Kind, name: name, obj: obj})
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.Bytes()
}

// manifests decodes every YAML file under deploy/kubernetes.
func manifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var all []object
	for _, f := range files {
		data := readFile(t, f)
		objs, err := decodeFile(f, data)
		if err != nil {
			t.Error(err)
		}
		all = append(all, objs...)
	}
	if t.Failed() {
		t.FailNow()
	}
	return all
}

// The strict decoding catches the mistakes a cluster would reject (or, for
// a misspelled field, silently ignore on a lenient client): it is what
// makes the checks below trustworthy.
func TestManifestDecodingIsStrict(t *testing.T) {
	for _, tt := range []struct{ name, doc, want string }{
		{"misspelled field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selctor: {app: x}}\n", "unknown field"},
		{"wrong case", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {Selector: {app: x}}\n", "unknown field"},
		{"repeated key", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: ClusterIP, type: NodePort}\n", "already set"},
		{"number where a string goes", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x, annotations: {a: 3600}}\n", "string"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", "not one this test knows"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeFile("test.yaml", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// podOwner is a Deployment or a StatefulSet, seen through its pod template.
type podOwner struct {
	object
	replicas int32
	selector *metav1.LabelSelector
	template corev1.PodTemplateSpec
}

func workloads(objs []object) []podOwner {
	var out []podOwner
	for _, o := range objs {
		switch w := o.obj.(type) {
		case *appsv1.Deployment:
			out = append(out, podOwner{o, ptrOr(w.Spec.Replicas, 1), w.Spec.Selector, w.Spec.Template})
		case *appsv1.StatefulSet:
			out = append(out, podOwner{o, ptrOr(w.Spec.Replicas, 1), w.Spec.Selector, w.Spec.Template})
		}
	}
	return out
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func find[T any](objs []object, name string) (T, bool) {
	for _, o := range objs {
		if v, ok := o.obj.(T); ok && o.name == name {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// envTags returns the variable names a config struct reads (its env:"..." tags).
func envTags(t *testing.T, file string) map[string]string {
	t.Helper()
	names := map[string]string{}
	for _, m := range regexp.MustCompile(`env:"([A-Z0-9_]+)"(?:[^\x60]*envDefault:"([^"]*)")?`).FindAllStringSubmatch(string(readFile(t, file)), -1) {
		names[m[1]] = m[2]
	}
	if len(names) < 5 {
		t.Fatalf("found only %d variables in %s", len(names), file)
	}
	return names
}

// Every manifest decodes strictly into its Kubernetes type, and the set is
// whole: kustomization.yaml lists every file, names are valid, every
// workload's selector picks its own pods, every Service selects pods that
// have the port it targets, every Secret, key, claim and Service a manifest
// refers to is defined here.
func TestKubernetesManifests(t *testing.T) {
	objs := manifests(t)

	// kustomization.yaml lists every other file, once.
	k, ok := find[*kustomization](objs, "")
	if !ok {
		t.Fatal("kubernetes/kustomization.yaml missing")
	}
	files, _ := filepath.Glob("kubernetes/*.yaml")
	var want []string
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			want = append(want, filepath.Base(f))
		}
	}
	got := slices.Clone(k.Resources)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources %v, want every manifest %v", k.Resources, want)
	}

	secrets := map[string]*corev1.Secret{}
	claims := map[string]bool{}
	for _, o := range objs {
		if _, isK := o.obj.(*kustomization); !isK {
			for _, msg := range validation.IsDNS1123Subdomain(o.name) {
				t.Errorf("%v: name: %s", o, msg)
			}
		}
		switch v := o.obj.(type) {
		case *corev1.Secret:
			secrets[o.name] = v
		case *corev1.PersistentVolumeClaim:
			claims[o.name] = true
			if _, ok := v.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
				t.Errorf("%v: no storage request", o)
			}
		}
	}
	secretKey := func(where string, ref *corev1.SecretKeySelector) {
		s, ok := secrets[ref.Name]
		if !ok {
			t.Errorf("%s: Secret %q is not defined in deploy/kubernetes", where, ref.Name)
			return
		}
		if _, ok := s.StringData[ref.Key]; !ok {
			if _, ok := s.Data[ref.Key]; !ok {
				t.Errorf("%s: Secret %q has no key %q", where, ref.Name, ref.Key)
			}
		}
	}

	work := workloads(objs)
	if len(work) < 3 {
		t.Fatalf("%d workloads, want waitroom, ticketd and redis", len(work))
	}
	for _, w := range work {
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(w.template.Labels)) {
			t.Errorf("%v: selector %v does not pick its own pods %v (%v)", w, w.selector, w.template.Labels, err)
		}
		spec := w.template.Spec
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%v: pods must run as non-root", w)
		}
		volumes := map[string]corev1.Volume{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = v
			if v.Secret != nil {
				for _, it := range v.Secret.Items {
					secretKey(fmt.Sprintf("%v volume %s", w, v.Name), &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: v.Secret.SecretName}, Key: it.Key})
				}
			}
			if v.PersistentVolumeClaim != nil && !claims[v.PersistentVolumeClaim.ClaimName] {
				t.Errorf("%v: claim %q is not defined", w, v.PersistentVolumeClaim.ClaimName)
			}
		}
		if sts, ok := w.obj.(*appsv1.StatefulSet); ok {
			for _, c := range sts.Spec.VolumeClaimTemplates {
				volumes[c.Name] = corev1.Volume{Name: c.Name}
			}
		}
		for _, c := range spec.Containers {
			where := fmt.Sprintf("%v container %s", w, c.Name)
			repo, tag, _ := strings.Cut(c.Image, ":")
			if tag == "" || tag == "latest" {
				t.Errorf("%s: image %q: pin a tag", where, c.Image)
			}
			if strings.Contains(repo, "waitroom") && repo != image {
				t.Errorf("%s: image %q, want %s (what the image workflow and make image build)", where, c.Image, image)
			}
			if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation must be false", where)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Errorf("%s: no cpu or memory request", where)
			}
			for _, m := range c.VolumeMounts {
				if _, ok := volumes[m.Name]; !ok {
					t.Errorf("%s: mounts volume %q that the pod does not have", where, m.Name)
				}
			}
			seen := map[string]bool{}
			for _, e := range c.Env {
				if seen[e.Name] {
					t.Errorf("%s: %s set twice", where, e.Name)
				}
				for _, ref := range regexp.MustCompile(`\$\(([A-Za-z0-9_]+)\)`).FindAllStringSubmatch(e.Value, -1) {
					if !seen[ref[1]] {
						t.Errorf("%s: %s refers to $(%s), which is not set before it (Kubernetes leaves the text as it is)", where, e.Name, ref[1])
					}
				}
				seen[e.Name] = true
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					secretKey(where+" env "+e.Name, e.ValueFrom.SecretKeyRef)
				}
			}
			for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
				if p == nil {
					t.Errorf("%s: needs a readiness and a liveness probe", where)
					continue
				}
				if p.HTTPGet != nil {
					if _, ok := containerPort(c, p.HTTPGet.Port); !ok {
						t.Errorf("%s: probe port %s is not a port of the container", where, p.HTTPGet.Port.String())
					}
				}
				if p.TCPSocket != nil {
					if _, ok := containerPort(c, p.TCPSocket.Port); !ok {
						t.Errorf("%s: probe port %s is not a port of the container", where, p.TCPSocket.Port.String())
					}
				}
			}
		}
	}

	// Services select pods that have the ports they target.
	for _, o := range objs {
		svc, ok := o.obj.(*corev1.Service)
		if !ok {
			continue
		}
		var pods *podOwner
		for i, w := range work {
			if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.template.Labels)) {
				pods = &work[i]
			}
		}
		if pods == nil {
			t.Errorf("%v: selector %v matches no workload", o, svc.Spec.Selector)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if _, ok := podPort(pods.template.Spec, p.TargetPort); !ok {
				t.Errorf("%v: port %s targets %s, which %v does not expose", o, p.Name, p.TargetPort.String(), pods)
			}
		}
	}

	// PodDisruptionBudgets leave room to evict.
	for _, o := range objs {
		pdb, ok := o.obj.(*policyv1.PodDisruptionBudget)
		if !ok || pdb.Spec.MinAvailable == nil {
			continue
		}
		for _, w := range work {
			sel, _ := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if sel.Matches(labels.Set(w.template.Labels)) && int32(pdb.Spec.MinAvailable.IntValue()) >= w.replicas {
				t.Errorf("%v: minAvailable %s of %d replicas: a node drain could never evict one", o, pdb.Spec.MinAvailable.String(), w.replicas)
			}
		}
	}
}

// containerPort resolves a probe's or a Service's port (number or name)
// against the container's ports.
func containerPort(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func podPort(spec corev1.PodSpec, p intstr.IntOrString) (int32, bool) {
	for _, c := range spec.Containers {
		if n, ok := containerPort(c, p); ok {
			return n, true
		}
	}
	return 0, false
}

// env returns a container's plain variables (values from Secrets as "").
func plainEnv(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func container(t *testing.T, objs []object, workload, name string) (podOwner, corev1.Container) {
	t.Helper()
	for _, w := range workloads(objs) {
		if w.name != workload {
			continue
		}
		for _, c := range w.template.Spec.Containers {
			if c.Name == name {
				return w, c
			}
		}
	}
	t.Fatalf("no container %s in workload %s", name, workload)
	return podOwner{}, corev1.Container{}
}

// portOf returns the port of a listen address like ":9090" or "127.0.0.1:9090".
func portOf(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("listen address %q: %v %v", addr, err, err2)
	}
	return int32(n)
}

// The gateway's Deployment as the gateway needs it: the image the release
// workflow publishes; readiness on /readyz and liveness on /healthz of the
// admin listener; only variables the gateway reads (a misspelt one would be
// ignored); an admin token because the admin listener leaves loopback;
// trusted proxies that parse and do not trust the world; a termination
// grace longer than the preStop pause plus the gateway's own drain; the
// origin and Redis it names are Services defined here; and ticketd's
// likewise.
func TestKubernetesGateway(t *testing.T) {
	objs := manifests(t)
	gwVars := envTags(t, "../gateway/config.go")
	tdVars := envTags(t, "../internal/ticketd/config.go")
	services := map[string]*corev1.Service{}
	for _, o := range objs {
		if s, ok := o.obj.(*corev1.Service); ok {
			services[o.name] = s
		}
	}
	// serviceURL checks that a URL in an env var names a Service and port of these manifests.
	serviceURL := func(where, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("%s: %q: %v", where, raw, err)
			return
		}
		svc, ok := services[u.Hostname()]
		if !ok {
			t.Errorf("%s: host %q is not a Service in deploy/kubernetes", where, u.Hostname())
			return
		}
		port, _ := strconv.Atoi(u.Port())
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port }) {
			t.Errorf("%s: Service %s has no port %d", where, u.Hostname(), port)
		}
	}

	w, c := container(t, objs, "waitroom", "waitroom")
	vars := plainEnv(c)
	for _, e := range c.Env {
		if _, ok := gwVars[e.Name]; !ok && !strings.HasPrefix(e.Name, "REDIS_") {
			t.Errorf("waitroom sets %s, which gateway/config.go does not read", e.Name)
		}
	}
	if !strings.HasPrefix(c.Image, image+":") {
		t.Errorf("waitroom image %q, want %s:<release>", c.Image, image)
	}
	adminPort := portOf(t, vars["WAITROOM_ADMIN_LISTEN"])
	publicPort := portOf(t, vars["WAITROOM_LISTEN"])
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("waitroom %s probe: want an httpGet of %s", p.name, p.path)
			continue
		}
		port, _ := containerPort(c, p.probe.HTTPGet.Port)
		if p.probe.HTTPGet.Path != p.path || port != adminPort {
			t.Errorf("waitroom %s probe: %s on port %d, want %s on the admin port %d", p.name, p.probe.HTTPGet.Path, port, p.path, adminPort)
		}
	}
	if n, ok := containerPort(c, intstr.FromString("public")); !ok || n != publicPort {
		t.Errorf("waitroom's public port %d is not WAITROOM_LISTEN's %d", n, publicPort)
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "WAITROOM_ADMIN_TOKEN" && e.ValueFrom != nil }) {
		t.Error("the admin listener leaves loopback: WAITROOM_ADMIN_TOKEN must come from a Secret")
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "WAITROOM_COOKIE_SECRET" && e.ValueFrom != nil }) {
		t.Error("several replicas need one WAITROOM_COOKIE_SECRET, from a Secret")
	}
	if vars["WAITROOM_PASS_KEY_FILE"] == "" {
		t.Error("several replicas need one pass key: WAITROOM_PASS_KEY_FILE")
	}
	proxies := strings.Split(vars["WAITROOM_TRUSTED_PROXIES"], ",")
	for _, p := range proxies {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil || pfx.Bits() == 0 {
			t.Errorf("WAITROOM_TRUSTED_PROXIES %q: %v (and never 0.0.0.0/0)", p, err)
		}
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("waitroom needs a preStop pause so endpoints drop it before SIGTERM")
	}
	drain, err := time.ParseDuration(cmp.Or(vars["WAITROOM_SHUTDOWN_TIMEOUT"], gwVars["WAITROOM_SHUTDOWN_TIMEOUT"]))
	if err != nil {
		t.Fatal(err)
	}
	pause := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(ptrOr(w.template.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
	if grace <= pause+drain {
		t.Errorf("terminationGracePeriodSeconds %v must exceed the preStop pause %v plus WAITROOM_SHUTDOWN_TIMEOUT %v, or WebSockets are cut instead of closed with 1001", grace, pause, drain)
	}
	if uid := ptrOr(w.template.Spec.SecurityContext.RunAsUser, 0); uid != distrolessNonroot {
		t.Errorf("waitroom runs as uid %d, the image's user is %d", uid, distrolessNonroot)
	}
	serviceURL("WAITROOM_ORIGIN", vars["WAITROOM_ORIGIN"])
	if _, ok := find[*appsv1.StatefulSet](objs, "redis"); ok {
		serviceURL("WAITROOM_REDIS_URL", strings.ReplaceAll(vars["WAITROOM_REDIS_URL"], "$(REDIS_PASSWORD)", "x"))
	}

	tw, tc := container(t, objs, "ticketd", "ticketd")
	for _, e := range tc.Env {
		if _, ok := tdVars[e.Name]; !ok {
			t.Errorf("ticketd sets %s, which internal/ticketd/config.go does not read", e.Name)
		}
	}
	if len(tc.Command) != 1 || tc.Command[0] != "/usr/local/bin/ticketd" || !strings.HasPrefix(tc.Image, image+":") {
		t.Errorf("ticketd runs %v in %s, want /usr/local/bin/ticketd of %s", tc.Command, tc.Image, image)
	}
	tvars := plainEnv(tc)
	serviceURL("TICKETD_PASS_JWKS_URL", tvars["TICKETD_PASS_JWKS_URL"])
	if n, ok := containerPort(tc, intstr.FromString("http")); !ok || n != portOf(t, tvars["TICKETD_LISTEN"]) {
		t.Errorf("ticketd's http port %d is not TICKETD_LISTEN's", n)
	}
	if uid := ptrOr(tw.template.Spec.SecurityContext.RunAsUser, 0); uid != distrolessNonroot {
		t.Errorf("ticketd runs as uid %d, the image's user is %d", uid, distrolessNonroot)
	}
	if d, ok := tw.obj.(*appsv1.Deployment); ok && tw.replicas > 1 || ok && d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Error("ticketd on SQLite: one replica, replaced with Recreate")
	}

	// The image tag the kustomization pins is the one the manifests name.
	k, _ := find[*kustomization](objs, "")
	for _, im := range k.Images {
		if im.Name == image && !strings.HasSuffix(c.Image, ":"+im.NewTag) {
			t.Errorf("kustomization pins %s:%s, waitroom.yaml says %s", image, im.NewTag, c.Image)
		}
	}
	if !slices.ContainsFunc(k.Images, func(i kustomizeImage) bool {
		return i.Name == image && i.NewName == "" && i.NewTag != "" && i.NewTag != "latest"
	}) {
		t.Errorf("kustomization.yaml does not pin a tag of %s", image)
	}

	// Redis as the queue needs it: persistence and no eviction.
	_, rc := container(t, objs, "redis", "redis")
	args := strings.Join(rc.Args, " ")
	for _, want := range []string{"--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction", "--requirepass $(REDIS_PASSWORD)"} {
		if !strings.Contains(args, want) {
			t.Errorf("redis args %q lack %q", args, want)
		}
	}
}

// The Ingress is the one ingress-nginx needs for the queue: the WebSocket
// path has the long read and send timeouts (ingress-nginx's 60 s default
// would drop a waiting visitor's socket every minute), every path goes to
// the gateway's public port, both Ingresses have TLS, and the
// NetworkPolicy lets only the controller (and ticketd) reach that port,
// which is what makes trusting the pod range in WAITROOM_TRUSTED_PROXIES
// safe.
func TestKubernetesIngress(t *testing.T) {
	objs := manifests(t)
	var ws, root bool
	for _, o := range objs {
		ing, ok := o.obj.(*networkingv1.Ingress)
		if !ok {
			continue
		}
		if ptrOr(ing.Spec.IngressClassName, "") != "nginx" {
			t.Errorf("%v: ingressClassName %v, want nginx", o, ing.Spec.IngressClassName)
		}
		if len(ing.Spec.TLS) == 0 {
			t.Errorf("%v: no TLS", o)
		}
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				if b == nil || b.Name != "waitroom" || b.Port.Name != "public" {
					t.Errorf("%v: path %s goes to %+v, want the waitroom Service's public port", o, p.Path, b)
				}
				switch p.Path {
				case "/_waitroom/ws":
					ws = true
					for _, a := range []string{"proxy-read-timeout", "proxy-send-timeout"} {
						v, err := strconv.Atoi(ing.Annotations["nginx.ingress.kubernetes.io/"+a])
						if err != nil || v < 3600 {
							t.Errorf("%v: %s = %q, want at least 3600 (seconds) for waiting visitors' sockets", o, a, ing.Annotations["nginx.ingress.kubernetes.io/"+a])
						}
					}
				case "/":
					root = true
				}
			}
		}
	}
	if !ws || !root {
		t.Errorf("want an Ingress path for / and one for /_waitroom/ws (found / %v, ws %v)", root, ws)
	}

	np, ok := find[*networkingv1.NetworkPolicy](objs, "waitroom")
	if !ok {
		t.Fatal("no NetworkPolicy waitroom: with the pod range trusted, any pod could set X-Forwarded-For")
	}
	var controller bool
	for _, rule := range np.Spec.Ingress {
		for _, port := range rule.Ports {
			if port.Port == nil || port.Port.String() != "public" {
				continue
			}
			if len(rule.From) == 0 {
				t.Error("NetworkPolicy waitroom opens the public port to every pod")
			}
			for _, peer := range rule.From {
				if peer.NamespaceSelector != nil && peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "ingress-nginx" {
					controller = true
				}
			}
		}
	}
	if !controller {
		t.Error("NetworkPolicy waitroom does not let the ingress-nginx namespace reach the public port")
	}
}
