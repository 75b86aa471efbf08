package statusapi

import (
	"bufio"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

const openMetricsAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

// scrape GETs /metrics from a live server with the given Accept header
// ("" sends none) and returns the media type and the body.
func scrape(t *testing.T, url, accept string) (mediaType string, params map[string]string, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics (Accept %q) = %d\n%s", accept, resp.StatusCode, b)
	}
	mediaType, params, err = mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	return mediaType, params, string(b)
}

// liveServer serves the full status on a real listener.
func liveServer(t *testing.T) string {
	t.Helper()
	st := fullStatus()
	ts := httptest.NewServer(newTestServer(&st).Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestScrapeTextFormat scrapes a live server the way a Prometheus without
// OpenMetrics (or curl) does and lints the exposition as scraped.
func TestScrapeTextFormat(t *testing.T) {
	url := liveServer(t)
	for _, accept := range []string{"", "text/plain;version=0.0.4;q=1,*/*;q=0.1"} {
		mt, params, body := scrape(t, url, accept)
		if mt != "text/plain" || params["version"] != "0.0.4" {
			t.Errorf("Accept %q: Content-Type %s %v, want text/plain version 0.0.4", accept, mt, params)
		}
		problems, err := promlint.New(strings.NewReader(body)).Lint()
		if err != nil {
			t.Fatalf("parse the scrape: %v", err)
		}
		for _, p := range problems {
			t.Errorf("promlint on the scrape: %s: %s", p.Metric, p.Text)
		}
		checkVRRPInstanceLabel(t, body)
		for _, want := range []string{
			`ipfailover_vrrp_become_master_total{vrid="1",vrrp_instance="ipf_test_VIP_1"} 3`,
			`ipfailover_vrrp_release_master_total{vrid="1",vrrp_instance="ipf_test_VIP_1"} 2`,
			`ipfailover_vip_master{vip="192.0.2.200",vrrp_instance="ipf_test_VIP_1"} 1`,
		} {
			if !strings.Contains(body, want+"\n") {
				t.Errorf("scrape lacks %s", want)
			}
		}
	}
}

// omLine is one line of the OpenMetrics text format: a descriptor, a
// sample (name, optional labels, value) or the terminating # EOF.
var (
	omDescriptor = regexp.MustCompile(`^# (HELP|TYPE|UNIT) ([a-zA-Z_:][a-zA-Z0-9_:]*)( .*)?$`)
	omSample     = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( \S+)?$`)
)

// TestScrapeOpenMetrics scrapes a live server the way Prometheus does
// (OpenMetrics preferred) and checks the exposition's structure: the
// content type, one TYPE per family, counter samples with _total, and the
// terminating # EOF.
func TestScrapeOpenMetrics(t *testing.T) {
	url := liveServer(t)
	mt, params, body := scrape(t, url, openMetricsAccept)
	if mt != "application/openmetrics-text" || params["version"] == "" {
		t.Fatalf("Content-Type %s %v, want application/openmetrics-text", mt, params)
	}
	if !strings.HasSuffix(body, "\n# EOF\n") {
		t.Errorf("OpenMetrics exposition does not end with # EOF")
	}
	types := map[string]string{}
	samples := 0
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	eof := false
	for sc.Scan() {
		l := sc.Text()
		if eof {
			t.Fatalf("line after # EOF: %q", l)
		}
		if l == "# EOF" {
			eof = true
			continue
		}
		if m := omDescriptor.FindStringSubmatch(l); m != nil {
			if m[1] == "TYPE" {
				// The Go collector's gauge go_memstats_alloc_bytes and
				// counter go_memstats_alloc_bytes_total share a family
				// name in OpenMetrics (client_golang issue 829, open
				// upstream; Prometheus ingests both). No other clash
				// is allowed, ours least of all.
				if _, dup := types[m[2]]; dup && m[2] != "go_memstats_alloc_bytes" {
					t.Errorf("family %s has two TYPE lines", m[2])
				}
				types[m[2]] = strings.TrimSpace(m[3])
			}
			continue
		}
		m := omSample.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("not an OpenMetrics line: %q", l)
			continue
		}
		samples++
		name := m[1]
		family := name
		for _, suffix := range []string{"_total", "_created", "_bucket", "_sum", "_count", "_info"} {
			if f, ok := strings.CutSuffix(name, suffix); ok {
				if _, known := types[f]; known {
					family = f
					break
				}
			}
		}
		typ, ok := types[family]
		if !ok {
			t.Errorf("sample %q has no TYPE line before it", l)
			continue
		}
		if typ == "counter" && !strings.HasSuffix(name, "_total") && !strings.HasSuffix(name, "_created") {
			t.Errorf("counter sample without _total: %q", l)
		}
	}
	if samples < 50 {
		t.Errorf("only %d samples", samples)
	}
	for _, fam := range []string{"ipfailover_vrrp_become_master", "ipfailover_vrrp_release_master", "ipfailover_vrrp_transitions", "ipfailover_keepalived_restarts"} {
		if types[fam] != "counter" {
			t.Errorf("OpenMetrics TYPE of %s = %q, want counter", fam, types[fam])
		}
	}
	if types["ipfailover_vrrp_state"] != "gauge" || types["ipfailover_check_duration_seconds"] != "histogram" {
		t.Errorf("types: state %q, check duration %q", types["ipfailover_vrrp_state"], types["ipfailover_check_duration_seconds"])
	}
	checkVRRPInstanceLabel(t, body)
	for _, want := range []string{
		`ipfailover_vrrp_become_master_total{vrid="1",vrrp_instance="ipf_test_VIP_1"} 3`,
		`ipfailover_vrrp_release_master_total{vrid="1",vrrp_instance="ipf_test_VIP_1"} 2`,
	} {
		// OpenMetrics writes floats: 3.0.
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `(\.0)?$`).MatchString(body) {
			t.Errorf("OpenMetrics scrape lacks %s", want)
		}
	}
}

// checkVRRPInstanceLabel: no series carries a label named "instance",
// which Prometheus would rename to exported_instance.
func checkVRRPInstanceLabel(t *testing.T, body string) {
	t.Helper()
	if strings.Contains(body, `{instance="`) || strings.Contains(body, `,instance="`) {
		t.Error(`a series has an "instance" label; the VRRP instance label is vrrp_instance`)
	}
	if !strings.Contains(body, `vrrp_instance="ipf_test_VIP_2"`) {
		t.Error("no vrrp_instance label in the scrape")
	}
}

// TestCollectorLint lints the agent's own collector in isolation, so a
// problem is attributed to it rather than to the runtime collectors.
func TestCollectorLint(t *testing.T) {
	st := fullStatus()
	c := &collector{d: newDescs(), source: func() Status { return st }}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	// Every described family is collected with the full status.
	if n := testutil.CollectAndCount(c); n < 40 {
		t.Errorf("collector produced %d series", n)
	}
}
