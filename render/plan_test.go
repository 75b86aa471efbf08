package render

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/ipfailover/ipfailover/env"
)

// TestPlanIsTheDataTyped: every instance of the plan is the template's
// instance with typed values, so the agent's state model (built from the
// plan) and keepalived.conf (built from the data) name the same instances,
// VRIDs, families, priorities and VIPs.
func TestPlanIsTheDataTyped(t *testing.T) {
	for _, c := range goldenCases() {
		p, err := NewPlan(mustConfig(t, c.env), goldenHost, Options{CheckFile: goldenCheckFile, NotifyFIFO: "/run/x/vrrp.fifo"})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		d := p.Data()
		if len(d.Instances) != len(p.Instances) || d.Check != p.Check || d.NotifyScript != p.NotifyScript {
			t.Fatalf("%s: data %d instances, plan %d", c.name, len(d.Instances), len(p.Instances))
		}
		for i, pi := range p.Instances {
			di := d.Instances[i]
			var vips []string
			for _, v := range pi.VIPs {
				if !v.IsValid() || env.FamilyOf(v.Addr()) != pi.Family {
					t.Errorf("%s: %s: VIP %v is not %s", c.name, pi.Name, v, pi.Family)
				}
				vips = append(vips, v.String())
			}
			if di.Name != pi.Name || di.VRID != pi.VRID || di.Family != pi.Family.String() || di.Priority != pi.Priority ||
				di.Version != pi.Version || !slices.Equal(di.VIPs, vips) {
				t.Errorf("%s: data %+v, plan %+v", c.name, di, pi)
			}
		}
	}
}

func TestPlanUnicastPeersAreTyped(t *testing.T) {
	cfg := mustConfig(t, []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100", "OPENSHIFT_HA_UNICAST_PEERS=192.0.2.10,192.0.2.11"})
	p, err := NewPlan(cfg, goldenHost, Options{CheckFile: goldenCheckFile})
	if err != nil {
		t.Fatal(err)
	}
	in := p.Instances[0]
	if in.UnicastSource != goldenHost.Addr4 || !slices.Equal(in.UnicastPeers, []netip.Addr{netip.MustParseAddr("192.0.2.11")}) {
		t.Errorf("unicast source %v peers %v", in.UnicastSource, in.UnicastPeers)
	}
}
