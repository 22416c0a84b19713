#!/usr/bin/env bash
# scripts/kexec-initramfs.sh KERNEL_ELF OUT_DIR [BOOTARGS]
#
# The petitboot/kexec path as a test: a Debian ppc64el Linux boots on QEMU
# powernv with an initramfs whose /init loads KERNEL_ELF with kexec-tools and
# jumps into it:
#   kexec -l KERNEL_ELF --append="BOOTARGS" && kexec -e
# (Debian's Linux 6.1 has no CONFIG_KEXEC_FILE, so kexec_load, not -s.)
#
# Writes OUT_DIR/vmlinux and OUT_DIR/initramfs.cpio.gz; boot them with
#   ./qemu-run.sh --kernel OUT_DIR/vmlinux --initrd OUT_DIR/initramfs.cpio.gz \
#                 --append "console=hvc0"
#
# The Linux parts come from Debian's archive as packages (the kernel image,
# kexec-tools, busybox-static, libc6, all ppc64el): the script adds the
# ppc64el architecture to dpkg, runs apt-get update, `apt-get download`s
# them, removes the architecture again, and unpacks them with dpkg-deb -x.
# Nothing is installed for ppc64el. The unpacked parts are cached under
# cache/kexec/ (gitignored), so this downloads once per machine; delete the
# folder to fetch them again. Needs root (or sudo -n) for the first run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 KERNEL_ELF OUT_DIR [BOOTARGS]" >&2; exit 2; }
elf=$1; out=$2; bootargs=${3:-run=main exit=qemu}
[ -f "$elf" ] || { echo "kexec-initramfs: no kernel image '$elf'" >&2; exit 2; }
cache=${KEXEC_CACHE:-$here/cache/kexec}
base=$cache/base
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"

fetch_base() {
  local work added=0 pkgs kimg
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  if ! dpkg --print-foreign-architectures | grep -qx ppc64el; then
    $SUDO dpkg --add-architecture ppc64el; added=1
  fi
  # A partial update (a mirror in sync) is fine as long as the packages
  # below resolve; apt-get download says so if they do not.
  $SUDO apt-get update -qq -o Acquire::Retries=3 || echo "kexec-initramfs: apt-get update had errors; trying the download anyway" >&2
  kimg=$(apt-cache depends linux-image-powerpc64le:ppc64el 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*\).*/\1/p' | head -n1)
  pkgs=("${kimg:-linux-image-powerpc64le}:ppc64el" kexec-tools:ppc64el busybox-static:ppc64el libc6:ppc64el)
  local rc=0
  (cd "$work" && apt-get download -q -o Acquire::Retries=3 -o APT::Sandbox::User=root "${pkgs[@]}") || rc=$?
  if [ "$added" = 1 ]; then $SUDO dpkg --remove-architecture ppc64el || true; fi
  [ "$rc" = 0 ] || { echo "kexec-initramfs: apt-get download ${pkgs[*]} failed" >&2; return 1; }
  rm -rf "$base.new"; mkdir -p "$base.new/x" "$base.new/root"
  local deb
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$base.new/x"; done
  local x=$base.new/x r=$base.new/root vml
  vml=$(ls "$x"/boot/vmlinux-* 2>/dev/null | head -n1)
  [ -n "$vml" ] || { echo "kexec-initramfs: no /boot/vmlinux-* in $kimg" >&2; return 1; }
  cp "$vml" "$base.new/vmlinux"
  basename "$vml" >"$base.new/linux-version"
  mkdir -p "$r/bin" "$r/sbin" "$r/lib64" "$r/lib/powerpc64le-linux-gnu" "$r/proc" "$r/sys" "$r/dev" "$r/tmp"
  cp "$x/bin/busybox" "$r/bin/busybox"
  cp "$x/sbin/kexec" "$r/sbin/kexec"
  # kexec's interpreter and the libraries it names (libc6 only, today).
  cp -L "$x/lib/powerpc64le-linux-gnu/ld64.so.2" "$r/lib64/ld64.so.2"
  local lib
  for lib in $(powerpc64le-linux-gnu-readelf -d "$x/sbin/kexec" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    cp -L "$x/lib/powerpc64le-linux-gnu/$lib" "$r/lib/powerpc64le-linux-gnu/$lib" \
      || { echo "kexec-initramfs: kexec needs $lib, not in the downloaded packages" >&2; return 1; }
  done
  rm -rf "$x"
  rm -rf "$base"; mv "$base.new" "$base"
  echo "kexec-initramfs: cached $(cat "$base/linux-version"), kexec-tools, busybox-static in $base"
}

[ -f "$base/vmlinux" ] && [ -x "$base/root/sbin/kexec" ] || fetch_base

# The initramfs: the cached tree, our image and an /init that kexecs it.
mkdir -p "$out"
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
cp -a "$base/root/." "$tree/"
# kexec needs only the loadable segment: drop the debug sections.
powerpc64le-linux-gnu-objcopy --strip-debug "$elf" "$tree/kernel.elf"
cat >"$tree/init" <<INIT
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
echo "kexec-initramfs: Linux \$(/bin/busybox uname -r) is up; kexec -l /kernel.elf --append=\"$bootargs\""
/sbin/kexec -l /kernel.elf --append="$bootargs" && {
  echo "kexec-initramfs: kexec -e"
  /sbin/kexec -e
}
echo "kexec-initramfs: FAIL: kexec did not start the kernel"
/bin/busybox poweroff -f
INIT
chmod 755 "$tree/init"
(cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initramfs.cpio.gz"
cp "$base/vmlinux" "$out/vmlinux"
echo "kexec-initramfs: $out/vmlinux ($(cat "$base/linux-version")) + $out/initramfs.cpio.gz (kexec -l $(basename "$elf") --append=\"$bootargs\")"
