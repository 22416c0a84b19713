#!/usr/bin/env bash
# test.sh — every test: host `cargo test` of each crate (incl. the loom
# model), the kernel's layering check, and every QEMU check listed in
# tests/matrix.cfg (the in-kernel suite on several topologies and flush modes,
# the main job, failure paths that must fail naming their cause, qemu-run.sh's
# own deadline and interrupt handling). Ends with one line: "N passed, N failed".
#
#   ./test.sh [-g GROUP[,GROUP...]] [-j N] [--under-load] [--list]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

usage() {
  cat <<'USAGE'
usage: ./test.sh [options]
  -g GROUPS      run only the checks in these groups (comma list; default all);
                 a check's name is a group too. --list shows them.
  -j N           run N QEMU checks at a time (default 1); host checks run first,
                 one at a time. Each check has its own log; its result lines are
                 printed when it finishes.
  --under-load   keep two CPU hogs busy for the whole run (a busy host); logs go
                 to results/test-logs-under-load/ instead of results/test-logs/
  --list         list the checks with their kind and groups, then the groups
  -h, --help     this text
The last line is "N passed, N failed"; the exit status is 0 only if N failed is 0.
USAGE
}

want="all"; jobs=1; under_load=0; list=0
while [ $# -gt 0 ]; do
  case "$1" in
    -g) [ $# -ge 2 ] || { echo "test.sh: -g needs a group" >&2; exit 2; }; want="$2"; shift 2 ;;
    -j) [ $# -ge 2 ] || { echo "test.sh: -j needs a number" >&2; exit 2; }; jobs="$2"; shift 2 ;;
    -g?*) want="${1#-g}"; shift ;;
    -j?*) jobs="${1#-j}"; shift ;;
    --under-load) under_load=1; shift ;;
    --list) list=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "test.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case "$jobs" in ''|*[!0-9]*|0) echo "test.sh: -j needs a whole number >= 1, not '$jobs'" >&2; exit 2 ;; esac

# --- the checks: host checks here, QEMU checks from tests/matrix.cfg ----------
# Each check is an index into names[]; its keys are in cfg["index.key"]
# (repeatable keys hold one value per line).
matrix=tests/matrix.cfg
names=(); declare -A cfg=()
add_check() { # name kind groups
  local i=${#names[@]}
  names[i]=$1; cfg[$i.kind]=$2; cfg[$i.groups]=$3
}
add_check host-crates cargo host
add_check loom-model loom host
add_check kernel-layers layers "host quick"
n_host=${#names[@]}

matrix_error() { echo "test.sh: $matrix:$1: $2" >&2; exit 2; }
parse_matrix() {
  local n=0 line i=-1 key val k
  local -A seen=()
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
    if [[ $line =~ ^\[([A-Za-z0-9._-]+)\][[:space:]]*$ ]]; then
      [ -n "${seen[${BASH_REMATCH[1]}]:-}" ] && matrix_error $n "entry [${BASH_REMATCH[1]}] appears twice"
      seen[${BASH_REMATCH[1]}]=1
      i=${#names[@]}; names[i]=${BASH_REMATCH[1]}; cfg[$i.line]=$n
      continue
    fi
    [[ $line =~ ^[[:space:]]*([a-z-]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] \
      || matrix_error $n "expected [name] or 'key = value', got: $line"
    key=${BASH_REMATCH[1]}; val=${BASH_REMATCH[2]}
    [ "$i" -ge 0 ] || matrix_error $n "'$key' before the first [name]"
    case "$key" in
      expect|expect-count|expect-file|expect-data) cfg[$i.$key]+="$val"$'\n' ;;
      kind|title|machine|smp|timeout|args|append|env|exit|groups|signal|ready|ready-timeout|settle|command)
        [ -n "${cfg[$i.$key]+set}" ] && matrix_error $n "'$key' given twice in [${names[i]}]"
        cfg[$i.$key]=$val ;;
      *) matrix_error $n "unknown key '$key'" ;;
    esac
  done <"$matrix"
  for ((i = n_host; i < ${#names[@]}; i++)); do
    n=${cfg[$i.line]}
    case "${cfg[$i.kind]:-}" in
      suite|run|fail) ;;
      interrupt) [ -n "${cfg[$i.signal]:-}" ] && [ -n "${cfg[$i.ready]:-}" ] \
                   || matrix_error $n "[${names[i]}] (interrupt) needs signal and ready" ;;
      '') matrix_error $n "[${names[i]}] has no kind" ;;
      *) matrix_error $n "[${names[i]}]: unknown kind '${cfg[$i.kind]}'" ;;
    esac
    [[ ${cfg[$i.timeout]:-} =~ ^[0-9]+$ ]] || matrix_error $n "[${names[i]}] needs timeout = SECONDS"
    [ "${cfg[$i.kind]}" != fail ] || [[ ${cfg[$i.expect]:-} =~ ^[^$'\n']+$'\n'$ ]] \
      || matrix_error $n "[${names[i]}] (fail) needs one expect"
    for k in ready-timeout settle; do
      [[ ${cfg[$i.$k]:-1} =~ ^[0-9]+$ ]] || matrix_error $n "[${names[i]}]: $k must be seconds"
    done
    case "${cfg[$i.exit]:-0}" in 0|nonzero) ;; *) matrix_error $n "[${names[i]}]: exit must be 0 or nonzero" ;; esac
    [ -z "${cfg[$i.command]:-}" ] || [ "${cfg[$i.kind]}" = run ] \
      || matrix_error $n "[${names[i]}]: command is for kind = run only"
    cfg[$i.groups]="qemu ${cfg[$i.groups]:-}"
  done
}
parse_matrix

# Groups: every check is in `all` and in a group named after itself.
declare -A group_size=()
groups_of() { echo "all ${names[$1]} ${cfg[$1.groups]//,/ }"; }
for i in "${!names[@]}"; do
  for g in $(groups_of "$i"); do group_size[$g]=$(( ${group_size[$g]:-0} + 1 )); done
done
if [ "$list" = 1 ]; then
  for i in "${!names[@]}"; do printf '%-20s %-10s %s\n' "${names[i]}" "${cfg[$i.kind]}" "${cfg[$i.groups]//,/ }"; done
  echo; echo "groups:"
  declare -A is_name=(); for n in "${names[@]}"; do is_name[$n]=1; done
  for g in $(printf '%s\n' "${!group_size[@]}" | sort); do
    [ -n "${is_name[$g]:-}" ] || printf '  %-16s %s\n' "$g" "${group_size[$g]}"
  done
  exit 0
fi
selected=()
want=${want//[[:space:]]/}
for g in ${want//,/ }; do
  [ -n "${group_size[$g]:-}" ] || { echo "test.sh: no group or check named '$g' (see ./test.sh --list)" >&2; exit 2; }
done
for i in "${!names[@]}"; do
  for g in $(groups_of "$i"); do
    if [[ ",$want," == *",$g,"* ]]; then selected+=("$i"); break; fi
  done
done

if ! [ -x /usr/bin/cargo ] || ! command -v qemu-system-ppc64 >/dev/null || ! command -v powerpc64le-linux-gnu-ld >/dev/null; then
  echo "test.sh: toolchain missing; running scripts/setup.sh"
  bash scripts/setup.sh || { echo "test.sh: setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc

start=$(date +%s)
passed=0; failed=0
failures=()
logs=results/test-logs
[ "$under_load" = 1 ] && logs=results/test-logs-under-load
mkdir -p "$logs"
work=$(mktemp -d)

# --- interrupts and process clean-up --------------------------------------------
# SIGTERM, SIGHUP or SIGINT to test.sh stops every process it started (its
# qemu-run.sh runs, which stop their own QEMU, the CPU hogs, cargo): SIGTERM to
# all of them at once, SIGKILL for what is left after 10 s. The run then counts
# one failure, "interrupted by SIG...", and ends with its summary line.
. "$here/scripts/proctree.sh"   # descendants, running, stop_descendants

# --- --under-load: two CPU hogs for the whole run --------------------------------
hogs=()
start_hogs() {
  local i
  for i in 1 2; do ( while :; do :; done ) & hogs+=($!); done
  hog_t0=$(date +%s)
  echo "test.sh: under load: 2 CPU hogs (busy shell loops, pids ${hogs[*]}) run until the end"
}
stop_hogs() {
  [ ${#hogs[@]} -gt 0 ] || return 0
  local p line ticks=0 f
  for p in "${hogs[@]}"; do   # utime + stime, fields 14 and 15 of /proc/PID/stat
    if { read -r line <"/proc/$p/stat"; } 2>/dev/null; then
      line=${line##*) }; read -ra f <<<"$line"; ticks=$(( ticks + f[11] + f[12] ))
    fi
  done
  kill -KILL "${hogs[@]}" 2>/dev/null; wait "${hogs[@]}" 2>/dev/null
  echo "test.sh: under load: stopped the CPU hogs; they used $(( ticks / $(getconf CLK_TCK) ))s of CPU in $(( $(date +%s) - hog_t0 ))s"
  hogs=()
}

summary() {
  echo
  if [ "${#failures[@]}" -gt 0 ]; then
    echo "failures:"; for f in "${failures[@]}"; do echo "  - $f"; done
  fi
  # Real firmware stalls that qemu-run retried (not counted as failures: the
  # kernel had not started; listed so that they are seen).
  local i stalls=()
  for i in "${selected[@]}"; do
    [[ ${cfg[$i.env]:-} == *QEMU_RUN_FW_* ]] && continue
    [ -e "$logs/${names[i]}.log.fw-stall" ] && stalls+=("$logs/${names[i]}.log.fw-stall")
  done
  [ "${#stalls[@]}" -gt 0 ] && echo "skiboot stalls retried by qemu-run: ${stalls[*]}"
  stop_hogs
  rm -rf "$work"
  echo "test.sh finished in $(( $(date +%s) - start ))s"
  echo "$passed passed, $failed failed"
}
on_signal() { # SIGNAME
  trap '' TERM HUP INT PIPE
  echo "test.sh: interrupted by SIG$1; stopping every process it started"
  stop_descendants 100   # 10 s
  hogs=()
  failed=$((failed + 1)); failures+=("interrupted by SIG$1")
  summary
  exit $((128 + $(kill -l "$1")))
}
for sig in TERM HUP INT; do trap "on_signal $sig" "$sig"; done
trap stop_hogs EXIT

# --- running one check ------------------------------------------------------------
# A check runs in a background subshell (so that this shell only waits, and
# answers a signal at once); it writes its result lines to $work/I.out and its
# counts and failure notes to $work/I.res ("PASSED FAILED", then one note a
# line). collect() prints and adds them when the check has finished, so the
# output of checks that run side by side never mixes.
e_pass=0; e_fail=0; e_notes=()
quote_log() { # log: the qemu-run verdict and test.sh's findings, and where the log is
  { grep -a -E '^(qemu-run|inject):' "$1" | tail -n 3; grep -a '^test\.sh:' "$1"; } | sed 's/^/    /'
  echo "    (log: $1)"
}
record() { # title status log
  if [ "$2" = 0 ]; then e_pass=$((e_pass + 1)); echo "[PASS] $1"
  else e_fail=$((e_fail + 1)); e_notes+=("$1"); echo "[FAIL] $1"; quote_log "$3"; fi
}
finding() { # log text: a reason a check failed, at the end of its log (quoted on failure)
  echo "test.sh: $2" >>"$1"
}

cargo_suite() { # name log env/cargo args... ; adds the "test result:" counts
  local name="$1" log="$2"; shift 2
  env "$@" >"$log" 2>&1
  local rc=$?
  grep -E '^test .* FAILED|panicked at' "$log" | head -20 | sed "s/^/  [$name] /"
  local p f
  p=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
  f=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\2/' | awk '{s+=$1} END {print s+0}')
  while read -r t; do e_notes+=("$name: $t"); done < <(grep -E '^test .* FAILED' "$log")
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    f=1; e_notes+=("$name: cargo exited $rc without a failing test (build error? see $log)")
  fi
  e_pass=$((e_pass + p)); e_fail=$((e_fail + f))
  echo "$name: $p passed, $f failed"
}

run_host() { # index log
  case "${names[$1]}" in
    host-crates) cargo_suite host-crates "$2" /usr/bin/cargo test --workspace --exclude kernel --release ;;
    # the loom model of the walker-registry protocol (its own cfg and target dir)
    loom-model) cargo_suite loom-model "$2" RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom /usr/bin/cargo test -p walkproto --release ;;
    # the kernel's structure: no import circles, every import points down
    kernel-layers)
      python3 scripts/check-layers.py >"$2" 2>&1
      local rc=$?
      tail -n 1 "$2"
      record "kernel-layers-no-circles-no-upward-imports" "$rc" "$2" ;;
  esac
}

# The marker that names every process of an interrupt check's run (in its
# environment, inherited by all it starts); PIDs of the run's live processes.
marked() { # VAR=VALUE
  local f p
  for f in $(grep -lzx -- "$1" /proc/[0-9]*/environ 2>/dev/null); do
    p=${f#/proc/}; p=${p%/environ}
    running "$p" && echo "$p"
  done
}
described() { # PIDs -> "PID (name)" list
  local p out=""
  for p in "$@"; do out+=" $p ($(cat "/proc/$p/comm" 2>/dev/null || echo gone))"; done
  echo "${out# }"
}

run_qemu_check() { # index log
  local i=$1 log=$2 name=${names[$1]} kind=${cfg[$1.kind]}
  local out="$logs/$name.out" title=${cfg[$1.title]:-${names[$1]}}
  local -a qargs envs
  sub() { local s=${1//\{log\}/$log}; echo "${s//\{out\}/$out}"; }
  rm -f "$log" "$log.fw-stall"
  rm -rf "$out"; [[ "${cfg[$i.args]:-}${cfg[$i.command]:-}${cfg[$i.expect-data]:-}${cfg[$i.expect-file]:-}" == *'{out}'* ]] && mkdir -p "$out"
  read -ra qargs <<<"$(sub "${cfg[$i.args]:-}")"
  read -ra envs <<<"$(sub "${cfg[$i.env]:-}")"
  qargs=(--log "$log" --machine "${cfg[$i.machine]:-powernv9}" --smp "${cfg[$i.smp]:-4}"
         --timeout "${cfg[$i.timeout]}" "${qargs[@]}")
  [ -n "${cfg[$i.append]:-}" ] && qargs+=(--append "${cfg[$i.append]}")
  local rc re p f summary victim ok line

  case "$kind" in
  suite)
    env "${envs[@]}" ./qemu-run.sh --test "${qargs[@]}" >/dev/null 2>&1
    rc=$?
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    p=$(echo "${summary:-0 passed, 0 failed}" | awk '{print $1}')
    f=$(echo "${summary:-0 passed, 0 failed}" | awk '{print $3}')
    grep -E '^ *not ok [0-9]+ ' "$log" | grep -v -E '^not ok' | sed "s/^ */  [$name] /"
    while read -r line; do e_notes+=("$name: $line"); done < <(grep -E '^ +not ok [0-9]+ ' "$log" | sed 's/^ *//')
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
      f=1; e_notes+=("$name: run failed without a failing test ($(grep -m1 '^FATAL' "$log" || echo "exit $rc"))")
    fi
    # The KTAP document must be valid KTAP v1 and agree with the summary
    # line: its leaf results and its "# Totals:" line against "N passed, N
    # failed" (a skip counts neither way in both).
    if [ -n "$summary" ]; then
      line=$(target/release/ktap-check "$log" 2>&1)
      if [[ $line =~ ^ktap:\ pass:([0-9]+)\ fail:([0-9]+)\ skip:[0-9]+\ suites:[0-9]+\ totals-line:yes$ ]]; then
        if [ "${BASH_REMATCH[1]}" != "$p" ] || [ "${BASH_REMATCH[2]}" != "$f" ]; then
          finding "$log" "$name: KTAP counts ($line) differ from the summary line '$summary'"
          f=$((f + 1)); e_notes+=("$name: KTAP totals differ from '$summary' ($line)")
        fi
      else
        finding "$log" "$name: the KTAP output is not valid or has no Totals line: $line"
        f=$((f + 1)); e_notes+=("$name: KTAP check failed: $line")
      fi
    fi
    e_pass=$((e_pass + p)); e_fail=$((e_fail + f))
    echo "qemu $name: $p passed, $f failed (exit $rc)"
    [ "$f" = 0 ] || quote_log "$log"
    ;;

  run)
    if [ -n "${cfg[$i.command]:-}" ]; then
      # A check that is a command of its own (LAVA, kexec, cargo run, gdb):
      # its output is the log; `timeout` bounds it like a QEMU run.
      read -ra qargs <<<"$(sub "${cfg[$i.command]}")"
      timeout -k 10 "${cfg[$i.timeout]}" env "${envs[@]}" "${qargs[@]}" >"$log" 2>&1
      rc=$?
      [ "$rc" != 124 ] || finding "$log" "$name: timed out after ${cfg[$i.timeout]}s waiting for '${cfg[$i.command]}' to finish"
    else
      env "${envs[@]}" ./qemu-run.sh "${qargs[@]}" >/dev/null 2>&1
      rc=$?
    fi
    ok=0
    if [ "${cfg[$i.exit]:-0}" = 0 ]; then
      [ "$rc" = 0 ] || { ok=1; finding "$log" "$name: qemu-run.sh exited $rc, not 0"; }
    else
      [ "$rc" != 0 ] || { ok=1; finding "$log" "$name: qemu-run.sh exited 0; this run must fail"; }
    fi
    while IFS= read -r re; do
      [ -z "$re" ] || grep -qE -- "$re" "$log" || { ok=1; finding "$log" "$name: no line matches /$re/"; }
    done <<<"${cfg[$i.expect]:-}"
    while IFS= read -r line; do
      [ -n "$line" ] || continue
      re=${line#* }; p=$(grep -cE -- "$re" "$log")
      [ "$p" = "${line%% *}" ] || { ok=1; finding "$log" "$name: $p lines match /$re/, not ${line%% *}"; }
    done <<<"${cfg[$i.expect-count]:-}"
    while IFS= read -r line; do
      [ -n "$line" ] || continue; line=$(sub "$line")
      [ -e "$line" ] || { ok=1; finding "$log" "$name: $line does not exist"; }
    done <<<"${cfg[$i.expect-file]:-}"
    while IFS= read -r line; do
      [ -n "$line" ] || continue; line=$(sub "$line")
      [ -s "$line" ] || { ok=1; finding "$log" "$name: $line is missing or empty"; }
    done <<<"${cfg[$i.expect-data]:-}"
    record "$title (exit $rc)" "$ok" "$log"
    ;;

  fail)
    re=${cfg[$i.expect]%$'\n'}
    env "${envs[@]}" ./qemu-run.sh --expect-fail "${re//VICTIM/[0-9]+}" "${qargs[@]}" >/dev/null 2>&1
    rc=$?
    # VICTIM: the victim of that injection is "a CPU that is not the boot
    # CPU", which skiboot picks differently from run to run; the kernel
    # announces it (`inject: ... target is cpu N`) and the failure must name it.
    if [ "$rc" = 0 ] && [[ "$re" == *VICTIM* ]]; then
      victim=$(sed -n 's/^inject: .* target is cpu \([0-9]*\) .*/\1/p' "$log" | head -n 1)
      if [ -z "$victim" ] || ! grep -qE "${re//VICTIM/$victim}" "$log"; then
        finding "$log" "$name: the failure does not name the victim cpu '${victim:-?}'"; rc=1
      fi
    fi
    record "$title" "$rc" "$log"
    ;;

  interrupt)
    # Start the run with a marker in its environment, wait until the kernel
    # runs, signal qemu-run.sh's PID alone, then require that within `settle`
    # seconds it has exited non-zero, that no process carrying the marker
    # (QEMU, timeout, tee, subshells) remains, and that the log says so.
    # SIGINT gets its default action back (env --default-signal): a
    # background job inherits it ignored, and bash cannot trap an ignored
    # signal.
    local sig=${cfg[$i.signal]} ready=${cfg[$i.ready]} wait_s=${cfg[$i.ready-timeout]:-300}
    local settle=${cfg[$i.settle]:-20} mark="WALKER_TESTBED_CHECK=$name.$$.$BASHPID" pid t0 left qemus
    ok=0
    env --default-signal=HUP,INT,TERM "$mark" "${envs[@]}" ./qemu-run.sh "${qargs[@]}" >/dev/null 2>&1 &
    pid=$!
    t0=$SECONDS
    until grep -qE -- "$ready" "$log" 2>/dev/null; do
      if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"; finding "$log" "$name: qemu-run.sh exited ($?) before a line matched /$ready/"; ok=1; break
      fi
      if [ $((SECONDS - t0)) -ge "$wait_s" ]; then
        finding "$log" "$name: timed out after ${wait_s}s waiting for a line matching /$ready/ in the log"; ok=1; break
      fi
      sleep 0.2
    done
    if [ "$ok" = 0 ]; then
      qemus=""
      for p in $(marked "$mark"); do [[ $(cat "/proc/$p/comm" 2>/dev/null) == qemu-system* ]] && qemus+=" $p"; done
      [ -n "$qemus" ] || { finding "$log" "$name: no QEMU process of this run found while its kernel ran"; ok=1; }
    fi
    if [ "$ok" = 0 ]; then
      kill "-$sig" "$pid"
      t0=$SECONDS
      while kill -0 "$pid" 2>/dev/null && [ $((SECONDS - t0)) -lt "$settle" ]; do sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        finding "$log" "$name: timed out after ${settle}s waiting for qemu-run.sh (pid $pid) to exit after SIG$sig"; ok=1
      else
        wait "$pid"; rc=$?
        [ "$rc" != 0 ] || { finding "$log" "$name: qemu-run.sh exited 0 after SIG$sig"; ok=1; }
      fi
      while left=$(marked "$mark"); [ -n "$left" ] && [ $((SECONDS - t0)) -lt "$settle" ]; do sleep 0.1; done
      if [ -n "$left" ]; then
        finding "$log" "$name: timed out after ${settle}s waiting for the run's processes to end after SIG$sig; left: $(described $left)"; ok=1
      fi
      grep -q "^qemu-run: FAIL: interrupted by SIG$sig" "$log" \
        || { finding "$log" "$name: no 'qemu-run: FAIL: interrupted by SIG$sig' line in the log"; ok=1; }
    fi
    # Whatever happened, leave nothing of this run behind.
    left=$(marked "$mark")
    if [ -n "$left" ]; then
      finding "$log" "$name: killed what the run left behind: $(described $left)"
      kill -KILL $left 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    record "$title" "$ok" "$log"
    ;;
  esac
}

run_check() { # index; in a background subshell
  local i=$1 log="$logs/${names[$1]}.log"
  case "${cfg[$i.kind]}" in
    cargo|loom|layers) run_host "$i" "$log" ;;
    *) run_qemu_check "$i" "$log" ;;
  esac
  { echo "$e_pass $e_fail"; [ ${#e_notes[@]} -eq 0 ] || printf '%s\n' "${e_notes[@]}"; } >"$work/$i.res"
}
declare -A job_of=()
launch() { # index
  run_check "$1" >"$work/$1.out" 2>&1 &
  job_of[$!]=$1
}
collect() { # pid
  local i=${job_of[$1]} p f note
  unset "job_of[$1]"
  cat "$work/$i.out"
  if { read -r p f && [[ "$p $f" =~ ^[0-9]+\ [0-9]+$ ]]; } <"$work/$i.res" 2>/dev/null; then
    passed=$((passed + p)); failed=$((failed + f))
    while IFS= read -r note; do failures+=("$note"); done < <(tail -n +2 "$work/$i.res")
  else
    failed=$((failed + 1)); failures+=("${names[i]}: its runner ended without a result")
    echo "[FAIL] ${names[i]}: its runner ended without a result"
  fi
}

# --- the run -------------------------------------------------------------------
[ "$under_load" = 1 ] && start_hogs
host=(); qemu=()
for i in "${selected[@]}"; do
  case "${cfg[$i.kind]}" in cargo|loom|layers) host+=("$i") ;; *) qemu+=("$i") ;; esac
done

for i in "${host[@]}"; do
  launch "$i"; wait -n -p done_pid "${!job_of[@]}"; collect "$done_pid"
done

if [ ${#qemu[@]} -gt 0 ]; then
  # Build once before the QEMU checks, so that no check spends its time (or
  # an interrupt check its `ready` wait) on the build; qemu-run.sh's own
  # build is then a no-op.
  release=0
  for i in "${qemu[@]}"; do [[ " ${cfg[$i.args]:-} " == *" --bench "* || " ${cfg[$i.args]:-} " == *" --release "* ]] && release=1; done
  { scripts/build-kernel.sh debug && /usr/bin/cargo build --quiet --release -p ktap --bin ktap-check \
      && { [ "$release" = 0 ] || { scripts/build-kernel.sh release \
      && /usr/bin/cargo build --quiet --release -p benchplot; }; }; } >"$logs/build.log" 2>&1 &
  wait $! || echo "test.sh: the kernel build failed (see $logs/build.log); the QEMU checks will fail"
fi
next=0
while [ "$next" -lt ${#qemu[@]} ] || [ ${#job_of[@]} -gt 0 ]; do
  if [ "$next" -lt ${#qemu[@]} ] && [ ${#job_of[@]} -lt "$jobs" ]; then
    launch "${qemu[next]}"; next=$((next + 1))
    continue
  fi
  done_pid=""
  wait -n -p done_pid "${!job_of[@]}"
  [ -n "$done_pid" ] && collect "$done_pid"
done

summary
[ "$failed" = 0 ]
