package hostnet

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultRouteInterface(t *testing.T) {
	tests := []struct {
		root    string
		want    string
		wantErr string
	}{
		{root: "testdata/v4", want: "eth0"},
		{root: "testdata/v6only", want: "eth2"},
		{root: "testdata/v6nofile", want: "eth2"},
		{root: "testdata/none", wantErr: "no default route in testdata/none/net/route or testdata/none/net/ipv6_route"},
		{root: "testdata/bad", wantErr: "parse testdata/bad/net/route: line 2"},
		{root: "testdata/missing", wantErr: "read IPv4 routes"},
	}
	for _, tc := range tests {
		t.Run(tc.root, func(t *testing.T) {
			got, err := DefaultRouteInterface(tc.root)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DefaultRouteInterface = %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("DefaultRouteInterface = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// fakeRunner answers ip commands from canned output and records calls.
type fakeRunner struct {
	outputs map[string]string // command line -> stdout
	fail    map[string]error  // command line -> error
	calls   []string
}

func (f *fakeRunner) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	line := commandLine(name, args)
	f.calls = append(f.calls, line)
	if err := f.fail[line]; err != nil {
		return nil, err
	}
	if out, ok := f.outputs[line]; ok {
		return []byte(out), nil
	}
	return nil, nil
}

// Captured from iproute2 6.1 on this kernel.
const ipJSONva = `[{"ifindex":3,"link":"vb","ifname":"va","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"6e:ce:f4:ee:e0:7c","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet","local":"192.0.2.10","prefixlen":24,"scope":"global","label":"va","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet","local":"192.0.2.50","prefixlen":32,"scope":"global","label":"va","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet","local":"198.51.100.5","prefixlen":24,"scope":"global","secondary":true,"label":"va","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"2001:db8::50","prefixlen":128,"scope":"global","nodad":true,"valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::6cce:f4ff:feee:e07c","prefixlen":64,"scope":"link","tentative":true,"valid_life_time":4294967295,"preferred_life_time":4294967295}]}]`

const showVA = "ip -j addr show dev va"

func prefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestAddresses(t *testing.T) {
	tests := []struct {
		name    string
		ifname  string
		out     string
		fail    error
		want    []netip.Prefix
		wantErr string
	}{
		{
			name:   "veth with VIPs",
			ifname: "va",
			out:    ipJSONva,
			want:   prefixes(t, "192.0.2.10/24", "192.0.2.50/32", "198.51.100.5/24", "2001:db8::50/128", "fe80::6cce:f4ff:feee:e07c/64"),
		},
		{name: "no addresses", ifname: "va", out: `[{"ifindex":3,"ifname":"va","addr_info":[]}]`},
		{name: "entry without local", ifname: "va", out: `[{"ifname":"va","addr_info":[{"family":"inet"}]}]`},
		{name: "ip fails", ifname: "va", fail: errors.New(`Device "va" does not exist.`), wantErr: `list addresses of va: Device "va" does not exist.`},
		{name: "not JSON", ifname: "va", out: "1: va: <UP>", wantErr: "parse ip -j output"},
		{name: "other interface only", ifname: "va", out: `[{"ifname":"vb","addr_info":[]}]`, wantErr: "no entry for va"},
		{name: "bad address", ifname: "va", out: `[{"ifname":"va","addr_info":[{"local":"192.0.2.300","prefixlen":24}]}]`, wantErr: `"192.0.2.300"`},
		{name: "bad prefix length", ifname: "va", out: `[{"ifname":"va","addr_info":[{"local":"192.0.2.3","prefixlen":33}]}]`, wantErr: "prefix length 33"},
		{name: "bad interface name", ifname: "eth0 eth1", wantErr: `interface name "eth0 eth1" is invalid`},
		{name: "interface name too long", ifname: "abcdefghijklmnop", wantErr: "1 to 15 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := "ip -j addr show dev " + tc.ifname
			r := &fakeRunner{outputs: map[string]string{line: tc.out}, fail: map[string]error{line: tc.fail}}
			got, err := Addresses(context.Background(), r, tc.ifname)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Addresses = %v, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Addresses = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestRemoveAddresses(t *testing.T) {
	boom := errors.New("RTNETLINK answers: Operation not permitted")
	tests := []struct {
		name        string
		vips        []netip.Prefix
		fail        map[string]error
		wantRemoved []netip.Prefix
		wantCalls   []string
		wantErr     []string
	}{
		{
			name:        "v4 and v6 VIPs, one absent",
			vips:        prefixes(t, "192.0.2.50/32", "2001:db8::50/128", "203.0.113.9/32"),
			wantRemoved: prefixes(t, "192.0.2.50/32", "2001:db8::50/128"),
			wantCalls:   []string{showVA, "ip addr del 192.0.2.50/32 dev va", "ip addr del 2001:db8::50/128 dev va"},
		},
		{
			name:        "removed with the prefix length found on the interface",
			vips:        prefixes(t, "198.51.100.5/32"),
			wantRemoved: prefixes(t, "198.51.100.5/24"),
			wantCalls:   []string{showVA, "ip addr del 198.51.100.5/24 dev va"},
		},
		{
			name:        "duplicate VIPs are removed once",
			vips:        prefixes(t, "192.0.2.50/32", "192.0.2.50/24"),
			wantRemoved: prefixes(t, "192.0.2.50/32"),
			wantCalls:   []string{showVA, "ip addr del 192.0.2.50/32 dev va"},
		},
		{
			name:      "nothing to do",
			vips:      prefixes(t, "203.0.113.9/32"),
			wantCalls: []string{showVA},
		},
		{
			name:        "a failure does not stop the rest",
			vips:        prefixes(t, "192.0.2.50/32", "2001:db8::50/128"),
			fail:        map[string]error{"ip addr del 192.0.2.50/32 dev va": boom},
			wantRemoved: prefixes(t, "2001:db8::50/128"),
			wantCalls:   []string{showVA, "ip addr del 192.0.2.50/32 dev va", "ip addr del 2001:db8::50/128 dev va"},
			wantErr:     []string{"remove VIP 192.0.2.50/32 from va", "Operation not permitted"},
		},
		{
			name:        "invalid VIP is reported, others removed",
			vips:        []netip.Prefix{{}, netip.MustParsePrefix("192.0.2.50/32")},
			wantRemoved: prefixes(t, "192.0.2.50/32"),
			wantCalls:   []string{showVA, "ip addr del 192.0.2.50/32 dev va"},
			wantErr:     []string{"not a valid address"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeRunner{outputs: map[string]string{showVA: ipJSONva}, fail: tc.fail}
			var logBuf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logBuf, nil))
			removed, err := RemoveAddresses(context.Background(), r, "va", tc.vips, log)
			if !slices.Equal(removed, tc.wantRemoved) {
				t.Errorf("removed = %v, want %v", removed, tc.wantRemoved)
			}
			if !slices.Equal(r.calls, tc.wantCalls) {
				t.Errorf("calls = %q, want %q", r.calls, tc.wantCalls)
			}
			if len(tc.wantErr) == 0 && err != nil {
				t.Errorf("err = %v, want nil", err)
			}
			for _, s := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("err = %v, want it to contain %q", err, s)
				}
			}
			if n := strings.Count(logBuf.String(), `msg="removed VIP"`); n != len(tc.wantRemoved) {
				t.Errorf("logged %d removals, want %d:\n%s", n, len(tc.wantRemoved), logBuf.String())
			}
		})
	}
}

func TestRemoveAddressesListFails(t *testing.T) {
	r := &fakeRunner{fail: map[string]error{showVA: errors.New("boom")}}
	removed, err := RemoveAddresses(context.Background(), r, "va", prefixes(t, "192.0.2.50/32"), nil)
	if err == nil || removed != nil || len(r.calls) != 1 {
		t.Errorf("RemoveAddresses = %v, %v (calls %q); want error and no deletes", removed, err, r.calls)
	}
}

func ipnet(s string) net.Addr {
	p := netip.MustParsePrefix(s)
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func TestFirstGlobal(t *testing.T) {
	addrs := []net.Addr{
		ipnet("127.0.0.1/8"),
		ipnet("fe80::1/64"),
		ipnet("169.254.1.1/16"),
		ipnet("192.0.2.10/24"),
		ipnet("192.0.2.50/32"),
		ipnet("2001:db8::10/64"),
		&net.IPAddr{IP: net.ParseIP("2001:db8::99")},
	}
	tests := []struct {
		addrs  []net.Addr
		fam    int
		want   string
		wantOK bool
	}{
		{addrs, 4, "192.0.2.10", true},
		{addrs, 6, "2001:db8::10", true},
		{addrs[:3], 4, "", false},
		{addrs[:3], 6, "", false},
		{[]net.Addr{&net.IPNet{IP: net.ParseIP("192.0.2.7"), Mask: net.CIDRMask(24, 32)}}, 4, "192.0.2.7", true}, // 16-byte form
		{[]net.Addr{&net.IPNet{IP: net.ParseIP("192.0.2.7"), Mask: net.CIDRMask(24, 32)}}, 6, "", false},
		{[]net.Addr{&net.IPAddr{IP: net.ParseIP("2001:db8::99")}}, 6, "2001:db8::99", true},
	}
	for i, tc := range tests {
		got, ok := firstGlobal(tc.addrs, tc.fam)
		if ok != tc.wantOK || (ok && got.String() != tc.want) {
			t.Errorf("#%d firstGlobal(fam %d) = %v, %v; want %s, %v", i, tc.fam, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestPrimaryAddressInputErrors(t *testing.T) {
	if _, err := PrimaryAddress("lo", 5); err == nil || !strings.Contains(err.Error(), "accepted are 4 and 6") {
		t.Errorf("family 5: %v", err)
	}
	if _, err := PrimaryAddress("", 4); err == nil || !strings.Contains(err.Error(), "interface name") {
		t.Errorf("empty name: %v", err)
	}
	// Loopback exists everywhere but has no global address.
	if _, err := PrimaryAddress("lo", 4); err == nil || !strings.Contains(err.Error(), "no global IPv4 address") {
		t.Errorf("lo: %v", err)
	}
}

// fakeClock advances by step on every reading, so log throttling is
// exercised without real waiting.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

type lookupStep struct {
	flags net.Flags
	addrs []net.Addr
	err   error
}

func scriptedLookup(steps []lookupStep) (lookupFunc, *int) {
	calls := 0
	return func(string) (net.Flags, []net.Addr, error) {
		s := steps[min(calls, len(steps)-1)]
		calls++
		return s.flags, s.addrs, s.err
	}, &calls
}

var errNoSuchIface = &net.OpError{Op: "route", Net: "ip+net", Err: errors.New("no such network interface")}

func TestWaitForInterface(t *testing.T) {
	v4 := []net.Addr{ipnet("fe80::1/64"), ipnet("192.0.2.10/24")}
	steps := []lookupStep{
		{err: errNoSuchIface},
		{err: errNoSuchIface},
		{flags: 0, addrs: v4},
		{flags: net.FlagUp},
		{flags: net.FlagUp, addrs: v4},
	}
	lookup, calls := scriptedLookup(steps)
	var logBuf bytes.Buffer
	w := waiter{lookup: lookup, now: (&fakeClock{step: time.Second}).now, logEvery: 10 * time.Second}
	addr, err := w.wait(context.Background(), "eth0", 4, time.Millisecond, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil || addr != netip.MustParseAddr("192.0.2.10") {
		t.Fatalf("wait = %v, %v; want 192.0.2.10", addr, err)
	}
	if *calls != len(steps) {
		t.Errorf("lookups = %d, want %d", *calls, len(steps))
	}
	logs := logBuf.String()
	for _, want := range []string{
		`missing="interface eth0 does not exist"`,
		`missing="interface eth0 is down"`,
		`missing="interface eth0 has no global IPv4 address"`,
		`msg="interface ready" interface=eth0 family=IPv4 address=192.0.2.10`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	// "does not exist" was seen twice in a row but logged once.
	if n := strings.Count(logs, "does not exist"); n != 1 {
		t.Errorf("'does not exist' logged %d times, want 1:\n%s", n, logs)
	}
}

func TestWaitForInterfaceImmediate(t *testing.T) {
	lookup, _ := scriptedLookup([]lookupStep{{flags: net.FlagUp, addrs: []net.Addr{ipnet("2001:db8::10/64")}}})
	var logBuf bytes.Buffer
	w := waiter{lookup: lookup, now: time.Now, logEvery: time.Hour}
	addr, err := w.wait(context.Background(), "eth0", 6, 0, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil || addr.String() != "2001:db8::10" {
		t.Fatalf("wait = %v, %v", addr, err)
	}
	if logBuf.Len() != 0 {
		t.Errorf("ready at once should log nothing, got:\n%s", logBuf.String())
	}
}

func TestWaitForInterfaceRepeatsLog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lookup, calls := scriptedLookup([]lookupStep{{flags: net.FlagUp}})
	var logBuf bytes.Buffer
	// Each clock reading advances 3s; logs are due every 10s.
	clock := &fakeClock{step: 3 * time.Second}
	w := waiter{
		lookup: func(n string) (net.Flags, []net.Addr, error) {
			if *calls >= 12 {
				cancel()
			}
			return lookup(n)
		},
		now:      clock.now,
		logEvery: 10 * time.Second,
	}
	_, err := w.wait(ctx, "eth0", 4, time.Millisecond, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interface eth0 has no global IPv4 address") {
		t.Fatalf("err = %v; want context.Canceled naming what was missing", err)
	}
	// 13 checks, one clock reading each after the start: log at 3s, 15s, 27s, 39s.
	if n := strings.Count(logBuf.String(), `msg="waiting for interface"`); n < 3 || n > 5 {
		t.Errorf("logged %d times over ~39s of fake time, want about 4:\n%s", n, logBuf.String())
	}
}

func TestWaitForInterfaceTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := WaitForInterface(ctx, "ipf-nonexist0", 4, time.Millisecond, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "interface ipf-nonexist0 does not exist") {
		t.Fatalf("err = %v; want deadline exceeded naming the missing interface", err)
	}
}

func TestExecRunner(t *testing.T) {
	ctx := context.Background()
	out, err := ExecRunner{}.Run(ctx, "sh", "-c", "echo out; echo err >&2")
	if err != nil || string(out) != "out\n" {
		t.Errorf("Run = %q, %v; want stdout only", out, err)
	}
	_, err = ExecRunner{}.Run(ctx, "sh", "-c", "echo 'Device \"x\" does not exist.' >&2; exit 1")
	if err == nil || !strings.Contains(err.Error(), `Device "x" does not exist.`) || !strings.Contains(err.Error(), "sh -c") {
		t.Errorf("Run error = %v; want command line and stderr", err)
	}
	_, err = ExecRunner{Timeout: 50 * time.Millisecond}.Run(ctx, "sleep", "5")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run with timeout: %v; want DeadlineExceeded", err)
	}
}

func TestNetnsRunner(t *testing.T) {
	f := &fakeRunner{}
	_, _ = NetnsRunner{Name: "ns1", Runner: f}.Run(context.Background(), "ip", "-j", "addr")
	if want := []string{"ip netns exec ns1 ip -j addr"}; !slices.Equal(f.calls, want) {
		t.Errorf("calls = %q, want %q", f.calls, want)
	}
}
