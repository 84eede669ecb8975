#!/usr/bin/env bash
# Side-by-side comparison of sculpt's search engines with pymoo and Optuna on one additive
# problem file. See README.md for the protocol and the results.
#
#   benches/peers/run.sh [PROBLEM.json]
#
# Without a problem file, a synthetic MobileNetV2-like problem (50 layers x 20 options, seed 1)
# is generated. Environment knobs (defaults in brackets):
#   SEEDS ["1 2 3 4 5"]         run seeds for every tool
#   BUDGETS ["100 1000 10000"]  evaluation budgets
#   OPTUNA_NSGA2_MAX [10000]    largest budget for Optuna's NSGAIISampler (about 60 s a run)
#   TPE_MAX [1000]              largest budget for Optuna's TPESampler (about 3 min at 1,000)
#   TPE_SEEDS ["1 2"]           seeds for TPE budgets above 100
#   OUT [benches/peers/results] where results go
#   REFERENCE [exact]           exact: scores relative to the exact front (and runs the
#                               exact-seeded NSGA-II); union: relative to the best front of all
#                               runs, for problems whose exact front is out of reach
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CRATE=$(cd "$HERE/../../crates/search" && pwd)
OUT=${OUT:-$HERE/results}
SEEDS=${SEEDS:-"1 2 3 4 5"}
BUDGETS=${BUDGETS:-"100 1000 10000"}
OPTUNA_NSGA2_MAX=${OPTUNA_NSGA2_MAX:-10000}
TPE_MAX=${TPE_MAX:-1000}
TPE_SEEDS=${TPE_SEEDS:-"1 2"}
REFERENCE=${REFERENCE:-exact}
mkdir -p "$OUT/runs"

# The Python side: a venv of its own with the peers' current releases.
if [ ! -x "$HERE/.venv/bin/python" ]; then
    python3 -m venv "$HERE/.venv"
    "$HERE/.venv/bin/pip" install --quiet "pymoo>=0.6,<0.7" "optuna>=5,<6"
fi
PY="$HERE/.venv/bin/python"
"$PY" -c 'import pymoo, optuna, numpy; print("pymoo", pymoo.__version__, "optuna", optuna.__version__, "numpy", numpy.__version__)'

cargo build --quiet --release --example peer_problem --manifest-path "$CRATE/Cargo.toml"
BIN="$(cargo metadata --format-version 1 --no-deps --manifest-path "$CRATE/Cargo.toml" \
    | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/peer_problem"

PROBLEM=${1:-}
if [ -z "$PROBLEM" ]; then
    PROBLEM="$OUT/problem.json"
    "$BIN" generate --seed 1 --layers 50 > "$PROBLEM"
fi

# The exact front (and its time, three times: the first run pays for cold memory).
if [ "$REFERENCE" = exact ]; then
    for i in 1 2 3; do "$BIN" exact "$PROBLEM" > "$OUT/exact_$i.json"; done
fi

run_sculpt() { "$BIN" run "$PROBLEM" "$1" "$2" "$3" > "$OUT/runs/sculpt_${1//[:=,]/_}_$2_$3.json"; }
run_peer() { "$PY" "$HERE/peers.py" "$PROBLEM" "$1" "$2" "$3" "$4" > "$OUT/runs/$1_$2_$3_$4.json"; }

# Seeds outermost and tools interleaved, so that a busy spell on the machine hits every tool.
for seed in $SEEDS; do
    for budget in $BUDGETS; do
        echo "seed $seed, budget $budget" >&2
        run_sculpt nsga2 "$budget" "$seed"
        run_sculpt nsga2:uniform=0 "$budget" "$seed"
        if [ "$REFERENCE" = exact ]; then run_sculpt nsga2-seeded "$budget" "$seed"; fi
        run_sculpt random "$budget" "$seed"
        run_peer pymoo nsga2 "$budget" "$seed"
        run_peer pymoo nsga2-uniform "$budget" "$seed"
        if [ "$budget" -le "$OPTUNA_NSGA2_MAX" ]; then run_peer optuna nsga2 "$budget" "$seed"; fi
        if [ "$budget" -le 100 ]; then
            run_sculpt bayes "$budget" "$seed"
            run_sculpt bayes:uniform=0 "$budget" "$seed"
        fi
        if [ "$budget" -le "$TPE_MAX" ] && { [ "$budget" -le 100 ] || [[ " $TPE_SEEDS " == *" $seed "* ]]; }; then
            run_peer optuna tpe "$budget" "$seed"
            run_peer optuna tpe-uniform "$budget" "$seed"
        fi
    done
done

if [ "$REFERENCE" = exact ]; then
    "$BIN" score "$PROBLEM" "$OUT"/runs/*.json > "$OUT/summary.jsonl"
else
    "$BIN" score-union "$PROBLEM" "$OUT"/runs/*.json > "$OUT/summary.jsonl"
fi
"$PY" "$HERE/table.py" "$OUT" | tee "$OUT/table.md"
