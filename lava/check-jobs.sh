#!/usr/bin/env bash
# lava/check-jobs.sh OUT_DIR — checks every LAVA file of the repository
# without running it:
#   1. lava/validate.py: the job and device YAML files against the schemas
#      of Debian's lava-dispatcher (what a LAVA server checks on submission);
#   2. `lava-run --validate` (the dispatcher builds and validates the whole
#      pipeline: actions, device methods, commands such as ipmitool) for the
#      POWER9 job on the example POWER9 device, and for the QEMU job;
#   3. lava/make-matrix.py writes a small matrix into OUT_DIR, and every job
#      in it passes step 1, and one QEMU and one POWER9 job pass step 2.
# The POWER9 job cannot run here (no POWER9, no BMC); this is as far as it
# can be checked.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
out=${1:?usage: lava/check-jobs.sh OUT_DIR}
mkdir -p "$out"; out=$(cd "$out" && pwd)
bad=0
fail() { echo "lava-check-jobs: FAIL: $*"; bad=1; }
py=/usr/bin/python3   # Debian's python, which has lava_common

"$py" lava/validate.py || fail "schema validation of lava/ failed"

seq=0
dispatch_validate() { # job device label
  local d="$out/validate-$3"
  seq=$((seq + 1))
  rm -rf "$d"; mkdir -p "$d"
  sed -e 's|{KERNEL}|/bin/true|; s|{KERNEL_URL}|http://files.example/walker-testbed|; s|{BOOTARGS}|run=test exit=reboot|' "$1" >"$d/job.yaml"
  (cd "$d" && timeout 120 lava-run --validate --job-id "$$$seq" --output-dir "$d/lava" --device "$here/$2" "$d/job.yaml") >"$d/lava-run.jsonl" 2>&1
  if grep -q '"case": "validate", "definition": "lava", "result": "pass"' "$d/lava-run.jsonl"; then
    echo "lava-check-jobs: lava-run --validate $3: pass"
  else
    fail "lava-run --validate $3: $(grep -o '"error_msg": "[^"]*"' "$d/lava-run.jsonl" | head -n1)"
  fi
}
dispatch_validate lava/jobs/power9-petitboot.yaml lava/devices/power9-bmc.example.yaml power9-petitboot
dispatch_validate lava/jobs/qemu-powernv9.yaml lava/devices/qemu-powernv9.yaml qemu-powernv9

# A file: URL, so that validation never reaches for the network (the
# dispatcher checks that a deploy URL exists).
"$py" lava/make-matrix.py --kernel-url "file://$here/lava/README.md" --out "$out/matrix" \
  --seeds 2 --topologies p9-smp4,p9-2chip,p10-smp4,power9 --strategies ipi,count,none || fail "make-matrix.py failed"
n=$(ls "$out/matrix"/*.yaml 2>/dev/null | wc -l)
[ "$n" = 24 ] || fail "make-matrix.py wrote $n jobs, not 3 strategies x 4 topologies x 2 seeds = 24"
"$py" lava/validate.py "$out/matrix"/*.yaml >"$out/matrix-validate.txt" || fail "generated jobs invalid: $(grep INVALID "$out/matrix-validate.txt" | head -n2)"
echo "lava-check-jobs: $(grep -c '^valid job' "$out/matrix-validate.txt") generated jobs valid"
dispatch_validate "$out/matrix/p9-2chip-count-seed1.yaml" lava/devices/qemu-powernv9.yaml generated-qemu
dispatch_validate "$out/matrix/power9-none-seed2.yaml" lava/devices/power9-bmc.example.yaml generated-power9
[ "$bad" = 0 ] && echo "lava-check-jobs: PASS: every LAVA job and device is valid; the dispatcher accepts the POWER9 and generated jobs"
exit "$bad"
