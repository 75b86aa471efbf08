// Package lab owns the throw-away network testbed that the end-to-end tests
// and the `make lab` demo run ipfailover in.
//
// A Lab is one isolated L2 segment built from network namespaces whose names
// all carry a random run id: a switch namespace holding a Linux bridge, N node
// namespaces and one client namespace, each joined to the bridge by a veth
// pair whose inner end is eth0. Addresses come only from the documentation
// ranges 192.0.2.0/24 and 2001:db8::/64: node i gets .1i / ::1i, the client
// .100 / ::100.
//
// Every node runs its process under test (normally `ipfailover run`) as PID 1
// of its own PID and mount namespace, the way a container runtime would,
// with private tmpfs mounts over /run and /etc/keepalived so nodes never see
// each other's files. The mount setup is done by re-executing the calling
// binary in a helper mode, so the binary that uses this package must call
// MaybeRunHelper first thing in main (or TestMain).
//
// Each node also gets a small TCP service, served from this process through a
// socket created inside the node's namespace, that answers every connection
// with the node's name: the client side (Probe, Prober) can therefore tell
// which node currently serves a VIP. Holders tells where the kernel has the
// VIPs configured.
//
// Everything the package creates is removed by Lab.Close; Down removes what a
// crashed earlier run left behind.
package lab
