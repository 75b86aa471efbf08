VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test test-deps lab lab-down deps
build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/ipfailover .

deps:
	@command -v keepalived >/dev/null && command -v iptables >/dev/null && command -v ip >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq keepalived iptables iproute2; }

# What the whole suite needs on a fresh Debian machine (as root): the agent's
# tools for the e2e tests, podman/debootstrap/eatmydata for the image test,
# promtool (Debian's prometheus package) for the rules and metrics checks,
# and kustomize (from the Go module proxy) for the deploy/ builds.
TEST_PACKAGES := keepalived iptables iproute2 podman debootstrap eatmydata prometheus
KUSTOMIZE_VERSION := v5.7.1
test-deps:
	@missing=""; for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		systemctl disable --now prometheus >/dev/null 2>&1 || true; \
	elif [ -n "$$missing" ]; then echo "not root: tests needing$$missing will skip"; fi
	@command -v kustomize >/dev/null || [ -x "$$(go env GOPATH)/bin/kustomize" ] || \
		go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

test: test-deps kapi
	bash hack/test.sh

# Live demo (root): 3 nodes + a client in network namespaces; keys fail and
# restore nodes, services and agents. Extra flags: make lab LAB_ARGS="--advert 0.1"
lab: deps build
	go run ./e2e/cmd/lab $(LAB_ARGS)

# Removes every ipf- lab namespace (also e2e leftovers) and stops a hung lab.
lab-down:
	go run ./e2e/cmd/lab --down

# Failover timing report (root, several minutes): prints the table and writes
# docs/failover-timing.md. Knobs: IPFAILOVER_BENCH_RUNS, _ADVERTS, _SCENARIOS.
.PHONY: bench-failover
bench-failover: deps build
	IPFAILOVER_E2E_BIN=$(CURDIR)/bin/ipfailover IPFAILOVER_BENCH=1 \
		go test -count=1 -timeout 60m -run '^TestFailoverTiming$$' -v ./e2e

# Container image. Where registries are reachable this is a plain build;
# offline, build on the host and use a local base image:
#   make image IMAGE_BUILD_ARGS="--build-arg BINARY_SOURCE=prebuilt --build-arg BASE_IMAGE=localhost/debian:bookworm"
IMAGE ?= ipfailover:$(VERSION)
CONTAINER_TOOL ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
.PHONY: image image-test
image: build
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) $(IMAGE_BUILD_ARGS) -t $(IMAGE) .

# Builds the image offline and fails a VIP over between two nodes running it
# (root; needs podman, debootstrap, eatmydata; about 2 minutes).
image-test:
	go test -count=1 -timeout 20m -v ./imagetest

# kube-apiserver and etcd for the kube/ tests against a real API server,
# built from the Go module proxy into a cache outside the tree (about 6-10
# minutes once; later runs find them and return at once). Tests skip
# without them. Knobs: IPFAILOVER_KAPI_DIR (default /var/cache/ipfailover-kapi).
.PHONY: kapi
kapi:
	bash hack/kapi/build.sh
