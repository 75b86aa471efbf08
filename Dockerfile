# syntax=docker/dockerfile:1
#
# ipfailover container image: the static agent binary on a small Debian base
# with keepalived, iproute2 and iptables (nft backend, Debian's default), plus
# the tools existing Deployments' probes and scripts call (see below).
#
#   docker build -t ipfailover .                    # where registries are reachable
#   make image                                      # the same, version-stamped
#
# Offline (no registry, as in the image test): build bin/ipfailover on the
# host, point BASE_IMAGE at a local image and skip the Go builder stage:
#
#   podman build --build-arg BINARY_SOURCE=prebuilt \
#                --build-arg BASE_IMAGE=localhost/debian:bookworm .

# Base images are arguments so mirrors and pinned digests need no edit.
ARG BUILDER_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=debian:bookworm-slim
# Where the binary comes from: "build" compiles it in the builder stage,
# "prebuilt" copies bin/ipfailover from the build context.
ARG BINARY_SOURCE=build

FROM ${BUILDER_IMAGE} AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ipfailover . \
    && /out/ipfailover version

FROM scratch AS prebuilt
COPY bin/ipfailover /out/ipfailover

# Selects one of the two stages above; builders skip the unused one.
FROM ${BINARY_SOURCE} AS binary

FROM ${BASE_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="ipfailover" \
      org.opencontainers.image.description="Keeps virtual IPs highly available with keepalived/VRRP; drop-in replacement for OpenShift's keepalived-ipfailover image" \
      org.opencontainers.image.source="https://github.com/ipfailover/ipfailover" \
      org.opencontainers.image.url="https://github.com/ipfailover/ipfailover" \
      org.opencontainers.image.documentation="https://github.com/ipfailover/ipfailover/tree/main/docs" \
      org.opencontainers.image.version="${VERSION}"
# keepalived: VRRP; iproute2: `ip` for VIP cleanup; iptables: the multicast
# accept rule (iptables-nft by default on Debian). No kmod: the agent never
# loads kernel modules.
# The rest is not for the agent but for what existing Deployments run inside
# the container, which the original image carried: the OpenShift
# documentation's livenessProbe is `pgrep keepalived` (procps, also ps), and
# users' check and notify scripts from ConfigMaps are bash scripts calling
# nc (netcat-openbsd), ifconfig (net-tools), killall (psmisc), ps and pgrep.
# bash is already in every Debian base (Essential); it is listed because
# those scripts need it, not sh. --no-install-recommends keeps out what is
# only recommended (ipvsadm, nftables, libatm1). force-unsafe-io: an
# interrupted build is thrown away anyway, and dpkg's fsyncs make slow disks
# crawl. The closing loop fails the build if a package stops shipping a
# tool under the name those scripts call.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         -o Dpkg::Options::=--force-unsafe-io \
         keepalived iproute2 iptables \
         procps netcat-openbsd net-tools psmisc bash \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && keepalived --version \
    && for tool in pgrep ps nc ifconfig killall bash; do command -v "$tool" >/dev/null \
         || { echo "missing $tool" >&2; exit 1; }; done
COPY --from=binary /out/ipfailover /usr/local/bin/ipfailover
# The agent runs as PID 1 (it reaps and forwards signals itself) and as root
# with only NET_ADMIN and NET_RAW; see deploy/ for the pod settings.
ENTRYPOINT ["/usr/local/bin/ipfailover"]
CMD ["run"]
