package status

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/wire"
)

// segmentFixture is a segment with our instance on VRID 11, a foreign
// router colliding on it and another configuration's VRID 51.
func segmentFixture(t *testing.T) wire.Snapshot {
	t.Helper()
	now := time.Unix(1_700_000_000, 0)
	tab := wire.NewTable(func() time.Time { return now }, wire.Limits{})
	ours := netip.MustParseAddr("192.0.2.11")
	tab.SetLocal(wire.Local{Interface: "eth0", Addrs: []netip.Addr{ours}, Instances: []wire.Instance{{
		Name: "e2e_VIP_1", VRID: 11, Family: wire.IPv4, VIPs: []netip.Addr{netip.MustParseAddr("192.0.2.200")},
		Interval: time.Second, Version: 2, AuthType: 1,
	}}})
	advert := func(src string, vrid, prio uint8, vips ...string) *wire.Advert {
		a := &wire.Advert{Version: 2, VRID: vrid, Priority: prio, AuthType: 1, Interval: time.Second, Family: wire.IPv4,
			Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("224.0.0.18"), TTL: 255, ChecksumOK: true}
		for _, v := range vips {
			a.VIPs = append(a.VIPs, netip.MustParseAddr(v))
		}
		return a
	}
	for range 5 {
		now = now.Add(time.Second)
		tab.Observe(advert("192.0.2.11", 11, 254, "192.0.2.200"))
		tab.Observe(advert("192.0.2.50", 11, 100, "192.0.2.99"))
		tab.Observe(advert("192.0.2.60", 51, 150, "198.51.100.7", "198.51.100.8"))
	}
	return tab.Snapshot()
}

func TestPrintSegment(t *testing.T) {
	seg := segmentFixture(t)
	var b bytes.Buffer
	if err := PrintSegment(&b, seg, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"VRRP on eth0 as heard by 192.0.2.11",
		"e2e_VIP_1", "192.0.2.11 (this node)", "192.0.2.50", "192.0.2.99",
		"51", "192.0.2.60", "198.51.100.7,198.51.100.8", "pass",
		"CONFLICT: collision on VRID 11/ipv4 (e2e_VIP_1)", "CONFLICT: split_brain on VRID 11/ipv4",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// VRID 51 is another configuration's: no instance of ours.
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "51 ") && !strings.Contains(l, " - ") {
			t.Errorf("VRID 51 row names an instance: %q", l)
		}
	}

	b.Reset()
	if err := PrintSegment(&b, seg, true); err != nil {
		t.Fatal(err)
	}
	var back wire.Snapshot
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("--json output: %v", err)
	}
	if len(back.Groups) != 2 || len(back.Conflicts) != len(seg.Conflicts) {
		t.Errorf("--json round trip: %+v", back)
	}

	b.Reset()
	if err := PrintSegment(&b, wire.Snapshot{Interface: "eth0"}, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no VRRP advert heard") || !strings.Contains(b.String(), "no conflict") {
		t.Errorf("empty segment:\n%s", b.String())
	}
}

func TestFetchSegment(t *testing.T) {
	seg := segmentFixture(t)
	doc, err := json.Marshal(seg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok/segment", func(w http.ResponseWriter, r *http.Request) { w.Write(doc) })
	mux.HandleFunc("GET /blind/segment", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no segment view: the agent is not listening to VRRP on the wire (it needs CAP_NET_RAW); see its log", http.StatusNotFound)
	})
	mux.HandleFunc("GET /garbage/segment", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{")) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	got, body, err := FetchSegment(t.Context(), srv.URL+"/ok/status")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, doc) || len(got.Groups) != 2 || !reflect.DeepEqual(got.Conflicts, seg.Conflicts) {
		t.Errorf("FetchSegment = %+v", got)
	}
	for path, want := range map[string]string{
		"/blind/status":   "CAP_NET_RAW",
		"/old/status":     "does not serve /segment",
		"/garbage/status": "decode",
	} {
		_, _, err := FetchSegment(t.Context(), srv.URL+path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want one mentioning %q", path, err, want)
		}
		if path != "/garbage/status" && !errors.Is(err, ErrNoSegment) {
			t.Errorf("%s: err %v is not ErrNoSegment", path, err)
		}
	}
	if got := SegmentURL("http://127.0.0.1:63010/status"); got != "http://127.0.0.1:63010/segment" {
		t.Errorf("SegmentURL = %q", got)
	}
}
