// Package imagetest owns the test of the container image itself: it builds
// the Dockerfile offline (a debootstrapped Debian base imported into a
// private podman storage, the binary prebuilt on the host), exports the
// image's filesystem, and runs it as two VRRP nodes in network namespaces,
// chrooted, as PID 1 of their own PID namespace and with only the
// capabilities the manifests grant. It shows a health-check failure and a
// graceful stop (SIGTERM) each moving the VIP to the other node.
//
// The test needs root, podman, debootstrap, setpriv, unshare and ip, and
// network access to the Debian mirror apt uses. It skips without them,
// under -short, or with IPFAILOVER_IMAGE_TEST=0; under CI=true missing tools
// fail it instead. Run it with `make image-test`.
package imagetest
