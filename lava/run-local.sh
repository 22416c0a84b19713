#!/usr/bin/env bash
# lava/run-local.sh [--kernel ELF] [--out DIR] [--expect-fail-case NAME] [-- BOOTARGS...]
#
# Runs lava/jobs/qemu-powernv9.yaml with LAVA's real dispatcher, on this
# machine, without a server:
#   lava-run --job-id N --output-dir DIR/lava --device lava/devices/qemu-powernv9.yaml DIR/job.yaml
# (Debian's lava-dispatcher; lava-run must run as root.) Then checks what a lab
# would see:
#   - the job result is "pass" and the KTAP monitor ended on its end pattern
#     (a RESULT line), not on a timeout or a closed connection;
#   - LAVA recorded exactly one test case per KTAP result line of the
#     console (tests and suites), and the console's KTAP is valid (ktap-check);
#   - every case passed, or with --expect-fail-case NAME, exactly that case
#     (and its suite) failed: a failed run still ends the monitor cleanly.
# The words after -- are the kernel's boot arguments; the default runs a
# small part of the suite (about 10 s).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
kernel=""; bootargs="run=test ktest.filter=percpu,image,ipi_all,mmu_rc exit=qemu"; out=""; fail_case=""
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --) shift; [ $# -eq 0 ] || bootargs="$*"; break ;;
    --out) out=$2; shift 2 ;;
    --expect-fail-case) fail_case=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run-local: unknown option '$1'" >&2; exit 2 ;;
  esac
done
fail() { echo "lava-run-local: FAIL: $*"; exit 1; }
command -v lava-run >/dev/null || fail "lava-run is not installed (scripts/setup.sh installs lava-dispatcher)"
[ "$(id -u)" = 0 ] || fail "lava-run must run as root"
if [ -z "$kernel" ]; then
  scripts/build-kernel.sh debug || fail "kernel build failed"
  kernel=$here/target/powerpc64le-none/debug/kernel
fi
kernel=$(cd "$(dirname "$kernel")" && pwd)/$(basename "$kernel")
[ -n "$out" ] || out=$(mktemp -d)
mkdir -p "$out"; out=$(cd "$out" && pwd)
rm -rf "$out/lava"
export RUSTC=/usr/bin/rustc
[ -x target/release/ktap-check ] || /usr/bin/cargo build --quiet --release -p ktap --bin ktap-check || fail "cannot build ktap-check"

sed -e "s|{KERNEL}|$kernel|; s|{BOOTARGS}|$bootargs|" lava/jobs/qemu-powernv9.yaml >"$out/job.yaml"
echo "lava-run-local: lava-run --job-id $$ --output-dir $out/lava --device lava/devices/qemu-powernv9.yaml $out/job.yaml"
echo "lava-run-local: kernel $kernel, bootargs \"$bootargs\""
(cd "$out" && lava-run --job-id "$$" --output-dir "$out/lava" --device "$here/lava/devices/qemu-powernv9.yaml" "$out/job.yaml") >"$out/lava-run.jsonl" 2>&1
rc=$?
echo "lava-run-local: lava-run exited $rc; its log: $out/lava-run.jsonl"

# The dispatcher's log is one JSON object a line: the console ("target"
# lines, and "feedback" lines: console output the dispatcher read after the
# monitor's end pattern matched, e.g. while it stopped QEMU) and the results
# ("results" lines).
python3 - "$out" "$fail_case" <<'PY' || exit 1
import json, re, subprocess, sys
out, fail_case = sys.argv[1], sys.argv[2]
console, results, errors = [], [], []
for line in open(f"{out}/lava-run.jsonl", errors="replace"):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if d.get("lvl") in ("target", "feedback"):
        console.append(d["msg"] if isinstance(d["msg"], str) else json.dumps(d["msg"]))
    elif d.get("lvl") == "results":
        results.append(d["msg"])
    elif d.get("lvl") == "error":
        errors.append(str(d["msg"]))
open(f"{out}/console.log", "w").write("\n".join(console) + "\n")
bad = []
job = [r for r in results if r.get("definition") == "lava" and r.get("case") == "job"]
if not job or job[-1].get("result") != "pass":
    bad.append(f"the job result is {job[-1].get('result') if job else 'missing'}"
               + (f" ({job[-1].get('error_msg')})" if job and job[-1].get('error_msg') else ""))
mon = [r for r in results if r.get("case") == "lava-test-monitor"]
status = mon[-1].get("extra", {}).get("status") if mon else None
if status != "passed":
    bad.append(f"the KTAP monitor did not end on its end pattern (status {status}); errors: {errors[-3:]}")
if not any(re.match(r"^RESULT: (ok|fail)", l) for l in console):
    bad.append("the console has no RESULT line")
ktap_lines = [l for l in console if re.match(r"^ *(not ok|ok) \d+ \S", l)]
chk = subprocess.run(["target/release/ktap-check", f"{out}/console.log"], capture_output=True, text=True)
print(f"lava-run-local: console KTAP: {chk.stdout.strip()}")
if chk.returncode != 0 and not fail_case:
    bad.append(f"the console's KTAP is not valid: {chk.stdout.strip()}")
cases = [r for r in results if r.get("definition") == "ktap"]
print(f"lava-run-local: LAVA test cases: {len(cases)} "
      f"(pass {sum(r['result'] == 'pass' for r in cases)}, fail {sum(r['result'] == 'fail' for r in cases)}); "
      f"KTAP result lines on the console: {len(ktap_lines)}")
if len(cases) != len(ktap_lines) or not cases:
    bad.append(f"{len(cases)} LAVA test cases for {len(ktap_lines)} KTAP result lines")
failed = sorted(r["case"] for r in cases if r["result"] != "pass")
if fail_case:
    want = re.sub(r"\W+", "_", fail_case.strip().lower())
    if want not in failed:
        bad.append(f"the case {want} did not fail (failed: {failed})")
    if not any(l.startswith("RESULT: fail") for l in console):
        bad.append("no 'RESULT: fail' line: the failure run did not end as one")
elif failed:
    bad.append(f"failed cases: {failed}")
for b in bad:
    print(f"lava-run-local: FAIL: {b}")
if not bad:
    print(f"lava-run-local: PASS: job pass, monitor ended on its end pattern, {len(cases)} test cases"
          + (f", {fail_case} failed as expected" if fail_case else ", all pass"))
sys.exit(1 if bad else 0)
PY
