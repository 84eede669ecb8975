#!/usr/bin/env bash
# cpu-host calibration figures for benches/README.md ("cpu-host calibration"):
#  1. `sculpt calibrate` RUNS times at each batch in BATCHES: the end-to-end validation line (30
#     held-out random plans per demo model, timed interleaved with the 40 table plans).
#  2. Across processes: the profile fitted by the first batch-1 run against
#     `sculpt estimate --measure` of the uncompressed demo CNN and MLP in PROCS fresh processes.
# Usage: benches/calibration/run.sh [OUT_DIR]   (RUNS=3 BATCHES="1 8 32" PROCS=10 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-target/calibration}"
runs="${RUNS:-3}"
batches="${BATCHES:-1 8 32}"
procs="${PROCS:-10}"
mkdir -p "$out"
# The dev profile (opt-level 1, dependencies at 3) is what the tests use; set SCULPT to a release
# binary to time that instead.
sculpt="${SCULPT:-target/debug/sculpt}"
[ -n "${SCULPT:-}" ] || cargo build --quiet

echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-unset}"
for b in $batches; do
    for r in $(seq "$runs"); do
        line=$("$sculpt" calibrate --batch "$b" --out "$out/b$b-r$r.yaml" | grep '^end-to-end')
        echo "batch $b run $r: ${line#*: }"
    done
done

first="$out/b$(echo "$batches" | cut -d' ' -f1)-r1.yaml"
for m in demo-cnn demo-mlp; do
    within=0
    values=()
    for p in $(seq "$procs"); do
        l=$("$sculpt" estimate --model "builtin:$m" --hardware "$first" --measure | grep 'measured on this CPU')
        values+=("$(echo "$l" | sed -E 's/.*CPU: ([0-9.]+) ms \(predicted ([0-9.]+) ms, ([-+0-9.]+)%\)/\1/')")
        pred=$(echo "$l" | sed -E 's/.*predicted ([0-9.]+) ms.*/\1/')
        err=$(echo "$l" | sed -E 's/.*, ([-+0-9.]+)%\)/\1/')
        if awk -v e="$err" 'BEGIN { exit !(e <= 10 && e >= -10) }'; then within=$((within + 1)); fi
    done
    echo "$m across $procs processes: predicted $pred ms, measured ${values[*]} ms; $within/$procs within ±10 %"
done
