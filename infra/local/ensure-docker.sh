#!/usr/bin/env bash
# Makes sure a Docker engine answers. If none does, starts Debian's dockerd isolated from the network:
# no default bridge, no iptables rules, no masquerading, and forwarding dropped, so containers on a
# run's own network reach each other but nothing routes off the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
if docker info >/dev/null 2>&1; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "No Docker engine answers, and starting one needs root. Start dockerd (or set DOCKER_HOST) and retry." >&2
  exit 1
fi
mkdir -p .slipway
if command -v iptables >/dev/null 2>&1; then
  iptables -P FORWARD DROP || echo "warning: could not set the iptables FORWARD policy" >&2
fi
if sysctl -n net.bridge.bridge-nf-call-iptables >/dev/null 2>&1; then
  sysctl -qw net.bridge.bridge-nf-call-iptables=0
fi
echo "Starting dockerd (log: .slipway/dockerd.log)"
nohup dockerd --bridge=none --iptables=false --ip-masq=false >.slipway/dockerd.log 2>&1 &
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.25
done
echo "dockerd did not become ready in 30 s; see .slipway/dockerd.log:" >&2
tail -n 20 .slipway/dockerd.log >&2
exit 1
