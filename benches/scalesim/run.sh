#!/usr/bin/env bash
# Compares sculpt's systolic fold model (hardware-profiles/tpu-like.yaml, 128x128) with SCALE-Sim
# 3.0.0 on the GEMM and im2col-conv shapes of shapes.csv, for the ws, os and is dataflows.
#
# Usage: benches/scalesim/run.sh            (all three dataflows)
#        DATAFLOWS=ws benches/scalesim/run.sh
# Environment: SCALESIM_VENV (default benches/scalesim/.venv), SCALESIM_OUT (default
# benches/scalesim/out). Exits non-zero if any shape misses the +-10 % target.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${SCALESIM_VENV:-$here/.venv}"
out="${SCALESIM_OUT:-$here/out}"
dataflows="${DATAFLOWS:-ws os is}"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import scalesim' 2>/dev/null; then
    echo "creating $venv with scalesim 3.0.0 and numpy<2" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'scalesim==3.0.0' 'numpy<2'
fi

mkdir -p "$out"
# SCALE-Sim simulates one group of each shape; compare.py multiplies by the group count.
{
    echo "Layer, M, N, K,"
    tail -n +2 "$here/shapes.csv" | while IFS=, read -r name m n k groups _; do
        echo "$name, $m, $n, $k,"
    done
} > "$out/topology.csv"
echo "Layer" > "$out/layout.csv"

for df in $dataflows; do
    sed "s/@DATAFLOW@/$df/" "$here/scalesim.cfg.in" > "$out/$df.cfg"
    rm -rf "${out:?}/$df"
    echo "SCALE-Sim, dataflow $df ..." >&2
    ( cd "$out" && "$venv/bin/python" -m scalesim.scale -c "$out/$df.cfg" -t "$out/topology.csv" \
        -l "$out/layout.csv" -i gemm -p "$out/$df" -s N > "$out/scalesim-$df.log" 2>&1 )
    cargo run --quiet --manifest-path "$root/crates/hw/Cargo.toml" --example cycles -- \
        "$root/hardware-profiles/tpu-like.yaml" "$here/shapes.csv" "$df" > "$out/sculpt-$df.csv"
done

"$venv/bin/python" "$here/compare.py" "$here/shapes.csv" "$out" $dataflows | tee "$out/results.md"
