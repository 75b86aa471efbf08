package render

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfailover/ipfailover/env"
)

func renderPlan(t *testing.T, p Plan) []byte {
	t.Helper()
	tmpl, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Execute(p.Data())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// instanceBlocks splits a rendered keepalived.conf into its vrrp_instance
// blocks by name.
func instanceBlocks(conf []byte) map[string]string {
	out := map[string]string{}
	parts := strings.Split(string(conf), "\nvrrp_instance ")
	for _, p := range parts[1:] {
		name, _, _ := strings.Cut(p, " ")
		out[name] = p
	}
	return out
}

// TestWithoutNothingIsGolden: skipping nothing renders every golden file
// byte for byte.
func TestWithoutNothingIsGolden(t *testing.T) {
	for _, c := range goldenCases() {
		p, err := NewPlan(mustConfig(t, c.env), goldenHost, Options{Version: "test", CheckFile: goldenCheckFile})
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("testdata", c.name+".golden"))
		if err != nil {
			t.Fatal(err)
		}
		for _, skip := range []map[InstanceKey]bool{nil, {}, {{VRID: 255, Family: env.IPv6}: true}} {
			if got := renderPlan(t, p.Without(skip)); !bytes.Equal(got, want) {
				t.Errorf("%s: Without(%v) differs from the golden file", c.name, skip)
			}
		}
	}
}

// TestWithoutLeavesOtherInstancesAlone: a skipped instance's block is gone
// and every other block is byte-identical, so a reload keeps them.
func TestWithoutLeavesOtherInstancesAlone(t *testing.T) {
	cfg := mustConfig(t, []string{"OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100-103,2001:db8::100-103", "OPENSHIFT_HA_VIP_GROUPS=3"})
	p, err := NewPlan(cfg, goldenHost, Options{Version: "test", CheckFile: goldenCheckFile})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Instances) != 4 {
		t.Fatalf("want 4 instances, got %d", len(p.Instances))
	}
	// Groups 192.0.2.100-102, [192.0.2.103 2001:db8::100-101],
	// 2001:db8::102-103: the second group runs two instances on one VRID,
	// and only its IPv6 one is skipped.
	skipped := p.Instances[2]
	if p.Instances[1].VRID != skipped.VRID || skipped.Family != env.IPv6 {
		t.Fatalf("instances %+v: the third is not the second group's IPv6 one", p.Instances)
	}
	q := p.Without(map[InstanceKey]bool{skipped.Key(): true})
	if len(p.Instances) != 4 || len(q.Instances) != 3 {
		t.Fatalf("plan %d instances (want 4, unchanged), without %d (want 3)", len(p.Instances), len(q.Instances))
	}
	all, some := instanceBlocks(renderPlan(t, p)), instanceBlocks(renderPlan(t, q))
	if _, ok := some[skipped.Name]; ok {
		t.Errorf("%s is still rendered", skipped.Name)
	}
	for name, block := range some {
		if all[name] != block {
			t.Errorf("%s changed:\n%s\nwas:\n%s", name, block, all[name])
		}
	}
	if len(some) != 3 {
		t.Errorf("rendered %d instances, want 3", len(some))
	}
	for _, in := range q.Instances {
		if in.Key() == skipped.Key() {
			t.Errorf("%v still in the plan", in.Key())
		}
	}
}
