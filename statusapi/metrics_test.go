package statusapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/yaml"

	"github.com/ipfailover/ipfailover/wire"
)

// fullStatus has every optional part set, so every metric is exported.
func fullStatus() Status {
	t0 := time.Unix(1_700_000_000, 0)
	return Status{
		Name: "ipf-test", Version: "v1.2.3", Interface: "eth0", NodeAddress: "192.0.2.11", Time: t0,
		Healthy: true, Ready: true,
		Keepalived:     Keepalived{Running: true, Responsive: true, PID: 42, StartedAt: t0, LastDump: t0, Restarts: 2},
		Config:         Config{Path: "/etc/keepalived/keepalived.conf", Hash: "0123456789abcdef", Loaded: true, LastResult: "ok", Reloads: map[string]uint64{"ok": 3, "failed": 1}},
		Check:          &Check{Command: "/bin/check", IntervalSeconds: 2, Ran: true, OK: true, Result: "exit status 0", LastRun: t0, DurationSeconds: 0.01, Timeouts: 1},
		MulticastRules: []Rule{{Chain: "INPUT", Family: "ipv4", Present: true}},
		Instances: []Instance{
			{Name: "ipf_test_VIP_1", VRID: 1, Interface: "eth0", Family: "ipv4", State: "MASTER", StateValue: 2, Priority: 150, BasePriority: 150,
				LastTransition: t0, Reason: "no higher-priority master heard after start",
				VIPs:              []VIP{{Address: "192.0.2.200", Present: true}, {Address: "192.0.2.201", Present: true}},
				Transitions:       map[string]uint64{"backup": 1, "master": 1},
				KeepalivedCounter: &Counters{AdvertsSent: 10, AddressListErrors: 1, BecomeMaster: 3, ReleaseMaster: 2}},
			{Name: "ipf_test_VIP_2", VRID: 2, Interface: "eth0", Family: "ipv6", State: "BACKUP", StateValue: 1, Priority: 90, BasePriority: 100,
				VIPs: []VIP{{Address: "2001:db8::200", Present: false}}, Transitions: map[string]uint64{"backup": 1}},
		},
	}
}

func newTestServer(s *Status) *Server {
	srv := New(Options{Source: func() Status { return *s }})
	srv.ObserveCheck(10 * time.Millisecond)
	// The agent registers the segment view's collector on the same
	// registry, so monitoring may use its metrics too.
	if err := srv.Register(wire.NewCollector(segmentFixture{})); err != nil {
		panic(err)
	}
	return srv
}

// segmentFixture is a segment with a collision on our VRID 1 and another
// configuration's VRID 51, so every wire metric and label is exported.
type segmentFixture struct{}

func (segmentFixture) Snapshot() wire.Snapshot {
	return wire.Snapshot{
		Groups: []wire.Group{
			{VRID: 1, Family: wire.IPv4, Ours: true, Instance: "ipf_test_VIP_1", Masters: 2, Adverts: 20, ForeignAdverts: 10},
			{VRID: 51, Family: wire.IPv4, Masters: 1, Adverts: 10, ForeignAdverts: 10},
		},
		Conflicts: []wire.Conflict{{Kind: wire.Collision, VRID: 1, Family: wire.IPv4, Instance: "ipf_test_VIP_1"}},
	}
}

func TestPromlint(t *testing.T) {
	st := fullStatus()
	srv := newTestServer(&st)
	problems, err := testutil.GatherAndLint(srv.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func gather(t *testing.T, srv *Server) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value returns the value of the first series of mf that has every label
// in labels with the given value (a label the series lacks never matches).
func value(mf *dto.MetricFamily, labels map[string]string) (float64, bool) {
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range labels {
			if got, ok := have[k]; !ok || got != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func TestMetricValues(t *testing.T) {
	st := fullStatus()
	srv := newTestServer(&st)
	mfs := gather(t, srv)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ipfailover_vrrp_state", map[string]string{"vrrp_instance": "ipf_test_VIP_1", "vrid": "1", "interface": "eth0", "family": "ipv4"}, 2},
		{"ipfailover_vrrp_state", map[string]string{"vrrp_instance": "ipf_test_VIP_2", "family": "ipv6"}, 1},
		{"ipfailover_vrrp_transitions_total", map[string]string{"vrrp_instance": "ipf_test_VIP_1", "state": "master"}, 1},
		{"ipfailover_vrrp_transitions_total", map[string]string{"vrrp_instance": "ipf_test_VIP_1", "state": "fault"}, 0},
		{"ipfailover_vrrp_priority", map[string]string{"vrrp_instance": "ipf_test_VIP_2"}, 90},
		{"ipfailover_vip_present", map[string]string{"vip": "192.0.2.201", "vrrp_instance": "ipf_test_VIP_1", "interface": "eth0"}, 1},
		{"ipfailover_vip_present", map[string]string{"vip": "2001:db8::200"}, 0},
		{"ipfailover_vip_master", map[string]string{"vip": "192.0.2.200", "vrrp_instance": "ipf_test_VIP_1"}, 1},
		{"ipfailover_vip_master", map[string]string{"vip": "2001:db8::200"}, 0},
		{"ipfailover_vrrp_adverts_sent_total", map[string]string{"vrrp_instance": "ipf_test_VIP_1"}, 10},
		{"ipfailover_vrrp_receive_errors_total", map[string]string{"vrrp_instance": "ipf_test_VIP_1", "reason": "address_list"}, 1},
		{"ipfailover_vrrp_become_master_total", map[string]string{"vrrp_instance": "ipf_test_VIP_1", "vrid": "1"}, 3},
		{"ipfailover_vrrp_release_master_total", map[string]string{"vrrp_instance": "ipf_test_VIP_1", "vrid": "1"}, 2},
		{"ipfailover_check_up", nil, 1},
		{"ipfailover_check_timeouts_total", nil, 1},
		{"ipfailover_keepalived_up", nil, 1},
		{"ipfailover_keepalived_restarts_total", nil, 2},
		{"ipfailover_config_reloads_total", map[string]string{"result": "ok"}, 3},
		{"ipfailover_config_reloads_total", map[string]string{"result": "unchanged"}, 0},
		{"ipfailover_config_hash_info", map[string]string{"hash": "0123456789abcdef"}, 1},
		{"ipfailover_multicast_rule_present", map[string]string{"chain": "INPUT", "family": "ipv4"}, 1},
		{"ipfailover_build_info", map[string]string{"version": "v1.2.3"}, 1},
	}
	for _, tt := range tests {
		mf := mfs[tt.name]
		if mf == nil {
			t.Errorf("%s not exported", tt.name)
			continue
		}
		if got, ok := value(mf, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if h := mfs["ipfailover_check_duration_seconds"]; h == nil || h.GetMetric()[0].GetHistogram().GetSampleCount() != 1 {
		t.Errorf("check duration histogram: %v", h)
	}
}

// TestKeepalivedDownDropsCounters: with keepalived down (the agent reports
// state_value 0), no MASTER remains and keepalived's own counters go away.
func TestKeepalivedDown(t *testing.T) {
	st := fullStatus()
	st.Keepalived.Running = false
	for i := range st.Instances {
		st.Instances[i].StateValue = 0
	}
	mfs := gather(t, newTestServer(&st))
	for _, m := range mfs["ipfailover_vrrp_state"].GetMetric() {
		if m.GetGauge().GetValue() != 0 {
			t.Errorf("state %v while keepalived is down", m)
		}
	}
	for _, m := range mfs["ipfailover_vip_master"].GetMetric() {
		if m.GetGauge().GetValue() != 0 {
			t.Errorf("vip_master %v while keepalived is down", m)
		}
	}
	if _, ok := mfs["ipfailover_vrrp_adverts_sent_total"]; ok {
		t.Error("keepalived counters exported while it is down")
	}
	if v, _ := value(mfs["ipfailover_keepalived_up"], nil); v != 0 {
		t.Error("keepalived_up is 1")
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestHandlers(t *testing.T) {
	st := fullStatus()
	h := newTestServer(&st).Handler()
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, h, p); code != 200 || body != "ok\n" {
			t.Errorf("%s = %d %q", p, code, body)
		}
	}
	st.Healthy, st.HealthProblem = false, "keepalived process 43 (keepalived) is stopped"
	st.Ready, st.ReadyProblem = false, "keepalived is not running"
	if code, body := get(t, h, "/healthz"); code != 503 || !strings.Contains(body, "stopped") {
		t.Errorf("/healthz unhealthy = %d %q", code, body)
	}
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "not running") {
		t.Errorf("/readyz unready = %d %q", code, body)
	}

	code, body := get(t, h, "/status")
	var back Status
	if err := json.Unmarshal([]byte(body), &back); code != 200 || err != nil {
		t.Fatalf("/status = %d, %v", code, err)
	}
	if len(back.Instances) != 2 || back.Instances[0].VIPs[1].Address != "192.0.2.201" || back.Check.Command != "/bin/check" || back.Healthy {
		t.Errorf("/status round trip: %+v", back)
	}

	code, body = get(t, h, "/")
	if code != 200 {
		t.Fatalf("/ = %d", code)
	}
	for _, want := range []string{"ipf-test", "eth0", "ipf_test_VIP_1", "ipf_test_VIP_2", "192.0.2.200", "192.0.2.201",
		"2001:db8::200", "MASTER", "BACKUP", "no higher-priority master heard", "/bin/check", "INPUT", "unhealthy",
		"configured 100", "0123456789abcdef"} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if strings.Contains(strings.ToLower(body), "<script") {
		t.Error("status page has a script")
	}
	if code, _ := get(t, h, "/nope"); code != 404 {
		t.Errorf("/nope = %d", code)
	}
	if code, body := get(t, h, "/metrics"); code != 200 || !strings.Contains(body, "ipfailover_vrrp_state{") {
		t.Errorf("/metrics = %d", code)
	}
}

func TestWarnings(t *testing.T) {
	st := fullStatus()
	st.Instances[0].VIPs[0].Present = false
	st.Instances[1].VIPs[0].Present = true
	st.MulticastRules[0].Present = false
	w := strings.Join(Warnings(st), "\n")
	for _, want := range []string{"MASTER but VIP 192.0.2.200", "VIP 2001:db8::200 is on eth0 although ipf_test_VIP_2 is BACKUP", "multicast accept rule is missing"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
}

var (
	metricName = regexp.MustCompile(`\bipfailover_[a-z0-9_]+`)
	// labelList matches the label list of by, without, on, ignoring,
	// group_left and group_right.
	labelList = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)`)
	// matcher matches one label matcher inside a selector's braces.
	matcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	selector = regexp.MustCompile(`\{([^{}]*)\}`)
	// templateLabel matches {{ $labels.x }} in alert annotations and
	// {{x}} in Grafana legends.
	annotationLabel = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
	legendLabel     = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

// targetLabels are the labels Prometheus (or the Prometheus operator's
// ServiceMonitor) adds to every scraped series, plus the histogram bucket
// label.
var targetLabels = []string{"instance", "job", "namespace", "pod", "service", "endpoint", "container", "le"}

// ruleFile is a Prometheus rule file (and a PrometheusRule's spec).
type ruleFile struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// readAlerts decodes deploy/monitoring/alerts.yaml strictly.
func readAlerts(t *testing.T) (ruleFile, []byte) {
	t.Helper()
	b, err := os.ReadFile("../deploy/monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(b, &rf); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	return rf, b
}

// dashboardQuery is one query of the Grafana dashboard.
type dashboardQuery struct {
	Panel, Expr, Legend string
}

func readDashboard(t *testing.T) ([]dashboardQuery, []byte) {
	t.Helper()
	b, err := os.ReadFile("../deploy/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr, LegendFormat string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var qs []dashboardQuery
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			qs = append(qs, dashboardQuery{p.Title, tg.Expr, tg.LegendFormat})
		}
	}
	return qs, b
}

// TestMonitoringUsesExportedMetrics: every ipfailover_* name in the Grafana
// dashboard and the alert rules is one the agent exports, and every label
// they group by, match on or print is one of its labels or a target label.
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	st := fullStatus()
	exported := map[string]bool{}
	labels := map[string]bool{}
	for _, l := range targetLabels {
		labels[l] = true
	}
	for name, mf := range gather(t, newTestServer(&st)) {
		exported[name] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[name+s] = true
			}
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
	}

	queries, dashboard := readDashboard(t)
	if len(queries) < 10 {
		t.Fatalf("dashboard has only %d queries", len(queries))
	}
	var exprs []string
	checkLabel := func(where, l string) {
		if !labels[l] {
			t.Errorf("%s uses label %q, which no exported series or scrape target has", where, l)
		}
	}
	for _, q := range queries {
		exprs = append(exprs, q.Expr)
		for _, m := range legendLabel.FindAllStringSubmatch(q.Legend, -1) {
			checkLabel("dashboard panel "+q.Panel, m[1])
		}
	}

	rf, alerts := readAlerts(t)
	var alertNames []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			alertNames = append(alertNames, r.Alert)
			exprs = append(exprs, r.Expr)
			for _, a := range r.Annotations {
				for _, m := range annotationLabel.FindAllStringSubmatch(a, -1) {
					checkLabel("alert "+r.Alert, m[1])
				}
			}
			if r.Labels["severity"] != "critical" && r.Labels["severity"] != "warning" {
				t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s lacks a summary or description", r.Alert)
			}
		}
	}
	for _, want := range []string{"IPFailoverVIPNoMaster", "IPFailoverVIPTwoMasters", "IPFailoverFlapping", "IPFailoverKeepalivedDown", "IPFailoverCheckFailing"} {
		if !slices.Contains(alertNames, want) {
			t.Errorf("alerts.yaml lacks %s (has %v)", want, alertNames)
		}
	}
	for _, e := range exprs {
		for _, m := range labelList.FindAllStringSubmatch(e, -1) {
			for _, l := range strings.Split(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" {
					checkLabel(fmt.Sprintf("query %q", e), l)
				}
			}
		}
		for _, sel := range selector.FindAllStringSubmatch(e, -1) {
			for _, m := range matcher.FindAllStringSubmatch(sel[1], -1) {
				checkLabel(fmt.Sprintf("query %q", e), m[1])
			}
		}
		if !metricName.MatchString(e) {
			t.Errorf("query %q uses no ipfailover metric", e)
		}
	}
	// Names anywhere in the files (descriptions too) must exist, and the
	// old VRRP instance label (renamed by Prometheus) must be gone.
	used := map[string]bool{}
	for _, s := range append(exprs, string(alerts), string(dashboard)) {
		for _, n := range metricName.FindAllString(s, -1) {
			used[n] = true
		}
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"alerts.yaml", alerts}, {"grafana-dashboard.json", dashboard}} {
		if strings.Contains(string(f.b), "exported_instance") {
			t.Errorf("%s still uses exported_instance; the VRRP instance label is vrrp_instance", f.name)
		}
	}
	var names []string
	for n := range used {
		names = append(names, n)
		if !exported[n] {
			t.Errorf("monitoring uses %s, which the agent does not export", n)
		}
	}
	sort.Strings(names)
	t.Logf("metrics used: %v", names)
}
