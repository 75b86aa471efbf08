// Package vrrpstate owns the agent's view of VRRP as keepalived runs it: it
// reads keepalived's notify FIFO (reopening it whenever keepalived lets go of
// it), parses every line keepalived writes there, keeps the state model of
// each instance (state, effective priority, last transition with its
// reason, transition counts), reads VIP presence from the kernel over
// netlink, reads keepalived's SIGJSON dump for its counters and as a
// liveness heartbeat, and runs the user's notify script and health check
// serially with a timeout that kills the whole process group.
//
// Nothing here exports metrics or serves HTTP (package statusapi does), and
// nothing here changes the host.
package vrrpstate
