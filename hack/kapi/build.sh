#!/usr/bin/env bash
# Builds the two binaries the kube/ tests run against a real API server:
# kube-apiserver and etcd, from the Go module proxy, into a cache directory
# outside the source tree. A second run with the binaries already there (and
# of the pinned versions) does nothing, so `make test` pays the build once
# per machine (about 6 minutes and 2.5 GB of RAM on 2 cores).
#
#   IPFAILOVER_KAPI_DIR  where the binaries go (default /var/cache/ipfailover-kapi)
#   KAPI_K8S_VERSION     kube-apiserver version (default 1.37.2)
#   KAPI_ETCD_VERSION    etcd version (default 3.7.3)
#
# kube-apiserver cannot be `go install`ed: k8s.io/kubernetes replaces its
# k8s.io/* staging modules with ./staging/... paths. A throwaway module
# requires it and replaces each staging module with the published v0.Y.Z of
# the same name instead.
set -euo pipefail

K8S=${KAPI_K8S_VERSION:-1.37.2}
ETCD_V=${KAPI_ETCD_VERSION:-3.7.3}
OUT=${IPFAILOVER_KAPI_DIR:-/var/cache/ipfailover-kapi}

have() { # have BINARY WANT: the binary runs and reports version WANT
	[ -x "$OUT/$1" ] && "$OUT/$1" --version 2>/dev/null | grep -qF "$2"
}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# One build at a time per cache directory (parallel make, CI retries).
exec 9>"$OUT/.build.lock"
flock 9

if have kube-apiserver "Kubernetes v$K8S" && have etcd "etcd Version: $ETCD_V"; then
	echo "kapi: kube-apiserver v$K8S and etcd v$ETCD_V already in $OUT"
	exit 0
fi

# Shared machine: stay out of the way of timing-sensitive tests. One package
# at a time also keeps kube-apiserver's peak memory near 2.5 GB.
export GOFLAGS="${KAPI_GOFLAGS:--p=1} -buildvcs=false"
NICE="nice -n 19"
W=$(mktemp -d)
# Partial binaries go to the cache directory under a dot name, then are
# renamed: a build killed halfway leaves nothing that looks usable.
trap 'rm -rf "$W" "$OUT/.kube-apiserver.new" "$OUT/.etcd.new"' EXIT
start=$(date +%s)

if ! have kube-apiserver "Kubernetes v$K8S"; then
	echo "kapi: building kube-apiserver v$K8S (several minutes)"
	mkdir "$W/kube-apiserver"
	cd "$W/kube-apiserver"
	kmod=$(go mod download -json "k8s.io/kubernetes@v$K8S" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
	[ -f "$kmod" ] || { echo "kapi: no go.mod for k8s.io/kubernetes@v$K8S" >&2; exit 1; }
	{
		printf 'module kapibuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S"
		# sample-* modules are not published; nothing kube-apiserver links needs them.
		grep -E '=> \./staging/' "$kmod" | awk '{print $1}' | grep -v '^k8s.io/sample-' |
			sed "s|.*|\t& => & v0.${K8S#1.}|"
		printf ')\n'
	} >go.mod
	printf '//go:build tools\n\npackage kapibuild\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >tools.go
	$NICE go mod tidy
	# Without a stamped version the server says v0.0.0-master+$Format:%H$,
	# which client-go's discovery and kubectl refuse.
	v=k8s.io/component-base/version
	minor=$(echo "$K8S" | cut -d. -f2)
	ldflags="-s -w -X $v.gitVersion=v$K8S -X $v.gitMajor=${K8S%%.*} -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
	$NICE go build -trimpath -ldflags="$ldflags" -o "$OUT/.kube-apiserver.new" k8s.io/kubernetes/cmd/kube-apiserver
	mv -f "$OUT/.kube-apiserver.new" "$OUT/kube-apiserver"
fi

if ! have etcd "etcd Version: $ETCD_V"; then
	echo "kapi: building etcd v$ETCD_V"
	mkdir "$W/etcd"
	cd "$W/etcd"
	printf 'module etcdbuild\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_V" >go.mod
	printf '//go:build tools\n\npackage etcdbuild\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
	$NICE go mod tidy
	# The server's main package is the module root.
	$NICE go build -trimpath -ldflags='-s -w' -o "$OUT/.etcd.new" go.etcd.io/etcd/server/v3
	mv -f "$OUT/.etcd.new" "$OUT/etcd"
fi

echo "kapi: built in $(($(date +%s) - start)) s into $OUT"
"$OUT/kube-apiserver" --version
"$OUT/etcd" --version | head -1
