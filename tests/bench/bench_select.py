"""The selector against brute force, replayed from the ground truth (not in CI).

    TAILOR_HOME=<dir> tailor select --ground-truth REPO1 REPO2 REPO3 REPO4 --train-budget ...
    TAILOR_HOME=<dir> python tests/bench/bench_select.py [--budget 3] [--json]

The ground truth holds, per (repository, candidate), the proxies with what measuring them
cost, and real LoRA fine-tunes at each fraction of the full run the search uses, with
their scores and seconds. Brute force is every candidate fine-tuned for the full run; its
best score is the reference. The selector is replayed on each repository with a predictor
fitted on the *other* repositories only (leave one repository out), its budgeted
successive halving reading the recorded scores instead of training again (the runs are
seeded, so a rerun would give the same scores), and its cost is the seconds recorded for
what it would have done: measuring every candidate plus the fine-tunes it chose.

Printed per repository and on average: Rel@1 (the chosen model's fine-tuned score over
the best), Kendall tau of the ranking against the fine-tuned scores, and the compute ratio
(selector seconds over brute-force seconds), for the selector and the naive baselines of
Bi et al.: the largest model, the lowest zero-shot loss; and for the predictor alone
(no fine-tune).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from selector.ranking.groundtruth import pairs, read_records
from selector.ranking.predictor import RidgePredictor, kendall_tau, rel_at_1
from selector.ranking.proxies import Proxies
from selector.ranking.rank import LATENCY_NOISE, latency_allowance, zero_shot_prediction
from selector.ranking.search import Candidate, FineTuneBudget, successive_halving

DEFAULT = "smollm2-135m-instruct"


def _proxies(record: dict[str, Any]) -> Proxies:
    return Proxies(**{k: v for k, v in record["proxies"].items()
                      if k in Proxies.__dataclass_fields__})


def _order_scores(order: Sequence[str]) -> dict[str, float]:
    """Rank positions as scores (first = highest) for Kendall tau."""
    return {m: float(len(order) - i) for i, m in enumerate(order)}


def replay(records: list[dict[str, Any]], repo: str, *, budget: int,
           latency_budget_ms: float, use_predictor: bool = True) -> dict[str, Any]:
    here = [r for r in records if r["repo"] == repo]
    others = [r for r in records if r["repo"] != repo]
    actual = {r["model"]: float(r["runs"]["1.0"]["score"]) for r in here}
    models = list(actual)
    if use_predictor:
        predictor = RidgePredictor().fit(pairs(others))
        predicted = dict(zip(models, predictor.predict(
            [next(r for r in here if r["model"] == m)["features"] for m in models]),
            strict=True))
    else:
        predicted = {r["model"]: zero_shot_prediction(_proxies(r)) for r in here}
    latency = {r["model"]: r["proxies"]["latency_ms"] for r in here}
    allowed = latency_allowance(latency_budget_ms, latency.get(DEFAULT))
    cost = sum(r["proxies"]["seconds"] for r in here)
    spent: list[tuple[str, float]] = []

    def trainer(model: str, fraction: float) -> float:
        nonlocal cost
        run = next(r for r in here if r["model"] == model)["runs"][str(fraction)]
        cost += float(run["wall_seconds"])
        spent.append((model, fraction))
        return float(run["score"])

    result = successive_halving(
        [Candidate(m, predicted[m], latency_ms=latency[m]) for m in models], trainer,
        FineTuneBudget(max_runs=budget), latency_budget_ms=allowed)
    order = [row["model"] for row in result.ranking]
    brute = sum(float(r["runs"]["1.0"]["wall_seconds"]) for r in here)
    positions = _order_scores(order)
    pick = result.pick or order[0]
    return {"pick": pick, "best": max(actual, key=lambda m: actual[m]),
            "rel_at_1": rel_at_1([1.0 if m == pick else 0.0 for m in models],
                                 [actual[m] for m in models]),
            "kendall_tau": kendall_tau([positions[m] for m in models],
                                       [actual[m] for m in models]),
            "compute_ratio": cost / brute, "seconds": cost, "brute_seconds": brute,
            "fine_tunes": spent}


def baseline(records: list[dict[str, Any]], repo: str, key: str) -> dict[str, Any]:
    """Pick by a single number, no fine-tune: `parameters` (largest first) or the
    zero-shot loss (lowest first)."""
    here = [r for r in records if r["repo"] == repo]
    actual = [float(r["runs"]["1.0"]["score"]) for r in here]
    if key == "size":
        value = [float(r["parameters"] or 0) for r in here]
        cost = 0.0
    else:
        value = [-(r["proxies"]["zero_shot_loss"] or math.inf) for r in here]
        cost = sum(r["proxies"]["seconds"] for r in here)  # an upper bound: all proxies
    brute = sum(float(r["runs"]["1.0"]["wall_seconds"]) for r in here)
    pick = here[max(range(len(here)), key=lambda i: value[i])]["model"]
    return {"pick": pick, "rel_at_1": rel_at_1(value, actual),
            "kendall_tau": kendall_tau(value, actual), "compute_ratio": cost / brute}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=3, help="fine-tunes the search may run")
    parser.add_argument("--latency-budget-ms", type=float, default=500.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    records = [r for r in read_records() if "1.0" in r["runs"]
               and not r["runs"]["1.0"].get("error")]
    repos = sorted({r["repo"] for r in records})
    if len(repos) < 2:
        print("need ground truth on at least two repositories (tailor select --ground-truth)",
              file=sys.stderr)
        return 1
    methods = {
        f"selector (predictor + {args.budget} fine-tunes)":
            lambda repo: replay(records, repo, budget=args.budget,
                                latency_budget_ms=args.latency_budget_ms),
        "predictor alone (0 fine-tunes)":
            lambda repo: replay(records, repo, budget=0,
                                latency_budget_ms=args.latency_budget_ms),
        f"zero-shot score + {args.budget} fine-tunes":
            lambda repo: replay(records, repo, budget=args.budget,
                                latency_budget_ms=args.latency_budget_ms,
                                use_predictor=False),
        "largest model": lambda repo: baseline(records, repo, "size"),
        "lowest zero-shot loss": lambda repo: baseline(records, repo, "loss"),
    }
    table: dict[str, dict[str, Any]] = {}
    for name, method in methods.items():
        rows = {repo: method(repo) for repo in repos}
        table[name] = {"per_repository": rows, **{
            k: sum(r[k] for r in rows.values()) / len(rows)
            for k in ("rel_at_1", "kendall_tau", "compute_ratio")}}
    if args.json:
        print(json.dumps(table, indent=1))
        return 0
    models = sorted({r["model"] for r in records})
    print(f"{len(repos)} repositories x {len(models)} candidates; latency noise allowance "
          f"{LATENCY_NOISE}")
    print(f"{'method':<40} {'Rel@1':>6} {'tau':>6} {'compute':>8}   picks")
    for name, row in table.items():
        picks = ", ".join(f"{repo}:{r['pick']}" for repo, r in row["per_repository"].items())
        print(f"{name:<40} {row['rel_at_1']:>6.3f} {row['kendall_tau']:>6.3f} "
              f"{row['compute_ratio']:>8.3f}   {picks}")
    best = {repo: max((r for r in records if r["repo"] == repo),
                      key=lambda r: float(r["runs"]["1.0"]["score"]))["model"] for repo in repos}
    print("brute-force best: " + ", ".join(f"{k}:{v}" for k, v in best.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
