package env

import "strings"

// varAuthPasswordFile names the file holding the VRRP password (extension).
const varAuthPasswordFile = "OPENSHIFT_HA_AUTH_PASSWORD_FILE"

// dumpConfOption returns the KEEPALIVED_OPTIONS token that turns on
// keepalived's configuration dump (-d/--dump-conf, also inside a cluster
// such as -lDd), or "". The dump logs the VRRP password.
func dumpConfOption(opts []string) string {
	for i := 0; i < len(opts); i++ {
		t := opts[i]
		switch {
		case t == "--":
			return "" // getopt stops here
		case strings.HasPrefix(t, "--"):
			name, _, hasValue := strings.Cut(t[2:], "=")
			o := findLong(name)
			if o == nil {
				continue
			}
			if o.long == "dump-conf" {
				return t
			}
			if o.arg && !hasValue {
				i++
			}
		case strings.HasPrefix(t, "-") && len(t) > 1:
			for j := 1; j < len(t); j++ {
				if t[j] == 'd' {
					return t
				}
				if o := findShort(t[j]); o != nil && o.arg {
					if j == len(t)-1 {
						i++
					}
					break
				}
			}
		}
	}
	return ""
}
