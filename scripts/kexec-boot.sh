#!/usr/bin/env bash
# scripts/kexec-boot.sh OUT_DIR [BOOTARGS] [-- QEMU-RUN FLAGS]
#
# Boots the kernel the way petitboot does on a POWER9: QEMU powernv9 runs
# skiboot, skiboot runs Debian's ppc64el Linux with an initramfs, and its
# /init runs `kexec -l kernel --append="BOOTARGS" && kexec -e`
# (scripts/kexec-initramfs.sh builds it; the Linux parts are cached in
# cache/kexec/). The verdict is qemu-run.sh's: the kexec'd kernel must print
# RESULT: ok (and power the machine off). Default: -smp 4, the boot suite's
# SMP tests. test.sh's [kexec] check runs this.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
[ $# -ge 1 ] || { echo "usage: $0 OUT_DIR [BOOTARGS] [-- qemu-run.sh flags]" >&2; exit 2; }
out=$1; shift
bootargs="run=test ktest.filter=percpu,image,ipi_all,timer exit=qemu"
if [ $# -gt 0 ] && [ "$1" != -- ]; then bootargs=$1; shift; fi
[ "${1:-}" != -- ] || shift
mkdir -p "$out"
scripts/build-kernel.sh debug
scripts/kexec-initramfs.sh target/powerpc64le-none/debug/kernel "$out" "$bootargs"
exec ./qemu-run.sh --kernel "$out/vmlinux" --initrd "$out/initramfs.cpio.gz" --smp 4 \
  --append "console=hvc0" --log "$out/console.log" "$@"
