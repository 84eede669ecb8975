"""Turns results/summary.jsonl and results/exact_*.json into the Markdown table of README.md."""

import json
import sys
from pathlib import Path

LABELS = {
    ("sculpt", "nsga2"): "sculpt NSGA-II (default: uniform-genome seeds, no exact front)",
    ("sculpt", "nsga2:uniform=0"): "sculpt NSGA-II, random initial population",
    ("sculpt", "nsga2-seeded"): "sculpt NSGA-II seeded from the exact DP",
    ("sculpt", "bayes"): "sculpt Bayesian (default: uniform-genome seeds)",
    ("sculpt", "bayes:uniform=0"): "sculpt Bayesian, random initial design",
    ("sculpt", "random"): "sculpt random search",
    ("pymoo", "nsga2"): "pymoo NSGA-II",
    ("pymoo", "nsga2-uniform"): "pymoo NSGA-II + uniform-genome seeds",
    ("optuna", "nsga2"): "Optuna NSGAIISampler",
    ("optuna", "tpe"): "Optuna TPESampler",
    ("optuna", "tpe-uniform"): "Optuna TPESampler + uniform-genome seeds",
}


def main():
    out = Path(sys.argv[1])
    rows = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines() if line]
    budgets = sorted({r["budget"] for r in rows})
    cells = {}
    for r in rows:
        cells[(r["tool"], r["engine"], r["budget"])] = r
    print("Relative hypervolume: mean ± sd over runs (number of runs in brackets).\n")
    print("| tool / engine | " + " | ".join(f"HV @ {b:,}" for b in budgets) + " |")
    print("|" + "---|" * (1 + len(budgets)))
    time_lines = []
    for key, label in LABELS.items():
        if not any((key[0], key[1], b) in cells for b in budgets):
            continue
        hv, time = [], []
        for b in budgets:
            r = cells.get((key[0], key[1], b))
            if r is None:
                hv.append("—")
                time.append("—")
            else:
                hv.append(f"{r['relative_hypervolume_mean']:.3f} ± {r['relative_hypervolume_sd']:.3f} ({r['runs']})")
                time.append(f"{r['seconds_per_evaluation']:.2e}")
        print(f"| {label} | " + " | ".join(hv) + " |")
        time_lines.append(f"| {label} | " + " | ".join(time) + " |")
    print("\nWall time per evaluation in seconds (median over runs; the whole optimiser, evaluation included).\n")
    print("| tool / engine | " + " | ".join(f"@ {b:,}" for b in budgets) + " |")
    print("|" + "---|" * (1 + len(budgets)))
    for line in time_lines:
        print(line)
    exact = [json.loads(p.read_text()) for p in sorted(out.glob("exact_*.json"))]
    if exact:
        seconds = ", ".join(f"{e['seconds']:.3f}" for e in exact)
        print(f"\nExact DP: {exact[0]['n_points']} front points in {seconds} s (three runs).")


if __name__ == "__main__":
    main()
