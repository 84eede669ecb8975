"""Compares SCALE-Sim's compute cycles with sculpt's fold model; prints Markdown tables.

Usage: compare.py SHAPES.csv OUT_DIR DATAFLOW...
Exit status 1 if any shape is off by more than 10 %.
"""
import csv
import sys
from pathlib import Path

TOLERANCE = 0.10


def scalesim_cycles(out: Path, dataflow: str):
    """(compute cycles, stall cycles) per layer: 'Total Cycles' minus 'Stall Cycles'."""
    report = out / dataflow / "tpu_like" / "COMPUTE_REPORT.csv"
    rows = []
    with report.open() as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        total, stall = header.index("Total Cycles"), header.index("Stall Cycles")
        for row in reader:
            if row and row[0].strip():
                rows.append((int(row[total]) - int(row[stall]), int(row[stall])))
    return rows


def main() -> int:
    shapes_path, out, dataflows = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    with shapes_path.open() as f:
        shapes = list(csv.DictReader(f))
    worst = 0.0
    for dataflow in dataflows:
        simulated = scalesim_cycles(out, dataflow)
        with (out / f"sculpt-{dataflow}.csv").open() as f:
            predicted = list(csv.DictReader(f))
        assert len(simulated) == len(shapes) == len(predicted), "row counts differ"
        print(f"\n### Dataflow `{dataflow}`, 128x128 array\n")
        print("| shape | M | N | K | groups | folds/group | SCALE-Sim cycles | sculpt cycles | error | stalls |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        errors = []
        for shape, (per_group, stalls), ours in zip(shapes, simulated, predicted):
            groups = int(shape["groups"])
            reference = per_group * groups
            mine = int(ours["cycles"])
            error = (mine - reference) / reference
            errors.append(abs(error))
            flag = "" if abs(error) <= TOLERANCE else " **MISS**"
            print(
                f"| {shape['name']} | {shape['m']} | {shape['n']} | {shape['k']} | {groups} | "
                f"{ours['folds']} | {reference} | {mine} | {100 * error:+.3f} %{flag} | {stalls} |"
            )
        print(f"\nmax |error| = {100 * max(errors):.3f} % over {len(errors)} shapes; "
              f"mean |error| = {100 * sum(errors) / len(errors):.3f} %")
        worst = max(worst, max(errors))
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
