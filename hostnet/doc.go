// Package hostnet owns the agent's view of the host network and the only
// changes the agent makes to it outside keepalived: choosing the interface
// that carries the VIPs, finding the node's own address on it, waiting
// (bounded and logged) for it to become usable, detecting VIPs that collide
// with addresses already on the node, and removing VIPs a previous run left
// behind.
//
// Everything talks to the kernel over rtnetlink through
// github.com/vishvananda/netlink: no ip subprocesses and no /proc parsing, so
// there is one way to read links, addresses and routes (all routing tables,
// not just main). A Net is bound to one network namespace: New for the
// agent's own, NewAt for a namespace given by path, which is how the tests
// run against a namespace they create without moving the test process.
//
// The decisions (which interface, which address is the node's, which
// addresses are stale VIPs, which VIPs collide) are pure functions over a
// snapshot of links, addresses and routes, so they are tested with plain
// data; only reading the snapshot and deleting addresses touch the kernel.
package hostnet
