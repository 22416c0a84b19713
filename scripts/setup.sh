#!/usr/bin/env bash
# Idempotent, non-interactive setup for Debian 12 (run as root or with sudo).
# Installs Debian's Rust 1.96 + std sources (for -Zbuild-std), ppc64le binutils,
# QEMU 10 from bookworm-backports, and for the lab checks: LAVA's dispatcher
# (lava-run; ipmitool, which it requires to validate the POWER9 job),
# gdb-multiarch, cpio and gzip (the kexec initramfs).
#
# lava-dispatcher depends on qemu-system-x86, whose bookworm build conflicts
# with backports' QEMU 10 (qemu-system-common): both QEMUs come from
# bookworm-backports, installed before the dispatcher.
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
  [ -f /usr/share/qemu/skiboot.lid ] &&
  command -v lava-run >/dev/null && command -v ipmitool >/dev/null &&
  command -v gdb-multiarch >/dev/null &&
  command -v cpio >/dev/null && command -v gzip >/dev/null
}

if have_all; then
  echo "setup: toolchain already present"
  exit 0
fi

echo "setup: installing toolchain packages"
# The archive URI of the Debian source apt already uses for bookworm (deb822 or
# one-line format), so backports comes from the same place, mirror or not.
debian_uri() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '
      /^[[:space:]]*$/ { if (ok && u != "") { print u; exit }; ok = 0; u = ""; next }
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") ok = 1 }
      END { if (ok && u != "") print u }' "$f" | head -n1)
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                             if ($(i + 1) == "bookworm") { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  return 1
}

if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  uri=$(debian_uri) || {
    echo "setup: ERROR: no enabled Debian 'bookworm' source in /etc/apt; cannot derive bookworm-backports" >&2
    exit 1
  }
  echo "setup: adding bookworm-backports from $uri"
  echo "deb $uri bookworm-backports main" |
    $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi
$SUDO apt-get update -qq -o Acquire::Retries=3 || $SUDO apt-get update -qq -o Acquire::Retries=3
$SUDO apt-get install -y -qq -o Acquire::Retries=3 --no-install-recommends \
  rustc-web cargo-web rust-web-src binutils-powerpc64le-linux-gnu python3
$SUDO apt-get install -y -qq -o Acquire::Retries=3 --no-install-recommends \
  -t bookworm-backports qemu-system-ppc qemu-system-x86
$SUDO apt-get install -y -qq -o Acquire::Retries=3 --no-install-recommends \
  lava-dispatcher gdb-multiarch cpio gzip ipmitool

if ! have_all; then
  echo "setup: ERROR: toolchain still incomplete after install" >&2
  ls -la /usr/bin/cargo /usr/bin/rustc /usr/lib/rustlib/src/rust/library 2>&1 >&2 || true
  command -v qemu-system-ppc64 >&2 || true
  exit 1
fi
echo "setup: done"
