#!/usr/bin/env bash
# test.sh — every test: host `cargo test` of each crate (incl. the loom
# model), the in-QEMU suite on several topologies and flush modes, and the
# failure-path checks (each injected failure must fail the run, naming its
# cause). Ends with one line: "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if ! [ -x /usr/bin/cargo ] || ! command -v qemu-system-ppc64 >/dev/null || ! command -v powerpc64le-linux-gnu-ld >/dev/null; then
  echo "test.sh: toolchain missing; running scripts/setup.sh"
  bash scripts/setup.sh || { echo "test.sh: setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc

start=$(date +%s)
passed=0; failed=0
mkdir -p results/test-logs
rm -f results/test-logs/*.fw-stall
failures=()

record() { # name status [log: its qemu-run verdict is quoted on failure]
  if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "[PASS] $1"
  else
    failed=$((failed + 1)); failures+=("$1"); echo "[FAIL] $1"
    if [ -n "${3:-}" ]; then
      grep -a -E '^(qemu-run|inject):|does not name' "$3" | tail -n 3 | sed 's/^/    /'
      echo "    (log: $3)"
    fi
  fi
}

# --- host crates -------------------------------------------------------------
cargo_suite() { # name, env/cargo args... ; adds the "test result:" counts
  local name="$1"; shift
  local log="results/test-logs/$name.log"
  env "$@" > "$log" 2>&1
  local rc=$?
  grep -E '^test .* FAILED|panicked at' "$log" | head -20 | sed "s/^/  [$name] /"
  local p f
  p=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
  f=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\2/' | awk '{s+=$1} END {print s+0}')
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    f=1; failures+=("$name: cargo exited $rc without a failing test (build error? see $log)")
  fi
  passed=$((passed + p)); failed=$((failed + f))
  echo "$name: $p passed, $f failed"
}
cargo_suite host-crates /usr/bin/cargo test --workspace --exclude kernel --release
# loom model of the walker-registry protocol (its own cfg and target dir)
cargo_suite loom-model RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom /usr/bin/cargo test -p walkproto --release

# --- the kernel's structure: no import circles, every import points down ----
python3 scripts/check-layers.py > results/test-logs/check-layers.log 2>&1
rc=$?
tail -n 1 results/test-logs/check-layers.log
record "kernel-layers-no-circles-no-upward-imports" "$rc" results/test-logs/check-layers.log

# --- in-QEMU suites ----------------------------------------------------------
qemu_suite() { # name, qemu-run args...
  local name="$1"; shift
  local log="results/test-logs/$name.log"
  ./qemu-run.sh --test --log "$log" "$@" >/dev/null 2>&1
  local rc=$?
  local summary
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
  local p f
  p=$(echo "${summary:-0 passed, 0 failed}" | awk '{print $1}')
  f=$(echo "${summary:-0 passed, 0 failed}" | awk '{print $3}')
  grep -E '^test .* FAILED' "$log" | sed "s/^/  [$name] /"
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    f=1; failures+=("$name: run failed without a failing test ($(grep -m1 '^FATAL' "$log" || echo "exit $rc"))")
    grep -a "^qemu-run:" "$log" | tail -n 1 | sed "s/^/    /"
  fi
  passed=$((passed + p)); failed=$((failed + f))
  echo "qemu $name: $p passed, $f failed (exit $rc)"
}

qemu_suite p9-smp4-tlbie --smp 4 --timeout 600 --append "mmu.flush=tlbie"
qemu_suite p9-smp4-ipi --smp 4 --timeout 600 --append "mmu.flush=ipi"
qemu_suite p9-smp1 --smp 1 --timeout 300
qemu_suite p9-smt4 --smp 8,cores=2,threads=4 --timeout 600
qemu_suite p9-2chip --smp 8,sockets=2,cores=1,threads=4 --timeout 600
qemu_suite p10-smp4 --machine powernv10 --smp 4 --timeout 600
qemu_suite p9-16t --smp 16,cores=4,threads=4 --timeout 900

# --- the README's first command (the main job) and the stress CLI ----------
./qemu-run.sh --log results/test-logs/main-job.log >/dev/null 2>&1
rc=$?
ok=0
if [ "$rc" = 0 ] && grep -q '^cpus online: 4/4$' results/test-logs/main-job.log \
   && [ "$(grep -c 'verdict=PASS' results/test-logs/main-job.log)" = 5 ]; then ok=1; fi
record "main-job: cpus online 4/4, five strategies PASS (exit $rc)" $(( 1 - ok )) results/test-logs/main-job.log
./qemu-run.sh --stress --strategy none --duration 10 --smp 2 --log results/test-logs/stress-none.log >/dev/null 2>&1
rc=$?
ok=0
if [ "$rc" = 0 ] && grep -q 'strategy=none verdict=CAUGHT' results/test-logs/stress-none.log; then ok=1; fi
record "stress-cli: the none control is CAUGHT (exit $rc)" $(( 1 - ok )) results/test-logs/stress-none.log

# --- the image is position independent: it moves itself and boots again -----
./qemu-run.sh --test --smp 4 --timeout 300 --log results/test-logs/reloc.log \
  --append "reloc.test=0x48000000 ktest.filter=image,percpu,ipi_all" >/dev/null 2>&1
rc=$?
ok=0
if [ "$rc" = 0 ] && grep -q 'reloc: this instance was entered at 0x48000000' results/test-logs/reloc.log \
   && grep -q 'image at 0x48000000' results/test-logs/reloc.log; then ok=1; fi
record "relocated-image-boots-and-passes (exit $rc)" $(( 1 - ok )) results/test-logs/reloc.log

# --- benchmark smoke: one quick run must produce both result files -----------
rm -f results/bench.json results/bench.svg
./qemu-run.sh --bench --quick --smp 4 --log results/test-logs/bench-smoke.log >/dev/null 2>&1
rc=$?
ok=0
if [ "$rc" = 0 ] && [ -s results/bench.json ] && [ -s results/bench.svg ]; then ok=1; fi
record "bench-smoke-writes-json-and-svg (exit $rc)" $(( 1 - ok )) results/test-logs/bench-smoke.log

# --- failure paths: each must fail, naming its cause --------------------------
# A regex with VICTIM in it: the victim of that injection is "a CPU that is
# not the boot CPU", which skiboot picks differently from run to run; the
# kernel announces it (`inject: ... target is cpu N`) and the failure must
# name that CPU.
expect_fail() { # name, regex, qemu-run args...
  local name="$1" re="$2"; shift 2
  local log="results/test-logs/$name.log" rc victim
  ./qemu-run.sh --log "$log" --expect-fail "${re//VICTIM/[0-9]+}" "$@" >/dev/null 2>&1
  rc=$?
  if [ "$rc" = 0 ] && [[ "$re" == *VICTIM* ]]; then
    victim=$(sed -n 's/^inject: .* target is cpu \([0-9]*\) .*/\1/p' "$log" | head -n 1)
    if [ -z "$victim" ] || ! grep -qE "${re//VICTIM/$victim}" "$log"; then
      echo "$name: the failure does not name the victim cpu '${victim:-?}'" >>"$log"; rc=1
    fi
  fi
  record "$name" "$rc" "$log"
}
expect_fail inject-fail 'FAILED.*injected failure' --test --smp 2 --timeout 120 --append "ktest.filter=inject ktest.inject=fail"
expect_fail inject-hang 'FATAL: test `inject_hang` timed out' --test --smp 2 --timeout 120 --append "ktest.filter=inject ktest.inject=hang"
expect_fail inject-exception 'FATAL: unexpected exception: vector 0xe40' --test --smp 2 --timeout 120 --append "ktest.filter=inject ktest.inject=exception"
expect_fail inject-ipi-timeout 'IPI timeout: inject_ipi_timeout not acknowledged .* by cpu VICTIM( |$)' --test --smp 2 --timeout 120 --append "ktest.filter=inject ktest.inject=ipi-timeout ipi.timeout_ms=500"
expect_fail inject-stall 'FATAL: watchdog: cpu VICTIM .* made no progress' --test --smp 2 --timeout 120 --append "ktest.filter=inject ktest.inject=stall watchdog.ms=2000"
expect_fail bad-bootarg 'FATAL: unknown bootarg `walk.strategyy`; valid keys:' --smp 1 --timeout 60 --append "walk.strategyy=count"
expect_fail bad-value 'FATAL: bad value `fast` for bootarg `mmu.flush`' --smp 1 --timeout 60 --append "mmu.flush=fast"
expect_fail too-little-memory 'FATAL: too little memory' --smp 1 --timeout 60 --append "run=boot mem.min_mb=4096"

# --- qemu-run's firmware-stage deadline: it must fail a stall (naming it) and
# retry exactly once ----------------------------------------------------------
QEMU_RUN_FW_DEADLINE=0 ./qemu-run.sh --smp 1 --timeout 60 --append run=boot \
  --log results/test-logs/fw-stall.log >/dev/null 2>&1
rc=$?
ok=0
if [ "$rc" != 0 ] && grep -q "skiboot did not start the kernel within 0s, twice" results/test-logs/fw-stall.log; then ok=1; fi
record "firmware-stall-is-a-named-failure (exit $rc)" $(( 1 - ok )) results/test-logs/fw-stall.log
QEMU_RUN_FW_SIMULATE_STALL=1 ./qemu-run.sh --smp 1 --timeout 60 --append run=boot \
  --log results/test-logs/fw-retry.log >/dev/null 2>&1
rc=$?
ok=0
if [ "$rc" = 0 ] && grep -q "the first attempt stalled in skiboot" results/test-logs/fw-retry.log \
   && [ -e results/test-logs/fw-retry.log.fw-stall ]; then ok=1; fi
record "firmware-stall-retried-once-then-passes (exit $rc)" $(( 1 - ok )) results/test-logs/fw-retry.log

elapsed=$(( $(date +%s) - start ))
echo
if [ "${#failures[@]}" -gt 0 ]; then
  echo "failures:"; for f in "${failures[@]}"; do echo "  - $f"; done
fi
# Real firmware stalls that qemu-run retried (not counted as failures: the
# kernel had not started; listed so that they are seen).
mapfile -t stalls < <(ls results/test-logs/*.fw-stall 2>/dev/null | grep -v '/fw-stall.log.fw-stall$\|/fw-retry.log.fw-stall$')
[ "${#stalls[@]}" -gt 0 ] && echo "skiboot stalls retried by qemu-run: ${stalls[*]}"
echo "test.sh finished in ${elapsed}s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
