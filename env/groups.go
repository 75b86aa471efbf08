package env

import (
	"fmt"
	"slices"
)

// MaxVRID is the highest VRRP virtual router ID (RFC 5798 §5.2.3).
const MaxVRID = 255

// VRIDRangeError reports that the VRRP groups need virtual router IDs above
// MaxVRID.
type VRIDRangeError struct {
	Groups   int // groups the VIPs were split into
	Fit      int // groups that get a VRID <= 255 with this offset and exclusions
	LastVRID int // the VRID the last group would need
	Offset   int // OPENSHIFT_HA_VRRP_ID_OFFSET
	Excluded int // excluded IDs above the offset
	// Suggest is the largest OPENSHIFT_HA_VIP_GROUPS value whose groups all
	// fit, or 0 when not even one group fits.
	Suggest int
}

func (e *VRIDRangeError) Error() string {
	msg := fmt.Sprintf("the VIPs form %d VRRP groups, which would need VRIDs up to %d, but VRIDs end at %d: with VRRP ID offset %d and %d excluded IDs above it only %d groups fit",
		e.Groups, e.LastVRID, MaxVRID, e.Offset, e.Excluded, e.Fit)
	if e.Suggest > 0 {
		return msg + fmt.Sprintf("; put several VIPs in each group with OPENSHIFT_HA_VIP_GROUPS=%d (or fewer), or lower OPENSHIFT_HA_VRRP_ID_OFFSET", e.Suggest)
	}
	return msg + "; lower OPENSHIFT_HA_VRRP_ID_OFFSET or exclude fewer VRIDs"
}

// SplitGroups splits vips into VRRP groups and assigns their VRIDs exactly
// as the original image does, so that during a rolling update old and new
// pods join the same elections.
//
// The whole list, in the order it was given (families mixed), is cut into
// min(groups, n) contiguous groups whose sizes differ by at most one, larger
// groups first (7 VIPs, groups=3: 3, 2, 2); groups == 0 means one VIP per
// group. Group i gets VRID offset+i, except that an excluded ID is skipped and
// every later group shifts with it (offset 10, excluded 12 and 13: 11, 14,
// 15, 16), as in the original.
//
// A group may hold VIPs of both families. keepalived serves one family per
// vrrp_instance, so the renderer gives such a group one instance per family,
// both with the group's VRID: IPv4 and IPv6 VRRP are separate elections on
// the wire (RFC 5798 §5.2.3), and the original's instance (the family of the
// group's first VIP) keeps exactly the VIPs it served.
//
// If a VRID would exceed 255 the error is a *VRIDRangeError.
func SplitGroups(vips []VIP, groups, offset int, excluded []int) ([]Group, error) {
	if groups < 0 {
		return nil, fmt.Errorf("VIP group count %d is negative", groups)
	}
	if offset < 0 || offset >= MaxVRID {
		return nil, fmt.Errorf("VRRP ID offset %d is outside 0..%d", offset, MaxVRID-1)
	}
	var out []Group
	for _, part := range splitContiguous(vips, groups) {
		out = append(out, Group{Index: len(out) + 1, VIPs: part})
	}

	ids := vridSequence(len(out), offset, excluded)
	for i := range out {
		out[i].VRID = ids[i]
	}
	if len(out) > 0 && ids[len(ids)-1] > MaxVRID {
		// Every free ID above the offset takes one group.
		excl := 0
		for id := offset + 1; id <= MaxVRID; id++ {
			if slices.Contains(excluded, id) {
				excl++
			}
		}
		fit := MaxVRID - offset - excl
		suggest := 0
		if fit > 0 {
			suggest = fit
		}
		return nil, &VRIDRangeError{
			Groups:   len(out),
			Fit:      fit,
			LastVRID: ids[len(ids)-1],
			Offset:   offset,
			Excluded: excl,
			Suggest:  suggest,
		}
	}
	return out, nil
}

// splitContiguous cuts vips into min(groups, len) runs; groups == 0 means
// one VIP per run.
func splitContiguous(vips []VIP, groups int) [][]VIP {
	n := len(vips)
	if n == 0 {
		return nil
	}
	if groups == 0 || groups > n {
		groups = n
	}
	size, extra := n/groups, n%groups
	out := make([][]VIP, 0, groups)
	for start := 0; start < n; {
		end := start + size
		if len(out) < extra {
			end++
		}
		out = append(out, vips[start:end:end])
		start = end
	}
	return out
}

// vridSequence returns the VRIDs of n groups: the n smallest IDs above
// offset that are not excluded. IDs above MaxVRID are returned as they
// would be numbered, so the caller can report how far it overshoots.
func vridSequence(n, offset int, excluded []int) []int {
	ids := make([]int, 0, n)
	for id := offset + 1; len(ids) < n; id++ {
		if id <= MaxVRID && slices.Contains(excluded, id) {
			continue
		}
		ids = append(ids, id)
	}
	return ids
}
