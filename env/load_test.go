package env

import (
	"errors"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
)

const testVIPs = "OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.10"

func mustLoad(t *testing.T, environ ...string) (Config, []Warning) {
	t.Helper()
	c, w, err := Load(environ)
	if err != nil {
		t.Fatalf("Load(%q): %v", environ, err)
	}
	return c, w
}

func problems(t *testing.T, environ ...string) []Problem {
	t.Helper()
	_, _, err := Load(environ)
	var inv *InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("Load(%q) error = %v, want *InvalidError", environ, err)
	}
	return inv.Problems
}

func TestLoadDefaults(t *testing.T) {
	c, w := mustLoad(t, testVIPs)
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	want := Config{
		Name:             "OpenShift-IPFailover",
		VIPs:             []VIP{{Prefix: netip.MustParsePrefix("192.0.2.10/32")}},
		Groups:           []Group{{Index: 1, VRID: 11, VIPs: []VIP{{Prefix: netip.MustParsePrefix("192.0.2.10/32")}}}},
		MonitorPort:      80,
		CheckInterval:    2 * time.Second,
		ReplicaCount:     1,
		VRIDOffset:       10,
		IPTablesChain:    "INPUT",
		Preemption:       Preemption{Delay: 300},
		AdminEmails:      []string{"root@localhost"},
		SMTPServer:       "127.0.0.1",
		KeepalivedConfig: "/etc/keepalived/keepalived.conf",
		AdvertInterval:   time.Second,
		MetricsAddress:   ":63010",
		LogFormat:        "text",
		LogLevel:         "info",
		Kubernetes:       "auto",
		ConflictPolicy:   ConflictRefuse,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

// Variables set to "" mean "use the default", like ${VAR:-default} in the
// original image; `oc adm ipfailover` emits empty values.
func TestLoadEmptyMeansDefault(t *testing.T) {
	c, _ := mustLoad(t, testVIPs,
		"OPENSHIFT_HA_CONFIG_NAME=", "OPENSHIFT_HA_MONITOR_PORT=", "OPENSHIFT_HA_PREEMPTION=",
		"OPENSHIFT_HA_VIP_GROUPS=", "OPENSHIFT_HA_CHECK_SCRIPT=", "OPENSHIFT_HA_USE_UNICAST=",
		"KEEPALIVED_CONFIG=", "OPENSHIFT_HA_ADVERT_INTERVAL=")
	if c.Name != "OpenShift-IPFailover" || c.MonitorPort != 80 || c.Preemption.Delay != 300 ||
		c.KeepalivedConfig != "/etc/keepalived/keepalived.conf" || c.AdvertInterval != time.Second {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestLoadEverything(t *testing.T) {
	c, w := mustLoad(t,
		"OPENSHIFT_HA_CONFIG_NAME=ipf-ha.router",
		"OPENSHIFT_HA_VIRTUAL_IPS=10.245.2.101-105, 2001:db8::10/64",
		"OPENSHIFT_HA_VIP_GROUPS=2",
		"OPENSHIFT_HA_NETWORK_INTERFACE=br-ex",
		"OPENSHIFT_HA_MONITOR_PORT=0",
		"OPENSHIFT_HA_REPLICA_COUNT= 3 ",
		"OPENSHIFT_HA_VRRP_ID_OFFSET=0",
		"HA_EXCLUDED_VRRP_IDS=2 9",
		"OPENSHIFT_HA_EXCLUDED_VRRP_IDS=9,1",
		"OPENSHIFT_HA_IPTABLES_CHAIN=OPENSHIFT-FW.in_1",
		"OPENSHIFT_HA_CHECK_SCRIPT=/etc/keepalive/mycheckscript.sh",
		"OPENSHIFT_HA_CHECK_INTERVAL=10",
		"OPENSHIFT_HA_NOTIFY_SCRIPT=/var/notify.sh",
		"OPENSHIFT_HA_PREEMPTION=  nopreempt ",
		"OPENSHIFT_HA_UNICAST_PEERS=198.51.100.1, 198.51.100.2 2001:db8:1::1",
		"OPENSHIFT_HA_USE_UNICAST=Yes",
		"OPENSHIFT_HA_SELECTOR=ha=true",
		"OPENSHIFT_HA_ADMIN_EMAILS=ops@example.com,a.b+c@mail.example.org",
		"OPENSHIFT_HA_SMTP_SERVER=smtp.example.com",
		"MULTICAST_SOURCE_IPADDRESS=198.51.100.1",
		"UNICAST_SOURCE_IPADDRESS=2001:db8:1::1",
		"KEEPALIVED_CONFIG=/run/keepalived/keepalived.conf",
		"KEEPALIVED_OPTIONS=-D --log-facility daemon -n -S 5 --dont-fork",
		"OPENSHIFT_HA_KEEPALIVED_TEMPLATE=/etc/ipfailover/keepalived.conf.tmpl",
		"OPENSHIFT_HA_ADVERT_INTERVAL=0.5",
		"OPENSHIFT_HA_METRICS_ADDRESS=127.0.0.1:9465",
		"OPENSHIFT_HA_AUTH_PASSWORD_FILE=/etc/ipfailover/auth/password",
	)
	// Only the rollout warning: the original excluded nothing for the
	// comma in HA_EXCLUDED_VRRP_IDS, so its VRIDs differ.
	if len(w) != 1 || !strings.Contains(w[0].Message, "differ from the original") {
		t.Errorf("warnings: %v", w)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Name", c.Name, "ipf-ha.router"},
		{"VIPs", len(c.VIPs), 6},
		{"VIPGroups", c.VIPGroups, 2},
		{"Groups", groupShape(c.Groups), []string{
			"3:10.245.2.101+10.245.2.102+10.245.2.103", "4:10.245.2.104+10.245.2.105+2001:db8::10"}},
		{"Interface", c.Interface, "br-ex"},
		{"MonitorPort", c.MonitorPort, 0},
		{"ReplicaCount", c.ReplicaCount, 3},
		{"VRIDOffset", c.VRIDOffset, 0},
		{"ExcludedVRIDs", c.ExcludedVRIDs, []int{1, 2, 9}},
		{"IPTablesChain", c.IPTablesChain, "OPENSHIFT-FW.in_1"},
		{"CheckScript", c.CheckScript, "/etc/keepalive/mycheckscript.sh"},
		{"CheckInterval", c.CheckInterval, 10 * time.Second},
		{"NotifyScript", c.NotifyScript, "/var/notify.sh"},
		{"Preemption", c.Preemption, Preemption{NoPreempt: true}},
		{"UnicastPeers", c.UnicastPeers, []netip.Addr{
			netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("2001:db8:1::1")}},
		{"UseUnicast", c.UseUnicast, true},
		{"Selector", c.Selector, "ha=true"},
		{"AdminEmails", c.AdminEmails, []string{"ops@example.com", "a.b+c@mail.example.org"}},
		{"SMTPServer", c.SMTPServer, "smtp.example.com"},
		{"MulticastSource", c.MulticastSource, netip.MustParseAddr("198.51.100.1")},
		{"UnicastSource", c.UnicastSource, netip.MustParseAddr("2001:db8:1::1")},
		{"KeepalivedConfig", c.KeepalivedConfig, "/run/keepalived/keepalived.conf"},
		{"KeepalivedOptions", c.KeepalivedOptions, []string{"-D", "--log-facility", "daemon", "-S", "5"}},
		{"AuthPasswordFile", c.AuthPasswordFile, "/etc/ipfailover/auth/password"},
		{"KeepalivedTemplate", c.KeepalivedTemplate, "/etc/ipfailover/keepalived.conf.tmpl"},
		{"AdvertInterval", c.AdvertInterval, 500 * time.Millisecond},
		{"MetricsAddress", c.MetricsAddress, "127.0.0.1:9465"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadAcceptedForms(t *testing.T) {
	tests := []struct {
		env   string
		check func(Config) bool
	}{
		{"OPENSHIFT_HA_PREEMPTION=preempt_delay 0", func(c Config) bool { return c.Preemption == Preemption{} }},
		{"OPENSHIFT_HA_PREEMPTION=preempt   1000", func(c Config) bool { return c.Preemption.Delay == 1000 }},
		{"OPENSHIFT_HA_PREEMPTION=\tpreempt_delay 120\n", func(c Config) bool { return c.Preemption.Delay == 120 }},
		{"OPENSHIFT_HA_USE_UNICAST=FALSE", func(c Config) bool { return !c.UseUnicast }},
		{"OPENSHIFT_HA_USE_UNICAST=0", func(c Config) bool { return !c.UseUnicast }},
		{"OPENSHIFT_HA_USE_UNICAST=no", func(c Config) bool { return !c.UseUnicast }},
		{"OPENSHIFT_HA_MONITOR_PORT=65535", func(c Config) bool { return c.MonitorPort == 65535 }},
		{"OPENSHIFT_HA_VRRP_ID_OFFSET=254", func(c Config) bool { return c.Groups[0].VRID == 255 }},
		{"OPENSHIFT_HA_CHECK_SCRIPT=/etc/keepalive/check.sh --strict  -t 5", func(c Config) bool {
			return c.CheckScript == "/etc/keepalive/check.sh --strict -t 5" && ScriptProgram(c.CheckScript) == "/etc/keepalive/check.sh"
		}},
		{"OPENSHIFT_HA_NOTIFY_SCRIPT=/n.sh a=b,c 50%", func(c Config) bool { return c.NotifyScript == "/n.sh a=b,c 50%" }},
		{"OPENSHIFT_HA_VIP_GROUPS=0", func(c Config) bool { return c.VIPGroups == 0 && len(c.Groups) == 1 }},
		{"OPENSHIFT_HA_CHECK_INTERVAL=3600", func(c Config) bool { return c.CheckInterval == time.Hour }},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=255", func(c Config) bool { return c.AdvertInterval == 255*time.Second }},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=0.01", func(c Config) bool { return c.AdvertInterval == 10*time.Millisecond }},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=40.95", func(c Config) bool { return c.AdvertInterval == 40950*time.Millisecond }},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=1.0", func(c Config) bool { return c.AdvertInterval == time.Second }},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=2.5", func(c Config) bool { return c.AdvertInterval == 2500*time.Millisecond }},
		{"OPENSHIFT_HA_NETWORK_INTERFACE=abcdefghijklmno", func(c Config) bool { return c.Interface == "abcdefghijklmno" }},
		{"OPENSHIFT_HA_NETWORK_INTERFACE=eth0.100", func(c Config) bool { return c.Interface == "eth0.100" }},
		{"OPENSHIFT_HA_SMTP_SERVER=2001:db8::25", func(c Config) bool { return c.SMTPServer == "2001:db8::25" }},
		{"OPENSHIFT_HA_METRICS_ADDRESS=", func(c Config) bool { return c.MetricsAddress == "" }},
		{"OPENSHIFT_HA_METRICS_ADDRESS=[::1]:9000", func(c Config) bool { return c.MetricsAddress == "[::1]:9000" }},
		{"OPENSHIFT_HA_METRICS_ADDRESS=localhost:9000", func(c Config) bool { return c.MetricsAddress == "localhost:9000" }},
		{"OPENSHIFT_HA_VRRP_ID_OFFSET=0", func(c Config) bool { return c.MetricsAddress == ":63000" }},
		{"OPENSHIFT_HA_CONFIG_NAME=" + strings.Repeat("n", 128), func(c Config) bool { return len(c.Name) == 128 }},
		{"KEEPALIVED_OPTIONS=-lD -X", func(c Config) bool { return slices.Equal(c.KeepalivedOptions, []string{"-lD", "-X"}) }},
		{"KEEPALIVED_OPTIONS=--umask=022 -a", func(c Config) bool {
			return slices.Equal(c.KeepalivedOptions, []string{"--umask=022", "-a"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			c, _ := mustLoad(t, testVIPs, tt.env)
			if !tt.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

// TestLoadRejected checks one Problem per bad variable or entry, naming the
// variable and the offending value.
func TestLoadRejected(t *testing.T) {
	tests := []struct {
		env      string // one variable (OPENSHIFT_HA_VIRTUAL_IPS defaults to a good value)
		variable string // expected Problem.Variable
		value    string // expected Problem.Value
		reason   string // fragment of Problem.Reason
	}{
		{"OPENSHIFT_HA_VIRTUAL_IPS=", "OPENSHIFT_HA_VIRTUAL_IPS", "", "required"},
		{"OPENSHIFT_HA_VIRTUAL_IPS= , ", "OPENSHIFT_HA_VIRTUAL_IPS", " , ", "required"},
		{"OPENSHIFT_HA_VIRTUAL_IPS=10.0.0.1/24,999.1.1.1", "OPENSHIFT_HA_VIRTUAL_IPS", "999.1.1.1", "not an IP address"},
		{"OPENSHIFT_HA_VIRTUAL_IPS=10.0.0.5-3", "OPENSHIFT_HA_VIRTUAL_IPS", "10.0.0.5-3", "reversed"},
		{"OPENSHIFT_HA_VIRTUAL_IPS=10.0.0.1\n}", "OPENSHIFT_HA_VIRTUAL_IPS", "}", "not an IP address"},
		{"OPENSHIFT_HA_CONFIG_NAME=" + strings.Repeat("n", 129), "OPENSHIFT_HA_CONFIG_NAME", strings.Repeat("n", 129), "at most 128"},
		{"OPENSHIFT_HA_CONFIG_NAME=a\"b", "OPENSHIFT_HA_CONFIG_NAME", "a\"b", "quotes"},
		{"OPENSHIFT_HA_CONFIG_NAME=x\n}\nvrrp_instance EVIL {", "OPENSHIFT_HA_CONFIG_NAME", "x\n}\nvrrp_instance EVIL {", "keepalived.conf"},
		{"OPENSHIFT_HA_CONFIG_NAME=a#b", "OPENSHIFT_HA_CONFIG_NAME", "a#b", "'#'"},
		{"OPENSHIFT_HA_CONFIG_NAME=a!b", "OPENSHIFT_HA_CONFIG_NAME", "a!b", "'!'"},
		{"OPENSHIFT_HA_CONFIG_NAME=my\tconfig", "OPENSHIFT_HA_CONFIG_NAME", "my\tconfig", "printable"},
		{"OPENSHIFT_HA_CONFIG_NAME= lead", "OPENSHIFT_HA_CONFIG_NAME", " lead", "begin or end"},
		{"OPENSHIFT_HA_CONFIG_NAME=it's", "OPENSHIFT_HA_CONFIG_NAME", "it's", "quotes"},
		{"OPENSHIFT_HA_IPTABLES_CHAIN=-F", "OPENSHIFT_HA_IPTABLES_CHAIN", "-F", "not starting with '-'"},
		{"OPENSHIFT_HA_LOG_FORMAT=yaml", "OPENSHIFT_HA_LOG_FORMAT", "yaml", "text or json"},
		{"OPENSHIFT_HA_LOG_LEVEL=loud", "OPENSHIFT_HA_LOG_LEVEL", "loud", "debug, info, warn or error"},
		{"OPENSHIFT_HA_CONFIG_NAME=a${_RANDOM}", "OPENSHIFT_HA_CONFIG_NAME", "a${_RANDOM}", "'$'"},
		{"OPENSHIFT_HA_CONFIG_NAME=a\\b", "OPENSHIFT_HA_CONFIG_NAME", "a\\b", "backslash"},
		{"OPENSHIFT_HA_CONFIG_NAME=---", "OPENSHIFT_HA_CONFIG_NAME", "---", "letter or digit"},
		{"OPENSHIFT_HA_VIP_GROUPS=4x", "OPENSHIFT_HA_VIP_GROUPS", "4x", "whole number"},
		{"OPENSHIFT_HA_VIP_GROUPS=-1", "OPENSHIFT_HA_VIP_GROUPS", "-1", "whole number"},
		{"OPENSHIFT_HA_NETWORK_INTERFACE=abcdefghijklmnop", "OPENSHIFT_HA_NETWORK_INTERFACE", "abcdefghijklmnop", "1 to 15"},
		{"OPENSHIFT_HA_NETWORK_INTERFACE=eth0:1", "OPENSHIFT_HA_NETWORK_INTERFACE", "eth0:1", "':'"},
		{"OPENSHIFT_HA_NETWORK_INTERFACE=a/b", "OPENSHIFT_HA_NETWORK_INTERFACE", "a/b", "'/'"},
		{"OPENSHIFT_HA_NETWORK_INTERFACE=et h0", "OPENSHIFT_HA_NETWORK_INTERFACE", "et h0", "white space"},
		{"OPENSHIFT_HA_NETWORK_INTERFACE=..", "OPENSHIFT_HA_NETWORK_INTERFACE", "..", "Linux interface name"},
		{"OPENSHIFT_HA_NETWORK_INTERFACE=eth0\"\n", "OPENSHIFT_HA_NETWORK_INTERFACE", "eth0\"\n", "Linux interface name"},
		{"OPENSHIFT_HA_MONITOR_PORT=65536", "OPENSHIFT_HA_MONITOR_PORT", "65536", "0 to 65535"},
		{"OPENSHIFT_HA_MONITOR_PORT=80a", "OPENSHIFT_HA_MONITOR_PORT", "80a", "0 to 65535"},
		{"OPENSHIFT_HA_REPLICA_COUNT=two", "OPENSHIFT_HA_REPLICA_COUNT", "two", "1 to 255"},
		{"OPENSHIFT_HA_VRRP_ID_OFFSET=255", "OPENSHIFT_HA_VRRP_ID_OFFSET", "255", "0 to 254"},
		{"OPENSHIFT_HA_VRRP_ID_OFFSET=abc", "OPENSHIFT_HA_VRRP_ID_OFFSET", "abc", "0 to 254"},
		{"HA_EXCLUDED_VRRP_IDS=9 x", "HA_EXCLUDED_VRRP_IDS", "x", "1 to 255"},
		{"OPENSHIFT_HA_EXCLUDED_VRRP_IDS=0", "OPENSHIFT_HA_EXCLUDED_VRRP_IDS", "0", "1 to 255"},
		{"OPENSHIFT_HA_EXCLUDED_VRRP_IDS=256", "OPENSHIFT_HA_EXCLUDED_VRRP_IDS", "256", "1 to 255"},
		{"OPENSHIFT_HA_IPTABLES_CHAIN=" + strings.Repeat("C", 29), "OPENSHIFT_HA_IPTABLES_CHAIN", strings.Repeat("C", 29), "1 to 28"},
		{"OPENSHIFT_HA_IPTABLES_CHAIN=IN PUT", "OPENSHIFT_HA_IPTABLES_CHAIN", "IN PUT", "chain name"},
		{"OPENSHIFT_HA_IPTABLES_CHAIN=INPUT;", "OPENSHIFT_HA_IPTABLES_CHAIN", "INPUT;", "chain name"},
		{"OPENSHIFT_HA_CHECK_SCRIPT=check.sh", "OPENSHIFT_HA_CHECK_SCRIPT", "check.sh", "absolute"},
		{"OPENSHIFT_HA_CHECK_SCRIPT=/etc/../x.sh", "OPENSHIFT_HA_CHECK_SCRIPT", "/etc/../x.sh", "clean"},
		{"OPENSHIFT_HA_CHECK_SCRIPT=/etc//x.sh", "OPENSHIFT_HA_CHECK_SCRIPT", "/etc//x.sh", "clean"},
		{"OPENSHIFT_HA_CHECK_SCRIPT=etc/x.sh arg", "OPENSHIFT_HA_CHECK_SCRIPT", "etc/x.sh arg", "absolute"},
		{"OPENSHIFT_HA_NOTIFY_SCRIPT=/etc/x.sh 'quoted'", "OPENSHIFT_HA_NOTIFY_SCRIPT", "/etc/x.sh 'quoted'", "no quotes"},
		{"OPENSHIFT_HA_CHECK_SCRIPT=/x.sh }", "OPENSHIFT_HA_CHECK_SCRIPT", "/x.sh }", "braces"},
		{"OPENSHIFT_HA_CHECK_SCRIPT=/x.sh\"\n}\nvrrp_instance EVIL {\n#", "OPENSHIFT_HA_CHECK_SCRIPT", "/x.sh\"\n}\nvrrp_instance EVIL {\n#", "absolute"},
		{"OPENSHIFT_HA_CHECK_SCRIPT=/", "OPENSHIFT_HA_CHECK_SCRIPT", "/", "to a file"},
		{"OPENSHIFT_HA_NOTIFY_SCRIPT=/x/$HOME", "OPENSHIFT_HA_NOTIFY_SCRIPT", "/x/$HOME", "letters, digits"},
		{"OPENSHIFT_HA_NOTIFY_SCRIPT=relative/n.sh", "OPENSHIFT_HA_NOTIFY_SCRIPT", "relative/n.sh", "absolute"},
		{"OPENSHIFT_HA_CHECK_INTERVAL=0", "OPENSHIFT_HA_CHECK_INTERVAL", "0", "1 to 3600"},
		{"OPENSHIFT_HA_CHECK_INTERVAL=2s", "OPENSHIFT_HA_CHECK_INTERVAL", "2s", "1 to 3600"},
		{"OPENSHIFT_HA_CHECK_INTERVAL=3601", "OPENSHIFT_HA_CHECK_INTERVAL", "3601", "1 to 3600"},
		{"OPENSHIFT_HA_PREEMPTION=preempt_nodelay 300", "OPENSHIFT_HA_PREEMPTION", "preempt_nodelay 300", "typo"},
		{"OPENSHIFT_HA_PREEMPTION=preempt_delay 1001", "OPENSHIFT_HA_PREEMPTION", "preempt_delay 1001", "0 to 1000"},
		{"OPENSHIFT_HA_PREEMPTION=preempt_delay", "OPENSHIFT_HA_PREEMPTION", "preempt_delay", "nopreempt"},
		{"OPENSHIFT_HA_PREEMPTION=preempt_delay -1", "OPENSHIFT_HA_PREEMPTION", "preempt_delay -1", "0 to 1000"},
		{"OPENSHIFT_HA_PREEMPTION=NOPREEMPT", "OPENSHIFT_HA_PREEMPTION", "NOPREEMPT", "nopreempt"},
		{"OPENSHIFT_HA_PREEMPTION=nopreempt\nvrrp_instance x {", "OPENSHIFT_HA_PREEMPTION", "nopreempt\nvrrp_instance x {", "nopreempt"},
		{"OPENSHIFT_HA_UNICAST_PEERS=198.51.100.1-5", "OPENSHIFT_HA_UNICAST_PEERS", "198.51.100.1-5", "ranges"},
		{"OPENSHIFT_HA_UNICAST_PEERS=198.51.100.0/24", "OPENSHIFT_HA_UNICAST_PEERS", "198.51.100.0/24", "ranges"},
		{"OPENSHIFT_HA_UNICAST_PEERS=node1", "OPENSHIFT_HA_UNICAST_PEERS", "node1", "address"},
		{"OPENSHIFT_HA_UNICAST_PEERS=fe80::1%eth0", "OPENSHIFT_HA_UNICAST_PEERS", "fe80::1%eth0", "zone"},
		{"OPENSHIFT_HA_UNICAST_PEERS=192.0.2.10", "OPENSHIFT_HA_UNICAST_PEERS", "192.0.2.10", "also a VIP"},
		{"OPENSHIFT_HA_USE_UNICAST=maybe", "OPENSHIFT_HA_USE_UNICAST", "maybe", "true, false"},
		{"OPENSHIFT_HA_ADMIN_EMAILS=root@localhost nobody", "OPENSHIFT_HA_ADMIN_EMAILS", "nobody", "user@host"},
		{"OPENSHIFT_HA_ADMIN_EMAILS=a\"@x", "OPENSHIFT_HA_ADMIN_EMAILS", "a\"@x", "user@host"},
		{"OPENSHIFT_HA_ADMIN_EMAILS=a{b}@x", "OPENSHIFT_HA_ADMIN_EMAILS", "a{b}@x", "user@host"},
		{"OPENSHIFT_HA_ADMIN_EMAILS=a@-x", "OPENSHIFT_HA_ADMIN_EMAILS", "a@-x", "host name"},
		{"OPENSHIFT_HA_SMTP_SERVER=smtp_1", "OPENSHIFT_HA_SMTP_SERVER", "smtp_1", "host name"},
		{"OPENSHIFT_HA_SMTP_SERVER=fe80::1%eth0", "OPENSHIFT_HA_SMTP_SERVER", "fe80::1%eth0", "without zone"},
		{"MULTICAST_SOURCE_IPADDRESS=10.0.0", "MULTICAST_SOURCE_IPADDRESS", "10.0.0", "IPv4 or IPv6"},
		{"UNICAST_SOURCE_IPADDRESS=224.0.0.1", "UNICAST_SOURCE_IPADDRESS", "224.0.0.1", "unicast"},
		{"KEEPALIVED_CONFIG=keepalived.conf", "KEEPALIVED_CONFIG", "keepalived.conf", "absolute"},
		{"KEEPALIVED_CONFIG=/etc/keepalived/", "KEEPALIVED_CONFIG", "/etc/keepalived/", "trailing"},
		{"KEEPALIVED_OPTIONS=-D -f /etc/k.conf", "KEEPALIVED_OPTIONS", "-f", "managed by the agent"},
		{"KEEPALIVED_OPTIONS=--namespace=foo", "KEEPALIVED_OPTIONS", "--namespace=foo", "another network namespace"},
		{"KEEPALIVED_OPTIONS=-V", "KEEPALIVED_OPTIONS", "-V", "two nodes"},
		{"KEEPALIVED_OPTIONS=--core-dump-pattern=/x", "KEEPALIVED_OPTIONS", "--core-dump-pattern=/x", "core_pattern"},
		{"KEEPALIVED_OPTIONS=--use-file=/etc/k.conf", "KEEPALIVED_OPTIONS", "--use-file=/etc/k.conf", "managed by the agent"},
		{"KEEPALIVED_OPTIONS=--use /etc/k.conf", "KEEPALIVED_OPTIONS", "--use", "managed by the agent"},
		{"KEEPALIVED_OPTIONS=-Df/etc/k.conf", "KEEPALIVED_OPTIONS", "-Df/etc/k.conf", "-f/--use-file"},
		{"KEEPALIVED_OPTIONS=--pid /run/k.pid", "KEEPALIVED_OPTIONS", "--pid", "managed by the agent"},
		{"KEEPALIVED_OPTIONS=-r/run/v.pid", "KEEPALIVED_OPTIONS", "-r/run/v.pid", "managed by the agent"},
		{"KEEPALIVED_OPTIONS=--checkers_pid=/x", "KEEPALIVED_OPTIONS", "--checkers_pid=/x", "managed by the agent"},
		{"KEEPALIVED_OPTIONS=-c /x", "KEEPALIVED_OPTIONS", "-c", "managed by the agent"},
		{"KEEPALIVED_OPTIONS=-p /x", "KEEPALIVED_OPTIONS", "-p", "managed by the agent"},
		{"KEEPALIVED_OPTIONS=-t", "KEEPALIVED_OPTIONS", "-t", "exit"},
		{"KEEPALIVED_OPTIONS=--version", "KEEPALIVED_OPTIONS", "--version", "exit"},
		{"KEEPALIVED_OPTIONS=-C", "KEEPALIVED_OPTIONS", "-C", "without VRRP"},
		{"OPENSHIFT_HA_KEEPALIVED_TEMPLATE=tmpl", "OPENSHIFT_HA_KEEPALIVED_TEMPLATE", "tmpl", "absolute"},
		{"OPENSHIFT_HA_AUTH_PASSWORD_FILE=password", "OPENSHIFT_HA_AUTH_PASSWORD_FILE", "password", "absolute"},
		{"OPENSHIFT_HA_AUTH_PASSWORD_FILE=/etc/ipfailover/auth/", "OPENSHIFT_HA_AUTH_PASSWORD_FILE", "/etc/ipfailover/auth/", "trailing"},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=0", "OPENSHIFT_HA_ADVERT_INTERVAL", "0", "1 to 255"},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=256", "OPENSHIFT_HA_ADVERT_INTERVAL", "256", "1 to 255"},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=0.001", "OPENSHIFT_HA_ADVERT_INTERVAL", "0.001", "two decimals"},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=0.00", "OPENSHIFT_HA_ADVERT_INTERVAL", "0.00", "0.01 to 40.95"},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=41.5", "OPENSHIFT_HA_ADVERT_INTERVAL", "41.5", "0.01 to 40.95"},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=1s", "OPENSHIFT_HA_ADVERT_INTERVAL", "1s", "whole seconds"},
		{"OPENSHIFT_HA_ADVERT_INTERVAL=.5", "OPENSHIFT_HA_ADVERT_INTERVAL", ".5", "whole seconds"},
		{"OPENSHIFT_HA_METRICS_ADDRESS=9465", "OPENSHIFT_HA_METRICS_ADDRESS", "9465", "host:port"},
		{"OPENSHIFT_HA_METRICS_ADDRESS=:0", "OPENSHIFT_HA_METRICS_ADDRESS", ":0", "1 to 65535"},
		{"OPENSHIFT_HA_METRICS_ADDRESS=:http", "OPENSHIFT_HA_METRICS_ADDRESS", ":http", "1 to 65535"},
		{"OPENSHIFT_HA_METRICS_ADDRESS=bad_host:80", "OPENSHIFT_HA_METRICS_ADDRESS", "bad_host:80", "host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			env := []string{tt.env, testVIPs} // the first of a repeated name wins
			ps := problems(t, env...)
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(ps), ps)
			}
			p := ps[0]
			if p.Variable != tt.variable || p.Value != tt.value {
				t.Errorf("problem on %s=%q, want %s=%q", p.Variable, p.Value, tt.variable, tt.value)
			}
			if !strings.Contains(p.Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", p.Reason, tt.reason)
			}
			if !strings.Contains(p.String(), tt.variable) {
				t.Errorf("%q does not name the variable", p.String())
			}
		})
	}
}

func TestLoadCollectsEveryProblem(t *testing.T) {
	ps := problems(t,
		"OPENSHIFT_HA_VIRTUAL_IPS=999.1.1.1, 10.0.0.1, 10.0.0.5-3",
		"OPENSHIFT_HA_MONITOR_PORT=x",
		"OPENSHIFT_HA_PREEMPTION=always",
		"HA_EXCLUDED_VRRP_IDS=0 300",
	)
	var got []string
	for _, p := range ps {
		got = append(got, p.Variable+"="+p.Value)
	}
	want := []string{
		"OPENSHIFT_HA_MONITOR_PORT=x",
		"HA_EXCLUDED_VRRP_IDS=0",
		"HA_EXCLUDED_VRRP_IDS=300",
		"OPENSHIFT_HA_PREEMPTION=always",
		"OPENSHIFT_HA_VIRTUAL_IPS=999.1.1.1",
		"OPENSHIFT_HA_VIRTUAL_IPS=10.0.0.5-3",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	_, _, err := Load([]string{"OPENSHIFT_HA_VIRTUAL_IPS=999.1.1.1"})
	if msg := err.Error(); !strings.Contains(msg, `OPENSHIFT_HA_VIRTUAL_IPS="999.1.1.1"`) {
		t.Errorf("error text %q does not name the variable and token", msg)
	}
}

func TestLoadVRIDOverflow(t *testing.T) {
	tests := []struct {
		env      []string
		variable string
		fragment string
	}{
		// user-pain C2: offset 250 with 10 VIPs must fail naming VRID 260.
		{[]string{"OPENSHIFT_HA_VIRTUAL_IPS=10.0.0.1-10", "OPENSHIFT_HA_VRRP_ID_OFFSET=250"},
			"OPENSHIFT_HA_VIRTUAL_IPS", "OPENSHIFT_HA_VIP_GROUPS=5"},
		{[]string{"OPENSHIFT_HA_VIRTUAL_IPS=10.0.0.1-10", "OPENSHIFT_HA_VRRP_ID_OFFSET=250", "OPENSHIFT_HA_VIP_GROUPS=0"},
			"OPENSHIFT_HA_VIRTUAL_IPS", "up to 260"},
		{[]string{"OPENSHIFT_HA_VIRTUAL_IPS=10.0.0.1-10", "OPENSHIFT_HA_VRRP_ID_OFFSET=250", "OPENSHIFT_HA_VIP_GROUPS=8"},
			"OPENSHIFT_HA_VIP_GROUPS", "only 5 groups fit"},
		{[]string{"OPENSHIFT_HA_VIRTUAL_IPS=10.0.0.1-10", "OPENSHIFT_HA_VRRP_ID_OFFSET=245", "HA_EXCLUDED_VRRP_IDS=250 251"},
			"OPENSHIFT_HA_VIRTUAL_IPS", "2 excluded IDs"},
	}
	for _, tt := range tests {
		ps := problems(t, tt.env...)
		if len(ps) != 1 || ps[0].Variable != tt.variable || !strings.Contains(ps[0].Reason, tt.fragment) {
			t.Errorf("%v: got %v, want one problem on %s containing %q", tt.env, ps, tt.variable, tt.fragment)
		}
	}
}

func TestLoadChainPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		want    string
		warning bool
	}{
		{"neither set", nil, "INPUT", false},
		{"chain named", []string{"OPENSHIFT_HA_IPTABLES_CHAIN=OPENSHIFT-ADMIN-INPUT"}, "OPENSHIFT-ADMIN-INPUT", false},
		{"chain set to empty: no rule", []string{"OPENSHIFT_HA_IPTABLES_CHAIN="}, "", false},
		{"nft rule set", []string{"OPENSHIFT_HA_NFTABLES_RULE=INPUT"}, "INPUT", false},
		{"nft rule value is only a switch", []string{"OPENSHIFT_HA_NFTABLES_RULE=OUTPUT"}, "INPUT", true},
		{"nft rule set to empty: no rule", []string{"OPENSHIFT_HA_NFTABLES_RULE="}, "", false},
		{"chain wins over nft", []string{"OPENSHIFT_HA_IPTABLES_CHAIN=FW", "OPENSHIFT_HA_NFTABLES_RULE=true"}, "FW", true},
		{"nft wins over an empty chain", []string{"OPENSHIFT_HA_IPTABLES_CHAIN=", "OPENSHIFT_HA_NFTABLES_RULE=INPUT"}, "INPUT", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w := mustLoad(t, append([]string{testVIPs}, tt.env...)...)
			if c.IPTablesChain != tt.want {
				t.Errorf("chain %q, want %q", c.IPTablesChain, tt.want)
			}
			if got := len(w) > 0; got != tt.warning {
				t.Errorf("warnings %v, want some: %v", w, tt.warning)
			}
		})
	}
}

func TestLoadWarnings(t *testing.T) {
	tests := []struct {
		env      string
		variable string
		fragment string
	}{
		{"OPENSHIFT_HA_VIRTUAL_IP=192.0.2.1", "OPENSHIFT_HA_VIRTUAL_IP", "did you mean OPENSHIFT_HA_VIRTUAL_IPS?"},
		{"OPENSHIFT_HA_VIP_GROUP=2", "OPENSHIFT_HA_VIP_GROUP", "did you mean OPENSHIFT_HA_VIP_GROUPS?"},
		{"OPENSHIFT_HA_PREEMPT=nopreempt", "OPENSHIFT_HA_PREEMPT", "did you mean OPENSHIFT_HA_PREEMPTION?"},
		{"OPENSHIFT_HA_EXCLUDED_VRIDS=9", "OPENSHIFT_HA_EXCLUDED_VRIDS", "did you mean OPENSHIFT_HA_EXCLUDED_VRRP_IDS?"},
		{"OPENSHIFT_HA_KEEPALIVED_CONFIG=/x", "OPENSHIFT_HA_KEEPALIVED_CONFIG", "did you mean KEEPALIVED_CONFIG?"},
		{"openshift_ha_monitor_port=80", "openshift_ha_monitor_port", "case-sensitive: did you mean OPENSHIFT_HA_MONITOR_PORT?"},
		{"OPENSHIFT_HA_SOMETHING_ELSE_ENTIRELY=1", "OPENSHIFT_HA_SOMETHING_ELSE_ENTIRELY", "unknown variable, ignored"},
		{"OPENSHIFT_HA_UNICAST_PEERS=198.51.100.1 198.51.100.1", "OPENSHIFT_HA_UNICAST_PEERS", "more than once"},
		{"OPENSHIFT_HA_REPLICA_COUNT=0", "OPENSHIFT_HA_REPLICA_COUNT", "using 1, as the original image did"},
		{"OPENSHIFT_HA_REPLICA_COUNT=-3", "OPENSHIFT_HA_REPLICA_COUNT", "using 1, as the original image did"},
		{"OPENSHIFT_HA_USE_UNICAST=true", "OPENSHIFT_HA_USE_UNICAST", "running multicast VRRP"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, w := mustLoad(t, testVIPs, tt.env, "PATH=/bin", "HOME=/root")
			if len(w) != 1 || w[0].Variable != tt.variable || !strings.Contains(w[0].Message, tt.fragment) {
				t.Errorf("warnings %v, want one on %s containing %q", w, tt.variable, tt.fragment)
			}
		})
	}
	t.Run("no suggestion for a distant name", func(t *testing.T) {
		_, w := mustLoad(t, testVIPs, "OPENSHIFT_HA_SOMETHING_ELSE_ENTIRELY=1")
		if strings.Contains(w[0].Message, "did you mean") {
			t.Errorf("unexpected suggestion: %v", w[0])
		}
	})
	t.Run("false unicast with peers", func(t *testing.T) {
		c, w := mustLoad(t, testVIPs, "OPENSHIFT_HA_USE_UNICAST=false", "OPENSHIFT_HA_UNICAST_PEERS=198.51.100.1")
		if !c.Unicast() || len(w) != 1 || w[0].Variable != "OPENSHIFT_HA_USE_UNICAST" {
			t.Errorf("unicast %v, warnings %v", c.Unicast(), w)
		}
	})
	t.Run("unicast without peers runs multicast", func(t *testing.T) {
		c, _ := mustLoad(t, testVIPs, "OPENSHIFT_HA_USE_UNICAST=true")
		if c.Unicast() {
			t.Error("unicast without peers")
		}
	})
	t.Run("replica count 0 means 1", func(t *testing.T) {
		c, _ := mustLoad(t, testVIPs, "OPENSHIFT_HA_REPLICA_COUNT=0")
		if c.ReplicaCount != 1 {
			t.Errorf("ReplicaCount = %d", c.ReplicaCount)
		}
	})
	t.Run("warnings survive an invalid configuration", func(t *testing.T) {
		_, w, err := Load([]string{"OPENSHIFT_HA_VIRTUAL_IP=192.0.2.1"})
		if err == nil || len(w) != 1 {
			t.Errorf("err %v, warnings %v", err, w)
		}
	})
}

func TestLoadEnvironParsing(t *testing.T) {
	// The first entry of a repeated key wins, as with os.Getenv; entries
	// without '=' are ignored; values may contain '='.
	c, _ := mustLoad(t, "OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.1", "OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.2",
		"garbage", "=x", "OPENSHIFT_HA_SELECTOR=a=b")
	if c.VIPs[0].String() != "192.0.2.1/32" || c.Selector != "a=b" {
		t.Errorf("got VIPs %v selector %q", c.VIPs, c.Selector)
	}
}

// TestLookupMatchesEnvconfig checks that Load's own lookup honours the
// envconfig tags exactly as envconfig.Process does for set, non-empty and
// unset variables (they differ only for empty values, on purpose).
func TestLookupMatchesEnvconfig(t *testing.T) {
	env := map[string]string{
		"OPENSHIFT_HA_VIRTUAL_IPS":    "192.0.2.1",
		"OPENSHIFT_HA_MONITOR_PORT":   "8080",
		"HA_EXCLUDED_VRRP_IDS":        "9",
		"OPENSHIFT_HA_IPTABLES_CHAIN": "FW",
		"KEEPALIVED_OPTIONS":          "-D",
	}
	// Clear every known variable so the test process's own environment
	// does not leak in; t.Setenv restores them afterwards.
	for _, name := range KnownVariables() {
		t.Setenv(name, "")
		unsetenv(t, name)
	}
	var environ []string
	for k, v := range env {
		t.Setenv(k, v)
		environ = append(environ, k+"="+v)
	}
	var viaEnvconfig rawEnv
	if err := envconfig.Process("", &viaEnvconfig); err != nil {
		t.Fatal(err)
	}
	vars, _ := environMap(environ)
	var viaLookup rawEnv
	lookup(&viaLookup, vars)
	if !reflect.DeepEqual(viaEnvconfig, viaLookup) {
		t.Errorf("envconfig: %+v\nlookup:    %+v", viaEnvconfig, viaLookup)
	}
}

// unsetenv removes k for the rest of the test; call t.Setenv(k, ...) first
// so that the original value is restored afterwards.
func unsetenv(t *testing.T, k string) {
	t.Helper()
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}
