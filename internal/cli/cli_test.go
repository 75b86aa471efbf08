package cli

import "testing"

func TestSuggest(t *testing.T) {
	cands := []string{"run", "render", "status", "cleanup", "manifests", "check", "version"}
	for in, want := range map[string]string{
		"rendr": "render", "stauts": "status", "clean": "cleanup", "x": "", "frobnicate": "", "manifest": "manifests",
	} {
		if got := Suggest(in, cands); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance = %d, want 3", d)
	}
}
