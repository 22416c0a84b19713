#!/usr/bin/env bash
# Builds the kernel ELF: scripts/build-kernel.sh [debug|release]
# Uses Debian's Rust (rustc-web, with std sources for -Zbuild-std): rustup's
# proxies may come first in PATH, so the binaries are named explicitly.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-debug}"
args=()
[ "$profile" = release ] && args+=(--release)
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
/usr/bin/cargo kbuild "${args[@]}" --quiet
kernel="target/powerpc64le-none/$profile/kernel"
# The entry code only applies R_PPC64_RELATIVE; refuse anything else.
if powerpc64le-linux-gnu-readelf -rW "$kernel" | awk 'NR>2 && $3 ~ /^R_PPC64/ && $3 != "R_PPC64_RELATIVE" {bad=1} END {exit bad}'; then :; else
  echo "build-kernel: $kernel has relocations other than R_PPC64_RELATIVE" >&2
  powerpc64le-linux-gnu-readelf -rW "$kernel" | grep R_PPC64 | grep -v R_PPC64_RELATIVE | head >&2
  exit 1
fi
