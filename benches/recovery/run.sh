#!/usr/bin/env bash
# Recovery figures for benches/README.md ("Recovery"): the bundled CNN, plans that lose accuracy
# without recovery, each recovered by finetune, distill and qat at equal epochs, plus a
# progressive run. Needs the Fashion-MNIST package (dataset-fashion-mnist) for the training split
# and the full test split (held-out). Usage: benches/recovery/run.sh [OUT_DIR] [EPOCHS]
# (ONLY=ch50 runs only finetune and distill on the channel plan).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-target/recovery}"
epochs="${2:-1}"
mkdir -p "$out"
# The dev profile (opt-level 1, dependencies at 3) is what the tests use; set SCULPT to a release
# binary to time that instead.
sculpt="${SCULPT:-target/debug/sculpt}"
[ -n "${SCULPT:-}" ] || cargo build --quiet

cat >"$out/ch50.yaml" <<'YAML'
# Half of the output channels of both convolutions removed (and their BatchNorm entries and
# the matching inputs of their consumers).
layers:
  "conv*": {prune: {kind: channel, ratio: 0.5}}
YAML
cat >"$out/int4.yaml" <<'YAML'
# Every Conv/Linear weight at 4 bits, one scale per tensor.
defaults:
  quant: {weight_bits: 4, granularity: per_tensor}
YAML

run() { # name plan method
    local name="$1" plan="$2" method="$3"
    shift 3
    echo "== $name" >&2
    local extra=()
    [ "$method" = none ] || extra=(--recover "$method" --epochs "$epochs" "$@")
    /usr/bin/time -f "%e s wall, %M KB max RSS" "$sculpt" apply --plan "$out/$plan.yaml" \
        --out "$out/$name.safetensors" "${extra[@]}" --format json >"$out/$name.json" \
        2>"$out/$name.log" || { cat "$out/$name.log" >&2; exit 1; }
    tail -n 3 "$out/$name.log" >&2
    "$sculpt" evaluate --model "$out/$name.safetensors" --data fashion-mnist:test --format json \
        >"$out/$name.eval.json"
    printf '%s\t%s\n' "$name" "$(grep -o '"value": *[0-9.]*' "$out/$name.eval.json" | head -n1)"
}

if [ "${ONLY:-}" = ch50 ]; then
    {
        run ch50-finetune ch50 finetune
        run ch50-distill ch50 distill
    } | tee "$out/summary.tsv"
    exit 0
fi

{
    run ch50-none ch50 none
    run ch50-finetune ch50 finetune
    run ch50-distill ch50 distill
    run ch50-progressive3 ch50 distill --progressive 3
    run int4-none int4 none
    run int4-finetune int4 finetune
    run int4-distill int4 distill
    run int4-qat int4 qat
} | tee "$out/summary.tsv"
