#!/usr/bin/env bash
# qemu-run.sh — build the kernel and run it on QEMU powernv. The exit status
# is the verdict: 0 only if QEMU powered off cleanly AND the console shows
# the run's success line (and, with --test, "N passed, 0 failed").
#
# With no flags: the main job (boot on -smp 4, short stress of the correct
# strategies, print the report). See --help.
#
# A signal (TERM, HUP, INT) stops QEMU and everything else the run started,
# and the log says so (see "Interrupts" below).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

usage() {
  cat <<'USAGE'
usage: ./qemu-run.sh [options]
  --smp SPEC          QEMU -smp value (default 4), e.g. 8,cores=2,threads=4
  --machine M         powernv9 (default) or powernv10
  --mem SIZE          guest RAM (default 2G)
  --test              run the in-kernel test suite (ends with "N passed, N failed")
  --stress            run the stress workload (see --strategy, --duration)
  --strategy S        walker serialization strategy(ies) for --stress, comma separated
  --duration SECS     stress duration per strategy
  --bench             run the benchmark matrix (release build, --smp 16 unless given; 4 with --quick)
                      and write bench.json and bench.svg into --results DIR
  --results DIR       where --bench writes its files (default results)
  --quick             smaller benchmark (32 THPs per munmap, 3 reps, shorter walker runs)
  --append "ARGS"     extra kernel bootargs (e.g. "mmu.flush=ipi walk.delay_ns=2000")
  --timeout SECS      kill QEMU after SECS (default 300, 3600 with --bench; a timeout is a failure)
  --gdb               start QEMU halted with a gdb stub on :1234 and print how to attach
                      (no timeout unless --timeout is given)
  --gdb-port N        like --gdb, with the stub on TCP port N
  --kernel ELF        boot this prebuilt kernel image; nothing is built
  --initrd FILE       with --kernel: load FILE as the initramfs (how test.sh
                      boots Linux, which kexecs this kernel; see
                      scripts/kexec-initramfs.sh)
  --release           build the kernel with optimizations
  --log FILE          write the full console log to FILE (default results/last-run.log)
  --verbose           also show skiboot's own log lines
  --expect-fail REGEX succeed only if the run FAILS and its output matches REGEX
                      (used by test.sh to prove failure paths)
  -h, --help          this text
SIGTERM, SIGHUP or SIGINT stops QEMU and everything else this script started;
the log then ends with "qemu-run: FAIL: interrupted by SIG...".
A failed run's "backtrace: #N ... (link 0x...)" lines are symbolized with
powerpc64le-linux-gnu-addr2line and appended to the output and the log.
USAGE
}

smp="4"; machine="powernv9"; mem="2G"; mode="main"; append=""; timeout_s=300
gdb=0; profile="debug"; log="results/last-run.log"; verbose=0; expect_fail=""
strategy=""; duration=""; quick=0; smp_given=0; timeout_given=0; results="results"
gdb_port=1234; kernel_given=""; initrd=""
# An option that takes a value must have one (not another option).
need() { # option, remaining-arg-count, next-arg
  if [ "$2" -lt 2 ] || [[ "$3" == --* ]]; then
    echo "qemu-run: option $1 needs a value" >&2; usage >&2; exit 2
  fi
}
while [ $# -gt 0 ]; do
  case "$1" in
    --smp|--machine|--mem|--strategy|--duration|--append|--timeout|--log|--expect-fail|--results|--gdb-port|--kernel|--initrd) need "$1" $# "${2:-}" ;;
  esac
  case "$1" in
    --smp) smp="$2"; smp_given=1; shift 2 ;;
    --machine) machine="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --test) mode="test"; shift ;;
    --stress) mode="stress"; shift ;;
    --bench) mode="bench"; shift ;;
    --quick) quick=1; shift ;;
    --strategy) strategy="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --append) append="$append $2"; shift 2 ;;
    --timeout) timeout_s="$2"; timeout_given=1; shift 2 ;;
    --gdb) gdb=1; shift ;;
    --gdb-port) gdb=1; gdb_port="$2"; shift 2 ;;
    --kernel) kernel_given="$2"; shift 2 ;;
    --initrd) initrd="$2"; shift 2 ;;
    --release) profile="release"; shift ;;
    --log) log="$2"; shift 2 ;;
    --results) results="$2"; shift 2 ;;
    --verbose) verbose=1; shift ;;
    --expect-fail) expect_fail="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "qemu-run: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

# The benchmark measures an optimized kernel on 16 vCPUs (the --quick
# smoke on 4) unless told otherwise, without the POWER9 model's checks
# (their cost is measured separately; an explicit mmu.model= in --append
# wins).
if [ "$mode" = bench ]; then
  profile="release"
  if [ "$smp_given" != 1 ]; then
    if [ "$quick" = 1 ]; then smp="4"; else smp="16"; fi
  fi
  [ "$timeout_given" = 1 ] || timeout_s=3600
  case " $append " in *" mmu.model="*) ;; *) append="$append mmu.model=off" ;; esac
fi

case "$machine" in
  powernv9) cpu="power9" ;;
  powernv10) cpu="power10" ;;
  *) echo "qemu-run: --machine must be powernv9 or powernv10, not '$machine'" >&2; exit 2 ;;
esac
case "$timeout_s" in ''|*[!0-9]*) echo "qemu-run: --timeout needs whole seconds, not '$timeout_s'" >&2; exit 2 ;; esac
case "$gdb_port" in ''|*[!0-9]*) echo "qemu-run: --gdb-port needs a TCP port number, not '$gdb_port'" >&2; exit 2 ;; esac
if [ -n "$kernel_given" ]; then
  [ -f "$kernel_given" ] || { echo "qemu-run: --kernel: no such file '$kernel_given'" >&2; exit 2; }
  kernel_given=$(cd "$(dirname "$kernel_given")" && pwd)/$(basename "$kernel_given")
fi
if [ -n "$initrd" ]; then
  [ -n "$kernel_given" ] || { echo "qemu-run: --initrd needs --kernel" >&2; exit 2; }
  [ -f "$initrd" ] || { echo "qemu-run: --initrd: no such file '$initrd'" >&2; exit 2; }
fi

mkdir -p "$(dirname "$log")"
: >"$log"
# The verdict goes to the terminal and to the end of the log (test.sh quotes
# it when a check fails).
say() { echo "$*" | tee -a "$log" >&2; }
t_script=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# --- Interrupts ----------------------------------------------------------------
# SIGTERM, SIGHUP or SIGINT sent to this script alone (not to its process
# group) must not leave QEMU running, nor the build, timeout, tee or a
# subshell. The handler stops every process below this one (found through the
# parent links in /proc, snapshot before anything is killed, so that nothing
# escapes by being reparented): SIGTERM, then SIGKILL for whatever is left
# after 5 s. Then it ends the log with "qemu-run: FAIL: interrupted by SIG..."
# and exits 128 + the signal's number. Every long step (setup, build, QEMU,
# benchplot) runs in the background under `wait`, which a trapped signal
# interrupts at once. (test.sh's interrupt-* checks prove all three signals.)
tmp=""
. "$here/scripts/proctree.sh"   # descendants, running, stop_descendants
on_signal() { # SIGNAME
  trap '' TERM HUP INT PIPE
  stop_descendants 50   # 5 s
  [ -n "$tmp" ] && rm -rf "$tmp"
  local line
  line="qemu-run: FAIL: interrupted by SIG$1; QEMU and every process of this run stopped [$(since "$t_script")s]"
  echo "$line" >>"$log" 2>/dev/null
  { echo "$line" >&2; } 2>/dev/null
  exit $((128 + $(kill -l "$1")))
}
for sig in TERM HUP INT; do trap "on_signal $sig" "$sig"; done
step() { "$@" & wait $!; }   # a long step, interruptible (see above)

# Tools: install them if missing (idempotent).
if ! [ -x /usr/bin/cargo ] || ! command -v qemu-system-ppc64 >/dev/null || ! command -v powerpc64le-linux-gnu-ld >/dev/null; then
  echo "qemu-run: toolchain missing; running scripts/setup.sh" >&2
  step bash "$here/scripts/setup.sh" || { say "qemu-run: FAIL: setup failed"; exit 1; }
fi

if [ -n "$kernel_given" ]; then
  kernel=$kernel_given   # a prebuilt image (--kernel): nothing to build
else
  step "$here/scripts/build-kernel.sh" "$profile" >&2 || { say "qemu-run: FAIL: kernel build failed"; exit 1; }
  kernel="$here/target/powerpc64le-none/$profile/kernel"
fi

# An explicit run= in --append wins over the mode flags.
case " $append " in *" run="*) bootargs="" ;; *) bootargs="run=$mode" ;; esac
[ -n "$strategy" ] && bootargs="$bootargs walk.strategy=$strategy"
[ -n "$duration" ] && bootargs="$bootargs stress.duration_s=$duration"
[ "$quick" = 1 ] && bootargs="$bootargs bench.quick"
bootargs="$bootargs$append"
bootargs="${bootargs# }"

# -nodefaults: only the devices the kernel uses — the console UART (-serial)
# and the BMC that OPAL_CEC_POWER_DOWN talks to — and no PCIe host bridges
# for skiboot to probe (fewer emulated devices, a shorter firmware stage).
qemu=(qemu-system-ppc64 -M "$machine" -cpu "$cpu" -m "$mem" -smp "$smp"
      -nographic -nodefaults -serial mon:stdio
      -device ipmi-bmc-sim,id=bmc0 -device isa-ipmi-bt,bmc=bmc0,irq=10
      -kernel "$kernel" -append "$bootargs"
      -action panic=exit-failure -no-reboot)
[ -n "$initrd" ] && qemu+=(-initrd "$initrd")
# QEMU's stdin (fd 3): /dev/null, or with --gdb the terminal (QEMU's console).
exec 3</dev/null
if [ "$gdb" = 1 ]; then
  exec 3<&0
  qemu+=(-gdb "tcp:127.0.0.1:$gdb_port" -S)
  cat >&2 <<GDB
qemu-run: QEMU is halted with a gdb stub on localhost:$gdb_port. Attach with:
  gdb-multiarch -ex 'set architecture powerpc:common64' -ex 'set endian little' \
    -ex 'target remote :$gdb_port' -ex 'add-symbol-file $kernel -o 0x20010000'
  (the image is linked at 0xc000000000000000; skiboot loads it at 0x20010000
   and it relocates itself to run at 0xc000000020010000, hence -o 0x20010000.
   Then e.g. 'break kernel::ktest::run_all', 'continue', 'bt'.)
GDB
  [ "$timeout_given" = 1 ] || timeout_s=0
fi

echo "qemu-run: ${qemu[*]}" >&2
echo "qemu-run: log -> $log (timeout ${timeout_s}s)" >&2

filter() {
  if [ "$verbose" = 1 ]; then cat; else grep --line-buffered -v -E '^\[ *[0-9]+\.[0-9]+,[0-9]\] '; fi
}
# QEMU's console output -> the log (CRs dropped, line-buffered) and the screen.
console() { stdbuf -oL tr -d '\r' | tee "$log" | filter; }

# Firmware-stage deadline. skiboot under QEMU TCG is seen now and then (about
# 1 run in 100 on an idle host, more on a busy one) to stop printing, in its
# PCIe/flash probing, before it starts the kernel: that is the emulator or the
# firmware, not this kernel. So if skiboot has not printed "INIT: Starting
# kernel" after $fw_deadline s, QEMU is stopped and the run is retried, up to
# $fw_retries times, saying so (the last stalled attempt's log is kept as
# $log.fw-stall). Stalling in every attempt, or anything after the kernel
# started, is a failure as usual. (test.sh proves both paths:
# QEMU_RUN_FW_DEADLINE=0 must fail naming the stall;
# QEMU_RUN_FW_SIMULATE_STALL=1 cuts the first attempt at 0 s and the retry
# must pass.)
fw_deadline=${QEMU_RUN_FW_DEADLINE:-60}
fw_retries=${QEMU_RUN_FW_RETRIES:-2}
case "$fw_retries" in ''|*[!0-9]*) echo "qemu-run: QEMU_RUN_FW_RETRIES must be a whole number, not '$fw_retries'" >&2; exit 2 ;; esac
fw_marker='INIT: Starting kernel'
fw_stalled=0
run_monitored() { # [deadline; "" = none]; sets rc; fw_stalled=1 if killed for the firmware deadline
  local deadline="${1-$fw_deadline}"
  tmp=$(mktemp -d)
  : >"$log"
  # timeout 0 (with --gdb) means no timeout. QEMU (and the pipeline) run in
  # the background: this shell only waits, so a signal is handled at once.
  { timeout --foreground -k 5 "$timeout_s" "${qemu[@]}" <&3 2>&1 &
    echo $! >"$tmp/pid"; wait $!; echo $? >"$tmp/rc"; } | console &
  local pipe=$! t0; t0=$(date +%s)
  fw_stalled=0; fw_used=$deadline
  while [ -n "$deadline" ] && kill -0 "$pipe" 2>/dev/null; do
    grep -q "$fw_marker" "$log" && break
    if [ $(( $(date +%s) - t0 )) -ge "$deadline" ]; then
      fw_stalled=1
      kill -TERM "$(cat "$tmp/pid" 2>/dev/null)" 2>/dev/null
      break
    fi
    sleep 0.5
  done
  wait "$pipe"
  rc=$(cat "$tmp/rc" 2>/dev/null || echo 125)
  rm -rf "$tmp"; tmp=""
}

start=$(date +%s.%N)
fw_note=""
if [ "$gdb" = 1 ]; then
  run_monitored ""   # no firmware deadline: skiboot waits for the debugger
elif [ "${QEMU_RUN_FW_SIMULATE_STALL:-0}" = 1 ]; then
  run_monitored 0
else
  run_monitored
fi
attempts=1
while [ "$fw_stalled" = 1 ] && [ "$attempts" -le "$fw_retries" ]; do
  mv "$log" "$log.fw-stall"
  echo "qemu-run: skiboot did not start the kernel within ${fw_used}s (firmware/emulator stall, before this kernel ran); retry $attempts of $fw_retries" >&2
  run_monitored
  attempts=$((attempts + 1))
  fw_note="qemu-run: note: attempt $((attempts - 1)) stalled in skiboot before the kernel started (log: $log.fw-stall); this is retry $((attempts - 1))"
done
if [ "$fw_stalled" = 1 ]; then
  fw_note="qemu-run: skiboot did not start the kernel within ${fw_deadline}s in $attempts attempts"
fi
elapsed=$(since "$start")

verdict_ok=1
why=""
[ -n "$fw_note" ] && echo "$fw_note" | tee -a "$log" >&2
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  verdict_ok=0; why="timed out after ${timeout_s}s waiting for the run to finish"
elif [ "$rc" != 0 ]; then
  verdict_ok=0; why="QEMU exited with status $rc"
fi
if [ "$fw_stalled" = 1 ]; then
  verdict_ok=0; why="skiboot did not start the kernel within ${fw_deadline}s in $attempts attempts; QEMU stopped"
fi
if grep -q '^FATAL:' "$log"; then
  verdict_ok=0; why="${why:+$why; }$(grep -m1 '^FATAL:' "$log")"
fi
if ! grep -q '^RESULT: ok' "$log"; then
  verdict_ok=0; why="${why:+$why; }no 'RESULT: ok' line"
fi
if [ "$mode" = test ]; then
  if ! grep -qE '^[0-9]+ passed, 0 failed$' "$log"; then
    verdict_ok=0
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    why="${why:+$why; }${summary:-missing summary line}"
  fi
fi

# Symbolized backtraces of a failed run: each "backtrace: #N ADDR (link L)"
# line of the kernel becomes function and file:line lines (with -i, the
# functions inlined at that address too). Frames from #1 on are return
# addresses, so the call site, L - 4, is looked up.
symbolize() {
  local a2l=powerpc64le-linux-gnu-addr2line n addr link tag q out first line
  command -v "$a2l" >/dev/null || { say "qemu-run: (no $a2l: backtrace not symbolized)"; return; }
  grep -a -q -E '^backtrace: #[0-9]+ ' "$log" || return 0
  echo "qemu-run: backtrace symbolized with $a2l -f -i -e $kernel:" | tee -a "$log" >&2
  while read -r n addr link tag; do
    q=$link
    [ "$n" = "#0" ] || q=$(printf '0x%x' $(( link - 4 )))
    out=$("$a2l" -f -i -C -e "$kernel" "$q" 2>/dev/null | sed "s|$here/||") || continue
    first=1
    while IFS= read -r fn && IFS= read -r line; do
      if [ "$first" = 1 ]; then
        printf 'qemu-run:   %s %s %s at %s\n' "$n" "$link" "$fn" "$line"; first=0
      else
        printf 'qemu-run:      inlined into %s at %s\n' "$fn" "$line"
      fi
    done <<<"$out"
  done < <(sed -n -E 's/^backtrace: (#[0-9]+) (0x[0-9a-f]+) \(link (0x[0-9a-f]+)\)( [a-z]+)?$/\1 \2 \3 \4/p' "$log" | awk '{print $1, $2, $3, $4}') \
    | tee -a "$log" >&2
}
[ "$verdict_ok" = 1 ] || symbolize

if [ -n "$expect_fail" ]; then
  if [ "$verdict_ok" = 1 ]; then
    say "qemu-run: EXPECTED FAILURE did not happen (run passed)"; exit 1
  fi
  if grep -qE "$expect_fail" "$log"; then
    say "qemu-run: failed as expected ($why) [${elapsed}s]"; exit 0
  fi
  say "qemu-run: failed, but output does not match /$expect_fail/ ($why)"; exit 1
fi

if [ "$mode" = bench ] && [ "$verdict_ok" = 1 ]; then
  # The host facts the kernel cannot know go into the log as one more
  # BENCH record (provenance), then BENCH lines -> $results/bench.json,
  # $results/bench.svg and the README section (tools/benchplot).
  jstr() { local v=${1//\\/\\\\}; v=${v//\"/\\\"}; printf '"%s"' "$v"; }
  commit=$(git -C "$here" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  dirty=false
  [ -n "$(git -C "$here" status --porcelain --untracked-files=no 2>/dev/null)" ] && dirty=true
  printf 'BENCH {"kind":"host","commit":%s,"dirty":%s,"qemu":%s,"host_cpu":%s,"host_cores":%s,"machine":%s,"smp":%s,"mem":%s,"date":%s}\n' \
    "$(jstr "$commit")" "$dirty" \
    "$(jstr "$(qemu-system-ppc64 --version | head -1 | sed 's/^QEMU emulator version //')")" \
    "$(jstr "$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//')")" "$(nproc)" \
    "$(jstr "$machine")" "$(jstr "$smp")" "$(jstr "$mem")" "$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" >>"$log"
  mkdir -p "$results"
  if ! step env RUSTC=/usr/bin/rustc /usr/bin/cargo run --quiet --release -p benchplot -- --out "$results" "$log"; then
    verdict_ok=0; why="benchplot could not turn the log into $results/bench.json and bench.svg"
  fi
fi

if [ "$verdict_ok" = 1 ]; then
  say "qemu-run: PASS [${elapsed}s]"
  exit 0
fi
say "qemu-run: FAIL: $why [${elapsed}s]"
[ "$rc" != 0 ] && exit "$rc"
exit 1
