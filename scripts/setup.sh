#!/usr/bin/env bash
# Idempotent, non-interactive setup for Debian 12 (run as root or with sudo).
# Installs only what ../shared/platform.md names: Debian's Rust 1.96 + std sources
# (for -Zbuild-std), ppc64le binutils, QEMU 10 from bookworm-backports.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi

have_all() {
  [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] &&
  [ -d /usr/lib/rustlib/src/rust/library ] &&
  command -v powerpc64le-linux-gnu-ld >/dev/null &&
  command -v qemu-system-ppc64 >/dev/null &&
  qemu-system-ppc64 --version | grep -qE 'version (9|[1-9][0-9])\.' &&
  [ -f /usr/share/qemu/skiboot.lid ]
}

if have_all; then
  echo "setup: toolchain already present"
  exit 0
fi

echo "setup: installing toolchain packages"
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo 'deb http://deb.debian.org/debian bookworm-backports main' |
    $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi
$SUDO apt-get update -qq -o Acquire::Retries=3 || $SUDO apt-get update -qq -o Acquire::Retries=3
$SUDO apt-get install -y -qq -o Acquire::Retries=3 --no-install-recommends \
  rustc-web cargo-web rust-web-src binutils-powerpc64le-linux-gnu python3
$SUDO apt-get install -y -qq -o Acquire::Retries=3 --no-install-recommends \
  -t bookworm-backports qemu-system-ppc

if ! have_all; then
  echo "setup: ERROR: toolchain still incomplete after install" >&2
  ls -la /usr/bin/cargo /usr/bin/rustc /usr/lib/rustlib/src/rust/library 2>&1 >&2 || true
  command -v qemu-system-ppc64 >&2 || true
  exit 1
fi
echo "setup: done"
