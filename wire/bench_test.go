package wire

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkDecode decodes one advert per iteration, as the listener does
// into a reused Advert.
func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		name string
		p    packet
	}{
		{"v2", v2(51, 100, "192.0.2.100")},
		{"v3-ipv4", v3(51, 100, "192.0.2.100")},
		{"v3-ipv6", v3six(51, 100, "2001:db8::100")},
		{"v3-ipv4-20vips", v3(51, 100, "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5",
			"192.0.2.6", "192.0.2.7", "192.0.2.8", "192.0.2.9", "192.0.2.10", "192.0.2.11", "192.0.2.12",
			"192.0.2.13", "192.0.2.14", "192.0.2.15", "192.0.2.16", "192.0.2.17", "192.0.2.18", "192.0.2.19", "192.0.2.20")},
	} {
		b.Run(c.name, func(b *testing.B) {
			pkt := c.p.ip()
			var a Advert
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			for b.Loop() {
				if err := DecodeIP(pkt, &a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSegment is the agent's per-packet cost on a busy segment: decode
// plus table update for 254 VRIDs advertising every 0.1 s (2,540 packets/s),
// one source each. It reports the share of one core that rate costs.
func BenchmarkSegment(b *testing.B) {
	const vrids, perSecond = 254, 2540
	pkts := make([][]byte, 0, vrids)
	for v := 1; v <= vrids; v++ {
		p := v3(uint8(v), 100, fmt.Sprintf("192.0.2.%d", v))
		p.Interval = 100 * time.Millisecond
		p.Src = netip.AddrFrom4([4]byte{198, 51, 100, byte(v)})
		pkts = append(pkts, p.ip())
	}
	now := time.Unix(1_700_000_000, 0)
	tab := NewTable(func() time.Time { return now }, Limits{})
	var a Advert
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := DecodeIP(pkts[i%vrids], &a); err != nil {
			b.Fatal(err)
		}
		tab.Observe(&a)
		i++
		now = now.Add(time.Second / perSecond)
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp*perSecond/1e9*100, "%core@2540pps")
}

// BenchmarkSnapshot is the scrape-time cost with 254 VRIDs in the table.
func BenchmarkSnapshot(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	tab := NewTable(func() time.Time { return now }, Limits{})
	var a Advert
	for v := 1; v <= 254; v++ {
		p := v3(uint8(v), 100, fmt.Sprintf("192.0.2.%d", v))
		if err := DecodeIP(p.ip(), &a); err != nil {
			b.Fatal(err)
		}
		tab.Observe(&a)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s := tab.Snapshot(); len(s.Groups) != 254 {
			b.Fatal(len(s.Groups))
		}
	}
}
