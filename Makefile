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
