// Package wire owns the agent's view of VRRP as it travels on the segment:
// decoding adverts from packets, listening for them below the host
// firewall, keeping a live table of every advertiser, and finding
// conflicts between them and this node's own instances. Package vrrpstate
// is the view from keepalived's side (what keepalived says it does); this
// package is what the wire shows, so that the two can be compared.
//
// Nothing here changes the host, starts goroutines of its own or logs:
// functions return values and the agent decides what to log or export.
//
// # Pieces
//
//   - DecodeIP and DecodeEthernet decode a VRRPv2 (RFC 3768) or VRRPv3
//     (RFC 5798) advert, over IPv4 or IPv6, into an Advert, verifying the
//     checksum (ChecksumOK) and rejecting malformed packets with errors
//     wrapping ErrMalformed or ErrNotVRRP. They never panic, never read out
//     of bounds and do not allocate when the Advert is reused.
//   - Listen opens a Listener: an AF_PACKET socket on one interface with a
//     classic BPF filter passing only IPv4 protocol 112 and IPv6 next header
//     112. It sees adverts before netfilter, and our own outgoing adverts,
//     which it marks Advert.Outgoing. Read and Run deliver adverts.
//   - Table keeps, per VRID and family (Key), every source heard with its
//     priority, interval, version, authentication type, VIPs, first and
//     last heard time and packet count. Sources expire Expiry(interval)
//     after their last advert (three intervals plus one second). Memory is
//     bounded by Limits whatever arrives. The clock is injected.
//   - Detect finds conflicts (Collision, SplitBrain, Mismatch, Firewall) in
//     a Snapshot; Table.Snapshot already includes them. Tracker turns
//     successive results into raised, changed and cleared events.
//   - Guard is the rollout guard: per instance of ours, may keepalived start
//     it, with a reason fit for /readyz.
//   - Collector exports ipfailover_segment_advertisers,
//     ipfailover_vrid_conflict and ipfailover_segment_adverts_total.
//   - Snapshot is the whole segment as plain data that round-trips through
//     encoding/json, for a status command.
//
// # Wiring it into the agent
//
// The agent provides: the interface name keepalived runs VRRP on, this
// node's addresses on it, the other nodes of its configuration when known
// (Local.Peers), the instances it renders (VRID, family, the advertised VIP
// list, advert_int, VRRP version, authentication type) and, periodically,
// keepalived's per-instance receive counters.
//
//	tab := wire.NewTable(nil, wire.Limits{})
//	tab.SetLocal(wire.Local{Interface: ifname, Addrs: nodeAddrs, Instances: instances})
//	l, err := wire.Listen(ifname) // in the host network namespace, needs CAP_NET_RAW
//	go l.Run(ctx, tab.Observe)
//	registry.MustRegister(wire.NewCollector(tab))
//
//	// Before starting keepalived: wait wire.ListenWindow(instances), then
//	// for each verdict in wire.Guard(tab.Snapshot()) with !Start, hold the
//	// instance back and report wire.Blocked(...) on /readyz.
//
//	// Every time keepalived's stats are read (same cadence as today):
//	tab.UpdateRx(rx) // map[wire.Key]uint64: advert_rcvd plus receive errors, per instance
//	var tr wire.Tracker
//	for _, ch := range tr.Update(tab.Snapshot().Conflicts) {
//		slog.Warn("segment conflict "+ch.Event, "conflict", ch.Conflict.String())
//	}
//
// SetLocal is called again whenever the configuration is re-rendered. The
// receive counter passed to UpdateRx should move whenever keepalived's
// socket got an advert for the instance, accepted or not, so that a
// collision (which keepalived rejects and counts as an error) is not also
// reported as a firewall problem.
//
// # Limits
//
// The listener sees multicast adverts of every node and unicast adverts
// addressed to this node; adverts unicast between two other nodes are not
// on this node's wire (unless the interface is promiscuous). IPv6 adverts
// behind extension headers are dropped by the socket filter (the decoder
// accepts hop-by-hop, routing and destination options headers when given
// such a packet directly).
//
// Two keepalived masters of one VRID that reject each other's adverts (a
// collision) also delay their own: keepalived restarts its advert timer on
// every advert it receives, so the wire shows the pair alternating
// irregularly, and either may be silent for several seconds, longer than a
// source's expiry. A source that expired may therefore still be master;
// the agent keeps reporting a conflict for a while after the table last
// showed it.
package wire
