package env

import (
	"strings"
	"testing"
)

func TestDumpConfOption(t *testing.T) {
	for opts, want := range map[string]string{
		"-d":                  "-d",
		"--dump-conf":         "--dump-conf",
		"--dump":              "--dump", // getopt_long accepts an unambiguous prefix
		"-l -D -d":            "-d",
		"-lDd":                "-lDd",
		"-S 0 -d":             "-d",
		"-S d":                "", // the argument of -S
		"-Sd":                 "", // the argument of -S, attached
		"--log-facility d -D": "",
		"-D -l":               "",
		"-- -d":               "",
		"":                    "",
	} {
		if got := dumpConfOption(strings.Fields(opts)); got != want {
			t.Errorf("dumpConfOption(%q) = %q, want %q", opts, got, want)
		}
	}
}

// TestAuthPasswordFileRefusesDumpConf: keepalived's configuration dump
// would log the password from the file, so the two do not go together;
// without the file -d stays accepted.
func TestAuthPasswordFileRefusesDumpConf(t *testing.T) {
	ps := problems(t, testVIPs, "OPENSHIFT_HA_AUTH_PASSWORD_FILE=/etc/ipfailover/auth/password", "KEEPALIVED_OPTIONS=-D -d")
	if len(ps) != 1 || ps[0].Variable != "KEEPALIVED_OPTIONS" || ps[0].Value != "-d" || !strings.Contains(ps[0].Reason, "password") {
		t.Errorf("problems = %v", ps)
	}
	if _, _, err := Load([]string{testVIPs, "KEEPALIVED_OPTIONS=-D -d"}); err != nil {
		t.Errorf("-d without a password file: %v", err)
	}
}
