#!/usr/bin/env bash
# Installs everything Slipway's local stack, tests and benchmarks need on Debian 12, idempotently:
# Debian packages (Docker engine, registry, busybox-static, Node.js/npm, git), a .venv with the
# project and its dev tools (pinned), and the pinned npm packages (Azurite).
# Where something cannot be installed (not root, not Debian), it prints what to install and stops.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v dockerd >/dev/null 2>&1 || docker info >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
# One package may be listed twice (docker.io); dedupe.
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
fi

if ((${#missing[@]})); then
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "Slipway needs these Debian packages, which this script can install only as root on Debian:" >&2
    echo "  ${missing[*]}" >&2
    echo "Install them (e.g. 'sudo apt-get install -y ${missing[*]}'), then run make again." >&2
    exit 1
  fi
  echo "Installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python_stamp=".venv/.slipway-deps-$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)"
if [[ ! -f "$python_stamp" ]]; then
  echo "Installing Python packages into .venv"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt -e .
  rm -f .venv/.slipway-deps-*
  touch "$python_stamp"
fi

# Byte-compile the project, as pip does for the packages it installs (an editable install is not). Where
# PYTHONDONTWRITEBYTECODE is set, every `slipway` start would otherwise compile its modules again
# (~25 ms of a quick build). Only changed files are compiled; a stale .pyc is never used.
.venv/bin/python -m compileall -q core slipway_cli slipway_host triggers function_app.py >/dev/null

node_stamp="node_modules/.slipway-deps-$(sha256sum package-lock.json | cut -c1-16)"
if [[ ! -f "$node_stamp" ]]; then
  echo "Installing npm packages (Azurite)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  touch "$node_stamp"
fi
