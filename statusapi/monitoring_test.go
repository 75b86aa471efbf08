package statusapi

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "regenerate deploy/components/prometheusrule/prometheusrule.yaml from deploy/monitoring/alerts.yaml")

const (
	alertsPath         = "../deploy/monitoring/alerts.yaml"
	prometheusRulePath = "../deploy/components/prometheusrule/prometheusrule.yaml"
)

// prometheusRuleHeader is everything of the PrometheusRule but its spec.
const prometheusRuleHeader = `# GENERATED from deploy/monitoring/alerts.yaml: do not edit. Edit alerts.yaml
# and run: go test ./statusapi -run TestPrometheusRule -update
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: ipfailover
  labels:
    app.kubernetes.io/name: ipfailover
    app.kubernetes.io/instance: ipfailover
spec:
`

// prometheusRuleFrom derives the PrometheusRule from the rule file: its
// spec is the file's content from "groups:" on, indented, so comments and
// layout carry over and the rules are the same bytes.
func prometheusRuleFrom(alerts []byte) ([]byte, bool) {
	var out bytes.Buffer
	out.WriteString(prometheusRuleHeader)
	started := false
	for _, l := range strings.SplitAfter(string(alerts), "\n") {
		if !started {
			if !strings.HasPrefix(l, "groups:") {
				continue
			}
			started = true
		}
		if strings.TrimSpace(l) == "" {
			out.WriteString(l)
			continue
		}
		out.WriteString("  " + l)
	}
	return out.Bytes(), started
}

// TestPrometheusRuleMatchesAlerts: the PrometheusRule of the kustomize
// component is exactly alerts.yaml as a spec, so the rules have one source.
func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	alerts, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	want, ok := prometheusRuleFrom(alerts)
	if !ok {
		t.Fatal(`alerts.yaml has no top-level "groups:" line`)
	}
	if *update {
		if err := os.WriteFile(prometheusRulePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(prometheusRulePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from %s: edit alerts.yaml only, then run go test ./statusapi -run TestPrometheusRule -update", prometheusRulePath, alertsPath)
	}

	// The derivation is also right semantically: the decoded spec is the
	// decoded rule file, and the object is a well-formed PrometheusRule.
	var pr struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec ruleFile `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(got, &pr); err != nil {
		t.Fatalf("PrometheusRule: %v", err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Metadata.Name == "" {
		t.Errorf("PrometheusRule header: %s %s %q", pr.APIVersion, pr.Kind, pr.Metadata.Name)
	}
	rf, _ := readAlerts(t)
	if len(rf.Groups) == 0 || !reflect.DeepEqual(pr.Spec, rf) {
		t.Errorf("PrometheusRule spec %+v\ndiffers from alerts.yaml %+v", pr.Spec, rf)
	}
}

// TestPromtoolChecksRules runs promtool (Debian package prometheus) over the
// rule file and the PrometheusRule's spec when it is installed.
func TestPromtoolChecksRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	// The spec as a rule file of its own, to check what the operator loads.
	b, err := os.ReadFile(prometheusRulePath)
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Spec ruleFile `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	spec, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	specFile := filepath.Join(t.TempDir(), "prometheusrule-spec.yaml")
	if err := os.WriteFile(specFile, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{alertsPath, specFile} {
		out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput()
		if err != nil {
			t.Errorf("promtool check rules %s: %v\n%s", f, err, out)
		}
	}
}

// TestPromtoolChecksScrape runs promtool check metrics over a live scrape in
// the text format when promtool is installed (it does not read
// OpenMetrics).
func TestPromtoolChecksScrape(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	_, _, body := scrape(t, liveServer(t), "")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
