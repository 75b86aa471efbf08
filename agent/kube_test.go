package agent

import (
	"bytes"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ipfailover/ipfailover/render"
)

func TestApplyPeers(t *testing.T) {
	peers := []netip.Addr{netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")}
	tests := []struct {
		name        string
		env         []string
		wantUnicast []netip.Addr
	}{
		{"multicast: placement only", nil, nil},
		{"unicast asked, none listed: the API's peers", []string{"OPENSHIFT_HA_USE_UNICAST=true"}, peers},
		{"peers in the environment win", []string{"OPENSHIFT_HA_UNICAST_PEERS=192.0.2.20,192.0.2.21"},
			[]netip.Addr{netip.MustParseAddr("192.0.2.20"), netip.MustParseAddr("192.0.2.21")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, o := applyPeers(testConfig(t, tt.env...), render.Options{}, peers, peers)
			if !slices.Equal(cfg.UnicastPeers, tt.wantUnicast) {
				t.Errorf("unicast peers %v, want %v", cfg.UnicastPeers, tt.wantUnicast)
			}
			if !slices.Equal(o.Nodes, peers) {
				t.Errorf("nodes %v", o.Nodes)
			}
		})
	}
	cfg, o := applyPeers(testConfig(t, "OPENSHIFT_HA_USE_UNICAST=true"), render.Options{}, nil, nil)
	if len(cfg.UnicastPeers) != 0 || o.Nodes != nil {
		t.Errorf("unknown peers changed the configuration: %v %v", cfg.UnicastPeers, o.Nodes)
	}
}

// TestKubeOffOutsideAPod: without in-cluster credentials the features stay
// off with one log line saying why, and everything keeps working.
func TestKubeOffOutsideAPod(t *testing.T) {
	var logs bytes.Buffer
	k := startKube(t.Context(), testConfig(t), func(string) string { return "" }, t.TempDir(), slog.New(slog.NewTextHandler(&logs, nil)))
	if k != nil {
		t.Fatal("features on outside a pod")
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "KUBERNETES_SERVICE_HOST") {
		t.Errorf("want one line saying why:\n%s", logs.String())
	}
	if k.peers() != nil || k.placementNodes() != nil || k.changed() != nil || k.collectors() != nil || k.status() != nil {
		t.Error("a nil view is not inert")
	}
	k.waitSynced(t.Context())
	k.onConflict("x")
}
