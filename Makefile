VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test lab lab-down deps
build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/ipfailover .

deps:
	@command -v keepalived >/dev/null && command -v iptables >/dev/null && command -v ip >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq keepalived iptables iproute2; }

test:
	bash hack/test.sh

lab: deps build
	go run ./e2e/cmd/lab

lab-down:
	go run ./e2e/cmd/lab --down

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
