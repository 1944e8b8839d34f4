#!/bin/bash
# Installs the Debian packages Skiff builds, tests and benchmarks with. Idempotent and quick when
# everything is present (no apt-get update then). Run as root on Debian 12.
set -euo pipefail
packages=(
  # build: C libraries behind the CShims system modules
  libseccomp-dev libcap-dev libssl-dev zlib1g-dev libsqlite3-dev libzstd-dev pkg-config
  # test image and runtime tests
  busybox-static file tar gzip iproute2 util-linux procps jq
  # side-by-side benchmarks and image tooling
  crun runc umoci skopeo hyperfine wrk
  # image pulls: libcurl for the registry client; a real registry and htpasswd for its tests
  libcurl4-openssl-dev docker-registry apache2-utils zstd openssl
  # pod networking: CNI plugins (bridge, host-local, loopback, portmap), iptables, and nftables
  # (nft and libnftables for the proxy's nftables mode)
  containernetworking-plugins iptables nftables libnftables1
  # the etcd store backend: a real etcd for its tests, etcdctl for the benchmark, curl for health checks
  etcd-server etcd-client curl
  # cluster DNS: dnsmasq as a real upstream in its tests and beside it in the benchmark, dnsperf
  # to load both, dig for the benchmark's spot checks
  dnsmasq-base dnsperf dnsutils
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || [ -x /opt/swift/usr/bin/swift ] || {
  echo "install-deps: the Swift 6 toolchain is required (swift not on PATH, not in /opt/swift)" >&2; exit 1; }
