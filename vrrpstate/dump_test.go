package vrrpstate

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const sampleDump = `[{"data":{"iname":"VI_1","ifp_ifname":"eth0","master_priority":0,"last_transition":1795738980.788589,
"vrid":51,"base_priority":150,"effective_priority":140,"state":2,"wantstate":2,"version":2,
"vips":["192.0.2.200/24 dev eth0 scope global set","2001:db8::5 dev eth0"],"auth_type":1,"auth_data":"secret12"},
"stats":{"advert_rcvd":3,"advert_sent":20,"become_master":1,"release_master":0,"packet_len_err":0,"advert_interval_err":0,
"ip_ttl_err":0,"invalid_type_rcvd":0,"addr_list_err":4,"invalid_authtype":0,"authtype_mismatch":0,"auth_failure":2,
"pri_zero_rcvd":1,"pri_zero_sent":0}},
{"data":{"iname":"VI_2","ifp_ifname":"eth0","vrid":52,"state":98,"vips":[]},"stats":{}}]
`

func TestParseDump(t *testing.T) {
	got, err := ParseDump([]byte(sampleDump))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d entries", len(got))
	}
	e := got[0]
	if e.Name != "VI_1" || e.VRID != 51 || e.Interface != "eth0" || e.State != StateMaster || e.Word != WordMaster ||
		e.BasePriority != 150 || e.EffectivePriority != 140 || e.LastTransition.Unix() != 1795738980 {
		t.Errorf("entry %+v", e)
	}
	if len(e.VIPs) != 2 || e.VIPs[0] != netip.MustParsePrefix("192.0.2.200/24") || e.VIPs[1] != netip.MustParsePrefix("2001:db8::5/128") {
		t.Errorf("vips %v", e.VIPs)
	}
	if e.Stats.AdvertSent != 20 || e.Stats.AddrListErr != 4 || e.Stats.AuthFailure != 2 || e.Stats.PriZeroRcvd != 1 {
		t.Errorf("stats %+v", e.Stats)
	}
	if got[1].Word != WordStop || got[1].State != StateInit {
		t.Errorf("stopped entry %+v", got[1])
	}
}

func TestParseDumpPartialNeverLeaksPassword(t *testing.T) {
	for _, cut := range []int{0, 10, strings.Index(sampleDump, "secret12") + 4, len(sampleDump) - 3} {
		_, err := ParseDump([]byte(sampleDump[:cut]))
		if err == nil {
			t.Errorf("partial dump (%d bytes) parsed", cut)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	// Balanced brackets but broken inside.
	bad := strings.Replace(sampleDump, `"secret12"`, `secret12`, 1)
	if _, err := ParseDump([]byte(bad)); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("broken dump: %v", err)
	}
}

// TestHeartbeatDump plays keepalived: on the signal, a helper process
// renames an empty file into place first and writes it later, as
// keepalived's fopen_safe does; Dump must return only the complete dump.
func TestHeartbeatDump(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.json")
	if err := os.WriteFile(src, []byte(sampleDump), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, DumpFile)
	script := `trap 't=` + dst + `.tmp; : > $t; mv $t ` + dst + `; sleep 0.05; cat ` + src + ` > ` + dst + `' USR1
while :; do sleep 0.01; done`
	cmd := startShell(t, script)
	h := &Heartbeat{Dir: dir, Signal: syscall.SIGUSR1, Period: 3 * time.Second}
	var entries []DumpEntry
	var err error
	poll(t, 10*time.Second, func() error {
		// The trap may not be installed yet on the first tries.
		entries, err = h.Dump(context.Background(), cmd)
		return err
	})
	if len(entries) != 2 || entries[0].Name != "VI_1" {
		t.Fatalf("entries %+v", entries)
	}
}

func startShell(t *testing.T, script string) int {
	t.Helper()
	p, err := os.StartProcess("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{nil, os.Stderr, os.Stderr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill(); p.Wait() })
	// Give the shell time to install its trap before the first signal.
	poll(t, 5*time.Second, func() error {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/status")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			// SigCgt bit 10 (SIGUSR1 = 10, bit 9 zero-based).
			if strings.HasPrefix(l, "SigCgt:") && hasSig(strings.TrimSpace(l[7:]), 10) {
				return nil
			}
		}
		return os.ErrNotExist
	})
	return p.Pid
}

// hasSig reports whether the hex signal mask has signal sig set.
func hasSig(mask string, sig int) bool {
	v, err := strconv.ParseUint(mask, 16, 64)
	return err == nil && v&(1<<(sig-1)) != 0
}
