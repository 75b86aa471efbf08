package env

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func mustVIPs(t testing.TB, s string) []VIP {
	t.Helper()
	v, err := ParseVIPs(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// groupShape renders groups as "VRID:vip+vip" for compact comparison.
func groupShape(groups []Group) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		addrs := make([]string, len(g.VIPs))
		for j, v := range g.VIPs {
			addrs[j] = v.Addr().String()
		}
		out[i] = fmt.Sprintf("%d:%s", g.VRID, strings.Join(addrs, "+"))
	}
	return out
}

func TestSplitGroups(t *testing.T) {
	tests := []struct {
		name     string
		vips     string
		groups   int
		offset   int
		excluded []int
		want     []string
	}{
		{"one VIP per group when unset", "10.0.0.1-3", 0, 10, nil,
			[]string{"11:10.0.0.1", "12:10.0.0.2", "13:10.0.0.3"}},
		{"7 VIPs in 3 groups: 3,2,2", "10.0.0.1-7", 3, 10, nil,
			[]string{"11:10.0.0.1+10.0.0.2+10.0.0.3", "12:10.0.0.4+10.0.0.5", "13:10.0.0.6+10.0.0.7"}},
		{"more groups than VIPs", "10.0.0.1-2", 5, 10, nil,
			[]string{"11:10.0.0.1", "12:10.0.0.2"}},
		{"one group", "10.0.0.1-3", 1, 0, nil,
			[]string{"1:10.0.0.1+10.0.0.2+10.0.0.3"}},
		{"excluded IDs shift every later group", "10.0.0.1-4", 0, 10, []int{12, 13},
			[]string{"11:10.0.0.1", "14:10.0.0.2", "15:10.0.0.3", "16:10.0.0.4"}},
		{"exclusion below the offset is irrelevant", "10.0.0.1-2", 0, 10, []int{5},
			[]string{"11:10.0.0.1", "12:10.0.0.2"}},
		{"dual stack: one group keeps the listed order", "2001:db8::1, 10.0.0.1, 2001:db8::2, 10.0.0.2", 1, 10, nil,
			[]string{"11:2001:db8::1+10.0.0.1+2001:db8::2+10.0.0.2"}},
		{"dual stack: groups split the whole list", "10.0.0.1-5, 2001:db8::1-2", 2, 10, nil,
			[]string{"11:10.0.0.1+10.0.0.2+10.0.0.3+10.0.0.4", "12:10.0.0.5+2001:db8::1+2001:db8::2"}},
		{"dual stack, one per VIP, in listed order", "2001:db8::1, 10.0.0.1", 0, 10, nil,
			[]string{"11:2001:db8::1", "12:10.0.0.1"}},
		{"original's own test list with 2 groups", "10.0.2.100-102,2001:DB8:1ABC::1F39-1F3B", 2, 10, nil,
			[]string{"11:10.0.2.100+10.0.2.101+10.0.2.102", "12:2001:db8:1abc::1f39+2001:db8:1abc::1f3a+2001:db8:1abc::1f3b"}},
		{"last VRID 255 fits", "10.0.0.1-5", 0, 250, nil,
			[]string{"251:10.0.0.1", "252:10.0.0.2", "253:10.0.0.3", "254:10.0.0.4", "255:10.0.0.5"}},
		{"e2e: 255 VIPs in 238 groups at offset 0", "192.168.254.1-255", 238, 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitGroups(mustVIPs(t, tt.vips), tt.groups, tt.offset, tt.excluded)
			if err != nil {
				t.Fatal(err)
			}
			for i, g := range got {
				if g.Index != i+1 {
					t.Errorf("group %d has Index %d", i, g.Index)
				}
			}
			if tt.want == nil {
				if len(got) != 238 || got[237].VRID != 238 || len(got[0].VIPs) != 2 || len(got[237].VIPs) != 1 {
					t.Errorf("e2e case: %d groups, last VRID %d", len(got), got[len(got)-1].VRID)
				}
				return
			}
			if s := groupShape(got); !slices.Equal(s, tt.want) {
				t.Errorf("got  %v\nwant %v", s, tt.want)
			}
		})
	}
}

func TestSplitGroupsVRIDOverflow(t *testing.T) {
	tests := []struct {
		name        string
		vips        string
		groups      int
		offset      int
		excluded    []int
		wantFit     int
		wantLast    int
		wantSuggest int
	}{
		{"offset 250 with 10 VIPs", "10.0.0.1-10", 0, 250, nil, 5, 260, 5},
		{"exclusions eat IDs", "10.0.0.1-5", 0, 250, []int{251}, 4, 256, 4},
		{"300 VIPs at the default offset", "10.0.0.0-10.0.1.43", 0, 10, nil, 245, 310, 245},
		{"dual stack counts the whole list", "10.0.0.1-200, 2001:db8::1-64", 0, 10, nil, 245, 310, 245},
		{"one group fits", "10.0.0.1, 2001:db8::1", 0, 254, nil, 1, 256, 1},
		{"nothing fits", "10.0.0.1-2", 0, 253, []int{254, 255}, 0, 257, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SplitGroups(mustVIPs(t, tt.vips), tt.groups, tt.offset, tt.excluded)
			var re *VRIDRangeError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *VRIDRangeError", err)
			}
			if re.Fit != tt.wantFit || re.LastVRID != tt.wantLast || re.Suggest != tt.wantSuggest {
				t.Errorf("got fit %d last %d suggest %d, want %d %d %d (%v)", re.Fit, re.LastVRID, re.Suggest, tt.wantFit, tt.wantLast, tt.wantSuggest, err)
			}
			if tt.wantSuggest > 0 && !strings.Contains(err.Error(), fmt.Sprintf("OPENSHIFT_HA_VIP_GROUPS=%d", tt.wantSuggest)) {
				t.Errorf("message lacks the suggestion: %v", err)
			}
			// The suggestion must actually work.
			if tt.wantSuggest > 0 {
				if _, err := SplitGroups(mustVIPs(t, tt.vips), tt.wantSuggest, tt.offset, tt.excluded); err != nil {
					t.Errorf("suggested groups %d still fail: %v", tt.wantSuggest, err)
				}
			}
		})
	}
}

func TestSplitGroupsBadArguments(t *testing.T) {
	v := mustVIPs(t, "10.0.0.1")
	if _, err := SplitGroups(v, -1, 10, nil); err == nil {
		t.Error("negative groups accepted")
	}
	if _, err := SplitGroups(v, 0, 255, nil); err == nil {
		t.Error("offset 255 accepted")
	}
	if g, err := SplitGroups(nil, 0, 10, nil); err != nil || g != nil {
		t.Errorf("no VIPs: %v, %v", g, err)
	}
}

func TestGroupFamilies(t *testing.T) {
	g := Group{VIPs: mustVIPs(t, "2001:db8::1, 10.0.0.1, 2001:db8::2")}
	if f := g.Families(); !slices.Equal(f, []Family{IPv6, IPv4}) {
		t.Errorf("Families = %v, want [ipv6 ipv4]", f)
	}
	if v := g.Of(IPv6); len(v) != 2 || v[1].Addr().String() != "2001:db8::2" {
		t.Errorf("Of(IPv6) = %v", v)
	}
	if v := g.Of(IPv4); len(v) != 1 {
		t.Errorf("Of(IPv4) = %v", v)
	}
}
