#!/usr/bin/env bash
# Speed of sculpt's ONNX exports in onnxruntime on this machine, for benches/README.md
# ("ONNX export speed"): each model and plan is exported and timed through the shipped runner
# (`sculpt measure`), all variants of a model once per round, in ROUNDS rounds, so that drift
# of a shared machine hits every variant alike; the median over rounds of each call's median is
# reported with the speed-up over the model's fp32 export.
# Usage: benches/onnx-speed/run.sh [OUT_DIR]   (ROUNDS=5 THREADS=1 MOBILENET=1 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-target/onnx-speed}"
rounds="${ROUNDS:-5}"
threads="${THREADS:-1}"
sculpt="${SCULPT:-target/debug/sculpt}"
[ -n "${SCULPT:-}" ] || cargo build --quiet
python=.fixtures/venv/bin/python
[ -x "$python" ] || { echo "run scripts/fetch-fixtures.sh first" >&2; exit 1; }
runner="$python scripts/runners/onnxruntime.py --threads $threads"
mkdir -p "$out/plans"

plan() { printf '%b' "$2" > "$out/plans/$1.yaml"; echo "$out/plans/$1.yaml"; }
# name|model|plan file (empty: uncompressed)|extra arguments
variants=(
    "cnn fp32|builtin:demo-cnn|"
    "cnn int8 weights + activations (QDQ)|builtin:demo-cnn|$(plan cnn-w8a8 'defaults:\n  quant: {weight_bits: 8, act_bits: 8}\n')"
    "cnn int8 weights only|builtin:demo-cnn|$(plan cnn-w8 'defaults:\n  quant: {weight_bits: 8}\n')"
    "cnn int4 g32 weights only|builtin:demo-cnn|$(plan cnn-w4 'defaults:\n  quant: {weight_bits: 4, granularity: per_group, group_size: 32}\n')"
    "cnn 50% channels (conv1, conv2, fc1)|builtin:demo-cnn|$(plan cnn-c50 'layers:\n  conv1: {prune: {kind: channel, ratio: 0.5}}\n  conv2: {prune: {kind: channel, ratio: 0.5}}\n  fc1: {prune: {kind: channel, ratio: 0.5}}\n')"
    "cnn fc1 at quarter rank|builtin:demo-cnn|$(plan cnn-lr 'layers:\n  fc1: {rank: {ratio: 0.25}}\n')"
    "cnn 2:4 sparse (dense zeros)|builtin:demo-cnn|$(plan cnn-24 'defaults:\n  prune: {kind: n_m, n: 2, m: 4}\n')"
)
if [ "${MOBILENET:-1}" = 1 ] && [ -f .fixtures/mobilenet_v2/mobilenet_v2.safetensors ]; then
    variants+=(
        "mobilenet_v2 fp32|builtin:mobilenet_v2||"
        "mobilenet_v2 int8 weights + activations (QDQ)|builtin:mobilenet_v2|$(plan mnv2-w8a8 'defaults:\n  quant: {weight_bits: 8, act_bits: 8}\n')|--data .fixtures/onnx/mobilenet_v2.eval.safetensors"
        "mobilenet_v2 int8 weights only|builtin:mobilenet_v2|$(plan mnv2-w8 'defaults:\n  quant: {weight_bits: 8}\n')|"
        "mobilenet_v2 25% channels of every block|builtin:mobilenet_v2|$(plan mnv2-c25 'layers:\n  features.*: {prune: {kind: channel, ratio: 0.25}}\n')|"
    )
fi

echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# onnxruntime $($python -c 'import onnxruntime; print(onnxruntime.__version__)'), $threads thread(s), batch 1, $rounds rounds"
declare -A times
for r in $(seq "$rounds"); do
    for v in "${variants[@]}"; do
        IFS='|' read -r name model planfile extra <<< "$v"
        args=(measure --model "$model" --runner "$runner" --format json --warmup 20 --repeat 200)
        [ -z "$planfile" ] || args+=(--plan "$planfile")
        # shellcheck disable=SC2206
        [ -z "$extra" ] || args+=($extra)
        ms=$("$sculpt" "${args[@]}" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')
        times[$name]="${times[$name]:-} $ms"
    done
done
printf '%-48s %12s %10s\n' variant "median ms" "vs fp32"
for v in "${variants[@]}"; do
    IFS='|' read -r name model planfile extra <<< "$v"
    med=$(echo "${times[$name]}" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
    base="${name%% *} fp32"
    bmed=$(echo "${times[$base]}" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
    printf '%-48s %12.4f %9.2fx\n' "$name" "$med" "$(awk -v b="$bmed" -v m="$med" 'BEGIN {print b / m}')"
done
