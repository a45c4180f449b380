#!/usr/bin/env bash
# Installs what ClawNet needs on a fresh Debian 12 machine: the C toolchain and libraries from
# Debian's packages, and the Python test packages into .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake libcjson-dev libedit-dev libmicrohttpd-dev libsodium-dev libsqlite3-dev libcurl4-openssl-dev libseccomp-dev bubblewrap faketime python3 python3-venv python3-pip)
# On x86-64: the aarch64 (NEON) cross build of the core and its tests under qemu-user (make
# test-aarch64, docs/arm.md); an arm64 machine builds and tests natively.
if [ "$(uname -m)" = x86_64 ]; then packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo); fi
  "${as_root[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
echo "setup: done"
