#!/usr/bin/env bash
# scripts/gdb-check.sh [PORT] — the gdb path, tested: boot the kernel halted
# under `qemu-run.sh --gdb-port PORT`, attach gdb-multiarch in batch mode,
# load the symbols at the offset the image runs at (linked at
# 0xc000000000000000 with p_paddr 0; skiboot loads it at 0x20010000 and it
# relocates itself there), break in a Rust function, continue, and print a
# backtrace. Passes only if gdb stopped in that function ("Breakpoint 1,
# ... kernel::ktest::run_all") and its backtrace names it and its caller.
# Every wait is bounded; the QEMU run is stopped at the end either way.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
port=${1:-$((20000 + $$ % 20000))}
func=kernel::ktest::run_all
kernel=target/powerpc64le-none/debug/kernel
out=$(mktemp -d)
qpid=""
cleanup() { [ -n "$qpid" ] && kill -TERM "$qpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT
fail() { echo "gdb-check: FAIL: $*"; exit 1; }

command -v gdb-multiarch >/dev/null || fail "gdb-multiarch is not installed (scripts/setup.sh installs it)"
scripts/build-kernel.sh debug || fail "kernel build failed"

./qemu-run.sh --kernel "$kernel" --gdb-port "$port" --timeout 240 --smp 2 \
  --append "run=test ktest.filter=image_runs" --log "$out/qemu.log" >"$out/qemu-run.out" 2>&1 &
qpid=$!
# Wait (at most 30 s) until the stub listens.
for _ in $(seq 1 300); do
  grep -q "gdb stub on localhost:$port" "$out/qemu-run.out" 2>/dev/null \
    && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$qpid" 2>/dev/null || { cat "$out/qemu-run.out"; fail "qemu-run.sh exited before its gdb stub listened"; }
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "timed out after 30s waiting for the gdb stub on port $port"

echo "gdb-check: attaching gdb-multiarch to :$port, symbols at offset 0x20010000, breaking in $func"
timeout -k 5 120 gdb-multiarch -nx -batch \
  -ex 'set pagination off' -ex 'set confirm off' \
  -ex 'set architecture powerpc:common64' -ex 'set endian little' \
  -ex "target remote 127.0.0.1:$port" \
  -ex "add-symbol-file $kernel -o 0x20010000" \
  -ex "break $func" \
  -ex 'continue' \
  -ex 'bt 8' \
  -ex 'info registers pc' \
  -ex 'kill' >"$out/gdb.out" 2>&1
grc=$?
sed 's/^/gdb: /' "$out/gdb.out"
[ "$grc" != 124 ] || fail "timed out after 120s waiting for gdb (breakpoint in $func never hit?)"
grep -qE "(^|hit )Breakpoint 1, .*${func##*::}" "$out/gdb.out" || fail "gdb did not stop at the breakpoint in $func"
grep -qE "^#0 .*${func//::/::}" "$out/gdb.out" || fail "gdb's backtrace does not name $func in frame #0"
grep -qE "^#[1-9] .*kernel::run" "$out/gdb.out" || fail "gdb's backtrace does not name the caller kernel::run"
echo "gdb-check: PASS: gdb stopped in $func and its backtrace names it"
