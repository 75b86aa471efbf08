// Package imagetest owns the test of the container image itself: it builds
// the Dockerfile offline (a debootstrapped Debian base imported into a
// private podman storage, the binary prebuilt on the host), exports the
// image's filesystem, and runs it as two VRRP nodes in network namespaces,
// chrooted, as PID 1 of their own PID namespace and with only the
// capabilities the manifests grant.
//
// The nodes run the OpenShift 4 documentation's IP failover Deployment
// unchanged but for its addresses and interface name: its environment, its
// bash check script mounted read-only from a ConfigMap-shaped directory at
// /etc/keepalive (calling pgrep and nc against a listener on the monitor
// port), and its livenessProbe `pgrep keepalived`, run inside each node as
// kubelet would run it. The tools users' scripts call (ps, ifconfig,
// killall, nc, bash, env) are run there too, one subtest each. Then a
// failing check script and a graceful stop (SIGTERM) each move the VIPs to
// the other node.
//
// The test needs root, podman, debootstrap, setpriv, unshare, nsenter and
// ip, and network access to the Debian mirror apt uses. It skips without
// them, under -short, or with IPFAILOVER_IMAGE_TEST=0; under CI=true
// missing tools fail it instead. Run it with `make image-test`.
package imagetest
