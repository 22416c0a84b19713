#!/usr/bin/env bash
# The cargo runner of the kernel's target (.cargo/config.toml): cargo calls
# it as `scripts/cargo-runner.sh ELF [ARGS...]` after `cargo krun`; it boots
# that ELF with `qemu-run.sh --kernel ELF ARGS...` (so `cargo krun -- --test`
# runs the in-kernel suite). Refuses an image with relocations the entry code
# does not apply, as scripts/build-kernel.sh does.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "cargo-runner: usage: cargo-runner.sh ELF [qemu-run.sh flags]" >&2; exit 2; }
elf=$1; shift
if powerpc64le-linux-gnu-readelf -rW "$elf" | awk 'NR>2 && $3 ~ /^R_PPC64/ && $3 != "R_PPC64_RELATIVE" {bad=1} END {exit bad}'; then :; else
  echo "cargo-runner: $elf has relocations other than R_PPC64_RELATIVE" >&2; exit 1
fi
exec "$here/qemu-run.sh" --kernel "$elf" "$@"
