package sim

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

func TestMeanMaxLoadNoWorseThanOriginal(t *testing.T) {
	results := Simulate(DefaultCases(), 2000, 1)
	for _, r := range results {
		t.Logf("N=%d G=%d: ours %.2f, original %.2f, unicast %.2f (ideal %d)",
			r.Nodes, r.Groups, r.Ours.MeanMax, r.Original.MeanMax, r.Unicast.MeanMax, r.Ideal)
		if r.Ours.MeanMax > r.Original.MeanMax {
			t.Errorf("N=%d G=%d: mean max load %.2f, original %.2f", r.Nodes, r.Groups, r.Ours.MeanMax, r.Original.MeanMax)
		}
		if r.Unicast.MeanMax != float64(r.Ideal) || r.Unicast.MeanMaxAfterFail != float64(r.IdealAfterFail) {
			t.Errorf("N=%d G=%d: unicast max %.2f / after fail %.2f, want %d / %d", r.Nodes, r.Groups,
				r.Unicast.MeanMax, r.Unicast.MeanMaxAfterFail, r.Ideal, r.IdealAfterFail)
		}
	}
}

func TestOriginalReference(t *testing.T) {
	// .21 with 3 replicas: ipslot 21, idx 1, so every group is claimed and
	// claims alternate 255-21 and 21+1, whatever the random offsets.
	got := Original(netip.MustParseAddr("192.0.2.21"), 4, 3, rand.New(rand.NewPCG(1, 1)))
	if want := []int{234, 22, 234, 22}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// .22: ipslot 22, idx 2: groups 2 and 4 are claimed; 1 and 3 get
	// 22 mod 64 + 0..31.
	got = Original(netip.MustParseAddr("192.0.2.22"), 4, 3, rand.New(rand.NewPCG(1, 1)))
	if got[1] != 233 || got[3] != 23 || got[0] < 22 || got[0] > 53 || got[2] < 22 || got[2] > 53 {
		t.Errorf("got %v, want [22..53 233 22..53 23]", got)
	}
}

func BenchmarkSimulate(b *testing.B) {
	for b.Loop() {
		Simulate(DefaultCases(), 100, 1)
	}
}
