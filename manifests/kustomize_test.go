package manifests

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// kustomizeBinary finds a kustomize binary: on PATH or where
// `go install sigs.k8s.io/kustomize/kustomize/v5@latest` puts it.
func kustomizeBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("kustomize"); err == nil {
		return p
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "kustomize")
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Skip("kustomize is not installed (go install sigs.k8s.io/kustomize/kustomize/v5@latest)")
	return ""
}

// kustomizeBuild builds one directory under deploy/ and decodes every
// object strictly.
func kustomizeBuild(t *testing.T, bin, dir string) []any {
	t.Helper()
	out, err := exec.Command(bin, "build", filepath.Join("..", "deploy", dir)).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr)
	}
	return decodeStrict(t, out, FormatYAML)
}

// objectMeta returns the kind and metadata of a decoded object.
func objectMeta(t *testing.T, o any) (string, metav1.ObjectMeta) {
	t.Helper()
	switch v := o.(type) {
	case *corev1.Namespace:
		return "Namespace", v.ObjectMeta
	case *corev1.ServiceAccount:
		return "ServiceAccount", v.ObjectMeta
	case *corev1.ConfigMap:
		return "ConfigMap", v.ObjectMeta
	case *corev1.Service:
		return "Service", v.ObjectMeta
	case *appsv1.Deployment:
		return "Deployment", v.ObjectMeta
	case *appsv1.DaemonSet:
		return "DaemonSet", v.ObjectMeta
	case *batchv1.Job:
		return "Job", v.ObjectMeta
	case *serviceMonitor:
		return "ServiceMonitor", v.ObjectMeta
	case *prometheusRule:
		return "PrometheusRule", v.ObjectMeta
	case *rbacv1.RoleBinding:
		return "RoleBinding", v.ObjectMeta
	case *rbacv1.Role:
		return "Role", v.ObjectMeta
	}
	t.Fatalf("unexpected object %T", o)
	return "", metav1.ObjectMeta{}
}

// TestKustomizeBuild builds every applicable directory of deploy/ with a
// real kustomize and checks what each one yields.
func TestKustomizeBuild(t *testing.T) {
	bin := kustomizeBinary(t)
	for _, tc := range []struct {
		dir       string
		want, not []string
	}{
		{"base", []string{"Namespace", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"}, []string{"DaemonSet", "PrometheusRule", "ServiceMonitor", "Job"}},
		{"daemonset", []string{"Role", "RoleBinding", "DaemonSet"}, []string{"Deployment", "PrometheusRule"}},
		{"cleanup", []string{"Job"}, []string{"Deployment", "DaemonSet"}},
		{"overlays/openshift", []string{"Deployment", "RoleBinding", "ServiceMonitor", "PrometheusRule"}, []string{"DaemonSet", "Job"}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			kinds := map[string]int{}
			for _, o := range kustomizeBuild(t, bin, tc.dir) {
				kind, m := objectMeta(t, o)
				kinds[kind]++
				if kind != "Namespace" && m.Namespace != "ipfailover" {
					t.Errorf("%s %s is in namespace %q, want ipfailover", kind, m.Name, m.Namespace)
				}
				if pr, ok := o.(*prometheusRule); ok {
					n := 0
					for _, g := range pr.Spec.Groups {
						n += len(g.Rules)
					}
					if n < 5 {
						t.Errorf("PrometheusRule has %d rules", n)
					}
				}
			}
			for _, k := range tc.want {
				if kinds[k] == 0 {
					t.Errorf("no %s in kustomize build %s (got %v)", k, tc.dir, kinds)
				}
			}
			for _, k := range tc.not {
				if kinds[k] != 0 {
					t.Errorf("unexpected %s in kustomize build %s", k, tc.dir)
				}
			}
		})
	}
}

// TestMetricsServiceScrapesUnreadyAgents: the metrics Service lists pods
// that fail /readyz, which is when their metrics matter most.
func TestMetricsServiceScrapesUnreadyAgents(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "deploy", "base", "service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeStrict(t, data, FormatYAML)
	svc, ok := objs[0].(*corev1.Service)
	if !ok || len(objs) != 1 {
		t.Fatalf("service.yaml holds %T", objs[0])
	}
	if !svc.Spec.PublishNotReadyAddresses {
		t.Error("the metrics Service must set publishNotReadyAddresses: an agent whose keepalived is down is not ready but must still be scraped")
	}
}

// imageName is the image every workload in deploy/ names; the images: entry
// of deploy/components/image maps it to the real reference.
const imageName = "ipfailover/ipfailover"

// podSpecs returns the pod specs of the workloads among objs.
func podSpecs(objs []any) []corev1.PodSpec {
	var out []corev1.PodSpec
	for _, o := range objs {
		switch w := o.(type) {
		case *appsv1.Deployment:
			out = append(out, w.Spec.Template.Spec)
		case *appsv1.DaemonSet:
			out = append(out, w.Spec.Template.Spec)
		case *batchv1.Job:
			out = append(out, w.Spec.Template.Spec)
		}
	}
	return out
}

// TestDeployImageInOnePlace: every workload under deploy/ names the image
// ipfailover/ipfailover, every kustomization that adds a workload includes
// deploy/components/image, and that component holds the only images: entry.
func TestDeployImageInOnePlace(t *testing.T) {
	root := filepath.Join("..", "deploy")
	var k kustomization
	data, err := os.ReadFile(filepath.Join(root, "components", "image", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatal(err)
	}
	if k.Kind != "Component" || len(k.Images) != 1 || k.Images[0].Name != imageName || k.Images[0].NewName == "" || k.Images[0].NewTag == "" {
		t.Errorf("deploy/components/image: want one images: entry for %s with newName and newTag, got %+v", imageName, k.Images)
	}
	workloads := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(path) != "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var k kustomization
		if err := yaml.UnmarshalStrict(data, &k); err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		dir := filepath.Dir(path)
		if len(k.Images) > 0 && filepath.ToSlash(dir) != "../deploy/components/image" {
			t.Errorf("%s has an images: entry; the image is set in deploy/components/image only", path)
		}
		hasWorkload := false
		for _, r := range k.Resources {
			b, err := os.ReadFile(filepath.Join(dir, r))
			if err != nil {
				continue // a directory (a base)
			}
			for _, spec := range podSpecs(decodeStrict(t, b, FormatYAML)) {
				hasWorkload = true
				workloads++
				for _, c := range spec.Containers {
					if name, _, _ := strings.Cut(c.Image, ":"); name != imageName {
						t.Errorf("%s: container %s has image %q, want %s[:tag] (mapped by deploy/components/image)", filepath.Join(dir, r), c.Name, c.Image, imageName)
					}
				}
			}
		}
		if hasWorkload && !slices.Contains(k.Components, "../components/image") {
			t.Errorf("%s adds a workload but does not include ../components/image", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if workloads < 3 {
		t.Errorf("found %d workloads under deploy/", workloads)
	}
}

// TestKustomizeEditSetImage: the documented `kustomize edit set image` in
// deploy/components/image changes the image of every workload of every
// directory, and nothing else is needed.
func TestKustomizeEditSetImage(t *testing.T) {
	bin := kustomizeBinary(t)
	tmp := filepath.Join(t.TempDir(), "deploy")
	if err := os.CopyFS(tmp, os.DirFS(filepath.Join("..", "deploy"))); err != nil {
		t.Fatal(err)
	}
	const want = "registry.example/ops/ipfailover:v9.9.9"
	cmd := exec.Command(bin, "edit", "set", "image", imageName+"="+want)
	cmd.Dir = filepath.Join(tmp, "components", "image")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kustomize edit set image: %v\n%s", err, out)
	}
	for _, dir := range []string{"base", "daemonset", "cleanup", "overlays/openshift"} {
		out, err := exec.Command(bin, "build", filepath.Join(tmp, dir)).Output()
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		specs := podSpecs(decodeStrict(t, out, FormatYAML))
		if len(specs) == 0 {
			t.Errorf("%s: no workload", dir)
		}
		for _, spec := range specs {
			for _, c := range spec.Containers {
				if c.Image != want {
					t.Errorf("%s: container %s has image %q after the edit, want %q", dir, c.Name, c.Image, want)
				}
			}
		}
	}
}

// TestKustomizeAuthPasswordComponent: an overlay that adds
// deploy/components/auth-password to the OpenShift overlay or the DaemonSet
// gets a workload whose OPENSHIFT_HA_AUTH_PASSWORD_FILE is the mounted key
// of the Secret, and whose environment still loads.
func TestKustomizeAuthPasswordComponent(t *testing.T) {
	bin := kustomizeBinary(t)
	tmp := filepath.Join(t.TempDir(), "deploy")
	if err := os.CopyFS(tmp, os.DirFS(filepath.Join("..", "deploy"))); err != nil {
		t.Fatal(err)
	}
	environ := readEnvFile(t, filepath.Join(tmp, "base", "config.env"))
	for _, base := range []string{"overlays/openshift", "daemonset"} {
		dir := filepath.Join(tmp, "mine-"+strings.ReplaceAll(base, "/", "-"))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		k := "resources:\n  - ../" + base + "\ncomponents:\n  - ../components/auth-password\n"
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "build", dir).Output()
		if err != nil {
			t.Fatalf("kustomize build over %s: %v", base, err)
		}
		n := 0
		for _, o := range decodeStrict(t, out, FormatYAML) {
			switch o.(type) {
			case *appsv1.Deployment, *appsv1.DaemonSet:
				n++
				// Also checks that the downward-API variables of the
				// base survive the component's patch.
				checkInvariantsEnv(t, Request{Kind: kindOf(o)}, []any{o}, environ)
				spec := podSpecs([]any{o})[0]
				if !slices.ContainsFunc(spec.Containers[0].Env, func(e corev1.EnvVar) bool {
					return e.Name == "OPENSHIFT_HA_AUTH_PASSWORD_FILE" && e.Value == "/etc/ipfailover/auth/password"
				}) {
					t.Errorf("%s: env %v, want OPENSHIFT_HA_AUTH_PASSWORD_FILE", base, spec.Containers[0].Env)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s: %d workloads", base, n)
		}
	}
}
