package metrics

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
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
				KeepalivedCounter: &Counters{AdvertsSent: 10, AddressListErrors: 1}},
			{Name: "ipf_test_VIP_2", VRID: 2, Interface: "eth0", Family: "ipv6", State: "BACKUP", StateValue: 1, Priority: 90, BasePriority: 100,
				VIPs: []VIP{{Address: "2001:db8::200", Present: false}}, Transitions: map[string]uint64{"backup": 1}},
		},
	}
}

func newTestServer(s *Status) *Server {
	srv := New(Options{Source: func() Status { return *s }})
	srv.ObserveCheck(10 * time.Millisecond)
	return srv
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

func value(mf *dto.MetricFamily, labels map[string]string) (float64, bool) {
	for _, m := range mf.GetMetric() {
		match := true
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
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
		{"ipfailover_vrrp_state", map[string]string{"instance": "ipf_test_VIP_1", "vrid": "1", "interface": "eth0", "family": "ipv4"}, 2},
		{"ipfailover_vrrp_state", map[string]string{"instance": "ipf_test_VIP_2", "family": "ipv6"}, 1},
		{"ipfailover_vrrp_transitions_total", map[string]string{"instance": "ipf_test_VIP_1", "state": "master"}, 1},
		{"ipfailover_vrrp_transitions_total", map[string]string{"instance": "ipf_test_VIP_1", "state": "fault"}, 0},
		{"ipfailover_vrrp_priority", map[string]string{"instance": "ipf_test_VIP_2"}, 90},
		{"ipfailover_vip_present", map[string]string{"vip": "192.0.2.201", "instance": "ipf_test_VIP_1", "interface": "eth0"}, 1},
		{"ipfailover_vip_present", map[string]string{"vip": "2001:db8::200"}, 0},
		{"ipfailover_vip_master", map[string]string{"vip": "192.0.2.200", "instance": "ipf_test_VIP_1"}, 1},
		{"ipfailover_vip_master", map[string]string{"vip": "2001:db8::200"}, 0},
		{"ipfailover_vrrp_adverts_sent_total", map[string]string{"instance": "ipf_test_VIP_1"}, 10},
		{"ipfailover_vrrp_receive_errors_total", map[string]string{"instance": "ipf_test_VIP_1", "reason": "address_list"}, 1},
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

var metricName = regexp.MustCompile(`\bipfailover_[a-z0-9_]+`)

// TestMonitoringUsesExportedMetrics: every ipfailover_* name in the Grafana
// dashboard and the alert rules is one the agent exports.
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	st := fullStatus()
	exported := map[string]bool{}
	for name, mf := range gather(t, newTestServer(&st)) {
		exported[name] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[name+s] = true
			}
		}
	}

	b, err := os.ReadFile("../deploy/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("dashboard has only %d queries", len(exprs))
	}

	alerts, err := os.ReadFile("../deploy/monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var alertNames []string
	for _, l := range strings.Split(string(alerts), "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "expr:"); ok {
			exprs = append(exprs, strings.TrimSpace(v))
		}
		if v, ok := strings.CutPrefix(l, "- alert:"); ok {
			alertNames = append(alertNames, strings.TrimSpace(v))
		}
	}
	for _, want := range []string{"IPFailoverVIPNoMaster", "IPFailoverVIPTwoMasters", "IPFailoverFlapping", "IPFailoverKeepalivedDown", "IPFailoverCheckFailing"} {
		if !contains(alertNames, want) {
			t.Errorf("alerts.yaml lacks %s (has %v)", want, alertNames)
		}
	}
	// Names anywhere in the files (descriptions too) must exist.
	used := map[string]bool{}
	for _, s := range append(exprs, string(alerts), string(b)) {
		for _, n := range metricName.FindAllString(s, -1) {
			used[n] = true
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
	for _, e := range exprs {
		if !metricName.MatchString(e) {
			t.Errorf("query %q uses no ipfailover metric", e)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
