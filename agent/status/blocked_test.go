package status

import (
	"strings"
	"testing"
	"time"

	"github.com/ipfailover/ipfailover/wire"
)

// TestJudgeBlocked: instances held back by the rollout guard fail /readyz
// with the reason, and an agent holding every instance back (keepalived not
// started) stays healthy past the start-up grace.
func TestJudgeBlocked(t *testing.T) {
	now := time.Now()
	reason := "VRID 11/ipv4 (e2e_VIP_1): mastered by another configuration: 192.0.2.50 (priority 200) advertises [192.0.2.150], ours [192.0.2.200]"
	running := Lifecycle{Running: true, Ready: true, Loaded: true, Starts: 1}

	v := Judge(Facts{Now: now, AgentStart: now.Add(-time.Hour), Lifecycle: running, Blocked: []string{reason}})
	if !v.Healthy || v.Ready || !strings.Contains(v.ReadyProblem, "rollout guard") || !strings.Contains(v.ReadyProblem, "192.0.2.150") {
		t.Errorf("some held: %+v", v)
	}
	v = Judge(Facts{Now: now, AgentStart: now.Add(-time.Hour), Blocked: []string{reason}})
	if !v.Healthy || v.Ready || !strings.HasPrefix(v.ReadyProblem, "held back by the rollout guard") {
		t.Errorf("all held for an hour: %+v", v)
	}
	v = Judge(Facts{Now: now, AgentStart: now.Add(-time.Hour), Lifecycle: Lifecycle{Loaded: true, Starts: 2, ExitReason: "signal: killed"},
		Blocked: []string{reason}})
	if v.Healthy || !strings.Contains(v.ReadyProblem, "not running") || !strings.Contains(v.ReadyProblem, "rollout guard") {
		t.Errorf("keepalived gone with one held: %+v", v)
	}
	many := []string{"a", "b", "c", "d", "e"}
	v = Judge(Facts{Now: now, AgentStart: now, Lifecycle: running, Blocked: many})
	if !strings.Contains(v.ReadyProblem, "a; b; c; and 2 more") {
		t.Errorf("reasons not capped: %q", v.ReadyProblem)
	}
	if v := Judge(Facts{Now: now, AgentStart: now, Lifecycle: running}); !v.Ready {
		t.Errorf("nothing held: %+v", v)
	}
}

// TestBuildCarriesSegment: the status document carries the segment view and
// the guard's reasons.
func TestBuildCarriesSegment(t *testing.T) {
	seg := segmentFixture(t)
	st := Build(Snapshot{Now: time.Now(), AgentStart: time.Now(), Segment: &seg, Blocked: []string{"held"}})
	if st.Segment == nil || len(st.Segment.Groups) != 2 || len(st.Blocked) != 1 || st.Ready {
		t.Errorf("status %+v", st)
	}
	var none *wire.Snapshot
	if st := Build(Snapshot{Now: time.Now(), AgentStart: time.Now()}); st.Segment != none || st.Blocked != nil {
		t.Errorf("no view: segment %v blocked %v", st.Segment, st.Blocked)
	}
}
