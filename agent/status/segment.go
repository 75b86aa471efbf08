package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipfailover/ipfailover/statusapi"
	"github.com/ipfailover/ipfailover/wire"
)

// SegmentURL turns the URL of an agent's /status endpoint (see URL) into
// that of its /segment endpoint.
func SegmentURL(statusURL string) string {
	return strings.TrimSuffix(statusURL, "/status") + "/segment"
}

// ErrNoSegment is returned by FetchSegment when the agent answered but has
// no segment view (it could not open its VRRP listener, or predates it).
var ErrNoSegment = errors.New("the agent has no segment view")

// FetchSegment reads the segment view of the agent whose /status endpoint is
// at statusURL (see URL). It returns the body as served too, for --json.
func FetchSegment(ctx context.Context, statusURL string) (wire.Snapshot, []byte, error) {
	var seg wire.Snapshot
	url := SegmentURL(statusURL)
	code, status, body, err := get(ctx, url)
	if err != nil {
		return seg, nil, err
	}
	switch {
	case code == http.StatusNotFound:
		// The agent's own 404 says why (no CAP_NET_RAW); an agent without
		// the endpoint answers the mux's generic text.
		why := firstLine(strings.TrimSpace(string(body)))
		if why == "" || strings.Contains(why, "page not found") {
			why = "it does not serve /segment (an older agent?)"
		}
		return seg, nil, fmt.Errorf("%s: %w: %s", url, ErrNoSegment, why)
	case code != http.StatusOK:
		return seg, nil, fmt.Errorf("%s answered %s", url, status)
	}
	if err := json.Unmarshal(body, &seg); err != nil {
		return seg, nil, fmt.Errorf("decode %s: %w", url, err)
	}
	return seg, body, nil
}

// PrintSegment renders the segment view as `ipfailover status --segment`
// prints it: one line per advertiser, grouped by VRID and family (other
// configurations' VRIDs too), then the conflicts. With asJSON it prints the
// snapshot as JSON instead.
func PrintSegment(w io.Writer, seg wire.Snapshot, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(seg); err != nil {
			return fmt.Errorf("encode the segment view: %w", err)
		}
		return nil
	}
	// Ages are relative to the snapshot's own time, so a document saved
	// with --json prints the same later.
	now := seg.Taken
	var local []string
	for _, a := range seg.LocalAddrs {
		local = append(local, a.String())
	}
	fmt.Fprintf(w, "VRRP on %s as heard by %s, listening for %s\n", orDash(seg.Interface), orDash(strings.Join(local, ", ")),
		now.Sub(seg.Since).Round(100*time.Millisecond))
	if len(seg.Groups) == 0 {
		fmt.Fprintln(w, "\nno VRRP advert heard")
	} else {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VRID\tFAMILY\tINSTANCE\tSOURCE\tROLE\tPRIO\tINTERVAL\tVER\tAUTH\tVIPS\tHEARD")
		for _, g := range seg.Groups {
			vrid, fam, inst := fmt.Sprint(g.VRID), g.Family.String(), "-"
			if g.Ours {
				inst = g.Instance
			}
			if len(g.Sources) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t(nothing heard)\t\t\t\t\t\t\t\n", vrid, fam, inst)
				continue
			}
			for _, s := range g.Sources {
				src := s.Addr.String()
				if s.Ours {
					src += " (this node)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", vrid, fam, inst, src, role(g, s), s.Priority,
					s.Interval, s.Version, authName(s.Version, s.AuthType), addrList(s.VIPs), statusapi.Ago(now, s.LastHeard))
				vrid, fam, inst = "", "", "" // once per group
			}
		}
		_ = tw.Flush()
	}
	if len(seg.Conflicts) == 0 {
		fmt.Fprintln(w, "\nno conflict")
		return nil
	}
	fmt.Fprintln(w)
	for _, c := range seg.Conflicts {
		fmt.Fprintln(w, "CONFLICT:", c.String())
	}
	return nil
}

// role names what a source is in its group: the master VRRP elects, another
// source claiming master at the same time, or one that stepped down.
func role(g wire.Group, s wire.Source) string {
	switch {
	case !s.Master:
		return "stepped down"
	case g.Master != nil && g.Master.Addr == s.Addr:
		if g.Masters > 1 {
			return "MASTER (of " + fmt.Sprint(g.Masters) + ")"
		}
		return "master"
	default:
		return "MASTER too"
	}
}

func authName(version, t uint8) string {
	switch {
	case version != 2:
		return "-"
	case t == 0:
		return "none"
	case t == 1:
		return "pass"
	case t == 2:
		return "ah"
	}
	return fmt.Sprint(t)
}

func addrList(as []netip.Addr) string {
	if len(as) == 0 {
		return "-"
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// maxBlockedReasons bounds the rollout guard's reasons quoted by /readyz;
// /status lists them all.
const maxBlockedReasons = 3

// joinCapped joins the first n reasons and counts the rest.
func joinCapped(reasons []string, n int) string {
	if len(reasons) <= n {
		return strings.Join(reasons, "; ")
	}
	return strings.Join(reasons[:n], "; ") + fmt.Sprintf("; and %d more (see /status)", len(reasons)-n)
}
