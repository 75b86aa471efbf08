package statusapi

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/render"
)

// secretWords are parts of a field name or JSON key that would mean the
// status carries a password.
var secretWords = []string{"pass", "secret", "credential", "auth_data", "authdata"}

// secretFields lists the fields of t (recursively) whose Go name or JSON
// key looks like a password.
func secretFields(t reflect.Type, path string, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return nil
	}
	seen[t] = true
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		for _, name := range []string{strings.ToLower(f.Name), strings.ToLower(key)} {
			for _, w := range secretWords {
				if strings.Contains(name, w) {
					out = append(out, path+"."+f.Name)
				}
			}
		}
		out = append(out, secretFields(f.Type, path+"."+f.Name, seen)...)
	}
	return out
}

// TestStatusHasNoPassword renders a configuration with a VRRP password from
// OPENSHIFT_HA_AUTH_PASSWORD_FILE and checks that the status document has
// no field for it, and that nothing the server serves (/status, /metrics,
// the page) shows it.
func TestStatusHasNoPassword(t *testing.T) {
	if f := secretFields(reflect.TypeFor[Status](), "Status", map[reflect.Type]bool{}); len(f) > 0 {
		t.Errorf("Status has fields that look like a password: %v", f)
	}

	const pw = "Zq8Wx4Kp"
	cfg, _, err := env.Load([]string{"OPENSHIFT_HA_CONFIG_NAME=ipf-test", "OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.200-201",
		"OPENSHIFT_HA_MONITOR_PORT=0", "OPENSHIFT_HA_AUTH_PASSWORD_FILE=/etc/ipfailover/auth/password"})
	if err != nil {
		t.Fatal(err)
	}
	host := render.Host{Interface: "eth0", Addr4: netip.MustParseAddr("192.0.2.11")}
	opts := render.Options{Version: "test", AuthPassword: render.Secret(pw)}
	d, err := render.NewData(cfg, host, opts)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := render.Default()
	if err != nil {
		t.Fatal(err)
	}
	conf, err := tmpl.Execute(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "auth_pass "+pw) {
		t.Fatal("the rendered configuration does not use the password; the test proves nothing")
	}

	// A status as the agent builds it for that configuration.
	st := fullStatus()
	st.Name = cfg.Name
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, v := range x {
				keys = append(keys, k)
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(doc)
	for _, k := range keys {
		for _, w := range secretWords {
			if strings.Contains(strings.ToLower(k), w) {
				t.Errorf("/status has a key %q", k)
			}
		}
	}

	h := newTestServer(&st).Handler()
	for _, path := range []string{"/status", "/metrics", "/"} {
		if code, body := get(t, h, path); code != 200 || strings.Contains(body, pw) {
			t.Errorf("%s: %d, shows the password: %v", path, code, strings.Contains(body, pw))
		}
	}
}
