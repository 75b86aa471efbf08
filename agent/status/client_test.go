package status

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/statusapi"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		":63000":         "http://127.0.0.1:63000/status",
		"0.0.0.0:9":      "http://127.0.0.1:9/status",
		"[::]:9":         "http://[::1]:9/status",
		"192.0.2.1:9465": "http://192.0.2.1:9465/status",
	} {
		if got, err := URL(in); err != nil || got != want {
			t.Errorf("URL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := URL("nope"); err == nil {
		t.Error("URL(nope) succeeded")
	}
}

func TestFetch(t *testing.T) {
	doc, _ := json.Marshal(statusapi.Status{Name: "ipf", Healthy: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/status":
			w.Write(doc)
		case "/garbage":
			w.Write([]byte("{"))
		default:
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	st, body, err := Fetch(t.Context(), srv.URL+"/status")
	if err != nil || st.Name != "ipf" || !st.Healthy || !bytes.Equal(body, doc) {
		t.Errorf("Fetch: %+v %q %v", st, body, err)
	}
	for path, want := range map[string]string{"/garbage": "decode", "/other": "answered 503"} {
		if _, _, err := Fetch(t.Context(), srv.URL+path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}

func TestPrint(t *testing.T) {
	now := time.Now()
	st := statusapi.Status{
		Name: "ipf", Interface: "eth0", NodeAddress: "192.0.2.11", Version: "dev", Healthy: true, Ready: true,
		Keepalived:     statusapi.Keepalived{Running: true, Responsive: true, PID: 7, StartedAt: now.Add(-time.Minute)},
		Config:         statusapi.Config{Path: "/etc/keepalived/keepalived.conf", Hash: "abc", LastResult: "ok", LastReload: now},
		MulticastRules: []statusapi.Rule{{Chain: "INPUT", Family: "ipv4", Present: true}},
		Instances: []statusapi.Instance{{Name: "ipf_VIP_1", VRID: 1, Family: "ipv4", State: "MASTER", StateValue: 2, Priority: 150, BasePriority: 150,
			LastTransition: now.Add(-3 * time.Second), Reason: "peer gone", VIPs: []statusapi.VIP{{Address: "192.0.2.200", Present: true}}}},
	}
	var b bytes.Buffer
	Print(&b, st, now)
	for _, want := range []string{"ipf_VIP_1", "MASTER", "192.0.2.200*", "peer gone", "healthy; ready", "INPUT: present", "check:      none"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestDegraded(t *testing.T) {
	ok := statusapi.Status{Healthy: true, Ready: true, Instances: []statusapi.Instance{{State: "MASTER"}, {State: "BACKUP"}}}
	tests := []struct {
		name string
		mod  func(*statusapi.Status)
		want bool
	}{
		{"healthy", func(*statusapi.Status) {}, false},
		{"unhealthy", func(s *statusapi.Status) { s.Healthy = false }, true},
		{"not ready", func(s *statusapi.Status) { s.Ready = false }, true},
		{"fault", func(s *statusapi.Status) { s.Instances = []statusapi.Instance{{State: "FAULT"}} }, true},
		{"failing check", func(s *statusapi.Status) { s.Check = &statusapi.Check{Ran: true, OK: false} }, true},
		{"check not run yet", func(s *statusapi.Status) { s.Check = &statusapi.Check{} }, false},
	}
	for _, tt := range tests {
		s := ok
		tt.mod(&s)
		if got := Degraded(s); got != tt.want {
			t.Errorf("%s: Degraded = %v, want %v", tt.name, got, tt.want)
		}
	}
}
