package env

import (
	"encoding/json"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
)

// originalCase is one measured render of the original image's scripts
// (testdata/original-renders.json, a copy of the project's shared
// compatibility data).
type originalCase struct {
	Case         string            `json:"case"`
	Environment  map[string]string `json:"environment"`
	OriginalExit int               `json:"original_exit"`
	Instances    []struct {
		VRID   int      `json:"vrid"`
		Listed []string `json:"vips_listed"`
		Served []string `json:"vips_served"`
	} `json:"instances"`
}

func loadOriginalCases(t *testing.T) []originalCase {
	t.Helper()
	b, err := os.ReadFile("testdata/original-renders.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []originalCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 30 {
		t.Fatalf("only %d cases", len(doc.Cases))
	}
	return doc.Cases
}

func environOf(c originalCase) []string {
	var out []string
	for k, v := range c.Environment {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func canon(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s).String()
	}
	return out
}

func strs(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// TestOriginalModel checks that the model of the original's scripts
// reproduces every measured render exactly: VRIDs, listed and served VIPs.
func TestOriginalModel(t *testing.T) {
	for _, c := range loadOriginalCases(t) {
		t.Run(c.Case, func(t *testing.T) {
			vars, _ := environMap(environOf(c))
			var raw rawEnv
			lookup(&raw, vars)
			offset, reason := parseIntRange(raw.VRIDOffset, 0, MaxVRID-1)
			if reason != "" {
				t.Fatalf("offset %q: %s", raw.VRIDOffset, reason)
			}
			got := OriginalInstances(vars, offset)
			if len(got) != len(c.Instances) {
				t.Fatalf("model has %d instances, original %d", len(got), len(c.Instances))
			}
			for i, want := range c.Instances {
				g := got[i]
				if g.VRID != want.VRID || !slices.Equal(strs(g.Listed), canon(want.Listed)) || !slices.Equal(strs(g.Served), canon(want.Served)) {
					t.Errorf("instance %d: model VRID %d listed %v served %v; original VRID %d listed %v served %v",
						i, g.VRID, g.Listed, g.Served, want.VRID, want.Listed, want.Served)
				}
			}
		})
	}
}

// knownDeviations are the measured environments where this agent
// deliberately serves different VRID -> VIP mappings than the original (bugs
// of the original), each with the reason; docs/migration.md lists them. For
// each, Load must warn at start.
var knownDeviations = map[string]string{
	"23-v6-range-lower":        "lower-case IPv6 range: the original's bc read it as 0 and served 2001:db8:: only",
	"30-range-space-separated": "space-separated entries: the original deleted the space and served 192.0.2.100-200",
	"38-excluded-comma-list":   "comma-separated HA_EXCLUDED_VRRP_IDS: the original excluded nothing",
	"39-excluded-prefixed-var": "OPENSHIFT_HA_EXCLUDED_VRRP_IDS: the original ignored it",
	"53-vip-with-prefix":       "VIP with /prefix: the original dropped it and served nothing",
}

// rejected are measured environments this agent refuses with exit 2, with
// the reason.
var rejected = map[string]string{}

// TestSameElectionsAsOriginal is the rollout guarantee: for every measured
// environment, each VRID the original served carries the same VIPs here
// (for the family the original served), or the environment is a known,
// documented deviation and Load warns at start.
func TestSameElectionsAsOriginal(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range loadOriginalCases(t) {
		t.Run(c.Case, func(t *testing.T) {
			cfg, warnings, err := Load(environOf(c))
			if err != nil {
				if _, ok := rejected[c.Case]; ok {
					seen[c.Case] = true
					return
				}
				t.Fatalf("Load: %v", err)
			}
			ours := map[int]map[Family][]string{}
			for _, g := range cfg.Groups {
				ours[g.VRID] = map[Family][]string{}
				for _, v := range g.VIPs {
					ours[g.VRID][v.Family()] = append(ours[g.VRID][v.Family()], v.Addr().String())
				}
			}
			same := true
			for _, in := range c.Instances {
				want := canon(in.Served)
				if len(want) == 0 {
					continue
				}
				f := FamilyOf(netip.MustParseAddr(want[0]))
				if !slices.Equal(ours[in.VRID][f], want) {
					same = same && false
					t.Logf("VRID %d %s: original %v, ours %v", in.VRID, f, want, ours[in.VRID][f])
				}
			}
			if len(c.Instances) == 0 && len(cfg.VIPs) > 0 {
				same = false
			}
			warned := slices.ContainsFunc(warnings, func(w Warning) bool {
				return strings.Contains(w.Message, "differ from the original keepalived-ipfailover image")
			})
			_, known := knownDeviations[c.Case]
			switch {
			case same && known:
				t.Errorf("listed as a deviation but the elections match")
			case !same && !known:
				t.Errorf("elections differ from the original and the case is not a documented deviation")
			case !same && !warned:
				t.Errorf("elections differ from the original but Load did not warn: %v", warnings)
			case same && warned:
				t.Errorf("elections match but Load warned: %v", warnings)
			}
			if known {
				seen[c.Case] = true
			}
		})
	}
	for k := range knownDeviations {
		if !seen[k] {
			t.Errorf("deviation %s is not in the data", k)
		}
	}
}
