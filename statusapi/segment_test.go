package statusapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ipfailover/ipfailover/wire"
)

// TestSegmentEndpoint: /segment serves the status document's segment view,
// /status carries it too, and an agent without one answers 404 with why.
func TestSegmentEndpoint(t *testing.T) {
	st := fullStatus()
	h := newTestServer(&st).Handler()
	if code, body := get(t, h, "/segment"); code != 404 || !strings.Contains(body, "CAP_NET_RAW") {
		t.Errorf("/segment without a view = %d %q", code, body)
	}
	seg := segmentFixture{}.Snapshot()
	st.Segment = &seg
	st.Blocked = []string{"VRID 1/ipv4 (ipf_test_VIP_1): mastered by another configuration"}
	code, body := get(t, h, "/segment")
	var back wire.Snapshot
	if err := json.Unmarshal([]byte(body), &back); code != 200 || err != nil {
		t.Fatalf("/segment = %d, %v", code, err)
	}
	if len(back.Groups) != 2 || len(back.Conflicts) != 1 || back.Conflicts[0].Kind != wire.Collision {
		t.Errorf("/segment round trip: %+v", back)
	}
	_, body = get(t, h, "/status")
	var doc Status
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Segment == nil || len(doc.Segment.Groups) != 2 || len(doc.Blocked) != 1 {
		t.Errorf("/status segment %+v blocked %v", doc.Segment, doc.Blocked)
	}
}
