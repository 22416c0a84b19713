#!/usr/bin/env bash
# The POWER9 model's cost: the same stress (every correct strategy, all walker
# kinds) with mmu.model=on and =off, alternating, REPS times each, in one
# session; prints walks/s and changer operations/s per strategy and the
# on/off ratio (median over the repetitions).
#   scripts/model-cost.sh [REPS] [SECONDS_PER_STRATEGY] [extra qemu-run args...]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-3}"; secs="${2:-5}"; shift 2 2>/dev/null || shift $#
out=$(mktemp -d)
for r in $(seq 1 "$reps"); do
  for m in on off; do
    ./qemu-run.sh --stress --duration "$secs" --log "$out/$m.$r.log" --timeout 900 --append "mmu.model=$m" "$@" >"$out/$m.$r.out" 2>&1 \
      || { echo "model-cost: run $m.$r failed (log $out/$m.$r.log, output $out/$m.$r.out)" >&2; exit 1; }
  done
done
python3 - "$out" "$reps" <<'PY'
import re, sys, statistics, glob
out, reps = sys.argv[1], int(sys.argv[2])
rate = {}
for path in glob.glob(f"{out}/*.log"):
    mode = path.split("/")[-1].split(".")[0]
    for line in open(path, errors="replace"):
        if not line.startswith("stress strategy="):
            continue
        kv = dict(re.findall(r"(\w+)=([\w.-]+)", line))
        secs = float(kv["secs"])
        ops = sum(int(kv[k]) for k in ("splits", "collapses", "zaps", "populates", "churns"))
        rate.setdefault((kv["strategy"], mode), []).append((int(kv["walks"]) / secs, ops / secs))
print(f"POWER9 model cost, {reps} repetitions, median (walks/s and changer ops/s):")
print(f"{'strategy':<11} {'walks/s on':>11} {'off':>9} {'on/off':>7} {'ops/s on':>9} {'off':>7} {'on/off':>7}")
for st in ["ipi", "count", "count-atomic", "count-wait", "percpu", "rcu"]:
    on, off = rate.get((st, "on")), rate.get((st, "off"))
    if not on or not off:
        continue
    w_on, w_off = statistics.median(x[0] for x in on), statistics.median(x[0] for x in off)
    o_on, o_off = statistics.median(x[1] for x in on), statistics.median(x[1] for x in off)
    print(f"{st:<11} {w_on:>11.0f} {w_off:>9.0f} {w_on/w_off:>7.2f} {o_on:>9.1f} {o_off:>7.1f} {o_on/o_off:>7.2f}")
PY
