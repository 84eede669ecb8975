"""Runs one peer optimiser on a sculpt additive problem file and prints the run as JSON.

    python peers.py PROBLEM.json TOOL ENGINE BUDGET SEED

TOOL/ENGINE: pymoo nsga2 | pymoo nsga2-uniform | optuna nsga2 | optuna tpe | optuna tpe-uniform

The "-uniform" variants put the uniform genomes (c, c, ..., c) into the initial population
(pymoo) or enqueue them as the first trials (Optuna), which is what sculpt's NSGA-II does by
default; they exist to compare like with like.

The output has the shape sculpt's `peer_problem run` prints: the non-dominated set of *all*
evaluated points (not only the final population), the number of evaluations, the wall time and
the process CPU time of the optimisation (imports and problem loading excluded).
"""

import json
import sys
import time

import numpy as np


def load(path):
    with open(path) as f:
        problem = json.load(f)
    base = np.array(problem["base"], dtype=float)
    # contributions[g] is an (n_choices_g, n_objectives) array.
    contributions = [np.array(g["contributions"], dtype=float) for g in problem["genes"]]
    if any(b is not None for b in problem.get("upper_bounds", [])):
        raise SystemExit("peers.py handles unconstrained problems only")
    return base, contributions


def evaluate(base, contributions, genome):
    # Summed in gene order from the base, exactly as sculpt does.
    value = base.copy()
    for g, choice in enumerate(genome):
        value += contributions[g][int(choice)]
    return value


def non_dominated(points):
    points = sorted(map(tuple, points))
    kept = []
    for p in points:
        if not any(all(k[j] <= p[j] for j in range(len(p))) for k in kept):
            kept.append(p)
    return [list(p) for p in kept]


def uniform_genomes(contributions):
    max_choices = max(len(c) for c in contributions)
    return [[min(c, len(g) - 1) for g in contributions] for c in range(max_choices)]


def run_pymoo(base, contributions, budget, seed, uniform):
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    n_genes = len(contributions)
    m = len(base)
    table = np.zeros((n_genes, max(len(c) for c in contributions), m))
    for g, c in enumerate(contributions):
        table[g, : len(c)] = c
    seen = []

    class Additive(Problem):
        def __init__(self):
            super().__init__(
                n_var=n_genes,
                n_obj=m,
                xl=np.zeros(n_genes),
                xu=np.array([len(c) - 1 for c in contributions], dtype=float),
                vtype=int,
            )

        def _evaluate(self, x, out, *args, **kwargs):
            x = np.asarray(x).astype(int)
            values = np.repeat(base[None, :], len(x), axis=0)
            for g in range(n_genes):
                values += table[g, x[:, g]]
            seen.extend(values.tolist())
            out["F"] = values

    problem = Additive()
    pop_size = 100
    if uniform:
        rng = np.random.default_rng(seed)
        seeds = np.array(uniform_genomes(contributions), dtype=float)[:pop_size]
        random_rows = np.array(
            [[rng.integers(0, len(c)) for c in contributions] for _ in range(pop_size - len(seeds))],
            dtype=float,
        )
        sampling = np.vstack([seeds, random_rows]) if len(random_rows) else seeds
    else:
        sampling = IntegerRandomSampling()
    # pymoo's documented set-up for integer variables: SBX and polynomial mutation on the
    # real line, rounded back to integers, with duplicate elimination.
    algorithm = NSGA2(
        pop_size=pop_size,
        sampling=sampling,
        crossover=SBX(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
        mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
        eliminate_duplicates=True,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    minimize(problem, algorithm, ("n_evals", budget), seed=seed, verbose=False)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return len(seen), seconds, cpu, non_dominated(seen)


def run_optuna(base, contributions, budget, seed, engine):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if engine.startswith("nsga2"):
        sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=100)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(directions=["minimize"] * len(base), sampler=sampler)
    if engine.endswith("-uniform"):
        for genome in uniform_genomes(contributions):
            study.enqueue_trial({f"g{g}": c for g, c in enumerate(genome)})
    seen = []

    def objective(trial):
        genome = [trial.suggest_int(f"g{g}", 0, len(c) - 1) for g, c in enumerate(contributions)]
        value = evaluate(base, contributions, genome)
        seen.append(value.tolist())
        return tuple(value)

    start, cpu_start = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=budget)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return len(seen), seconds, cpu, non_dominated(seen)


def main():
    path, tool, engine, budget, seed = sys.argv[1:6]
    budget, seed = int(budget), int(seed)
    base, contributions = load(path)
    if tool == "pymoo" and engine in ("nsga2", "nsga2-uniform"):
        evaluations, seconds, cpu, front = run_pymoo(base, contributions, budget, seed, engine.endswith("-uniform"))
    elif tool == "optuna" and engine in ("nsga2", "tpe", "tpe-uniform", "nsga2-uniform"):
        evaluations, seconds, cpu, front = run_optuna(base, contributions, budget, seed, engine)
    else:
        raise SystemExit(f"unknown tool/engine {tool}/{engine}")
    json.dump(
        {
            "tool": tool,
            "engine": engine,
            "budget": budget,
            "seed": seed,
            "evaluations": evaluations,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "front": front,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
