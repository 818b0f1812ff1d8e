"""The selector against brute force, replayed from the ground truth (not in CI).

    TAILOR_HOME=<dir> tailor select --ground-truth REPO1 REPO2 REPO3 REPO4 --train-budget ...
    TAILOR_HOME=<dir> python tests/bench/bench_select.py [--top 1] [--json]

The ground truth holds, per (repository, candidate), the proxies with what measuring them
cost, and a real LoRA fine-tune of the full run with its score and seconds. Brute force is
every candidate fine-tuned; its best score is the reference and its seconds the cost. The
selector is replayed on each repository with a predictor fitted on the *other*
repositories only (leave one repository out): every candidate's proxies are measured, the
`top` best by predicted utility (latency rule included) are fine-tuned (their recorded
runs: seeded, so training again would give the same scores) and the best measured is the
pick. Its cost is the recorded seconds of what it would have done. (The server's search
also runs shorter rungs first; the ground truth records full runs only, so the replay
fine-tunes the top candidates for the full run.)

Printed per repository and on average: Rel@1 (the chosen model's fine-tuned score over
the best), Kendall tau of the ranking against the fine-tuned scores, and the compute ratio
(selector seconds over brute-force seconds), for the selector, the predictor alone, the
zero-shot score in its place, and the naive baselines of Bi et al.: the largest model
(ties picked at random: the expected Rel@1) and the lowest zero-shot loss.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from selector.ranking.groundtruth import pairs, read_records
from selector.ranking.predictor import (
    CHEAP_FEATURES,
    FEATURES,
    RidgePredictor,
    kendall_tau,
    rel_at_1,
)
from selector.ranking.proxies import Proxies
from selector.ranking.rank import (
    FULL_TOP,
    LATENCY_NOISE,
    latency_allowance,
    zero_shot_prediction,
)
from selector.ranking.search import LATENCY_WEIGHT, FineTuneBudget, utility

DEFAULT = "smollm2-135m-instruct"


def _proxies(record: dict[str, Any]) -> Proxies:
    return Proxies(**{k: v for k, v in record["proxies"].items()
                      if k in Proxies.__dataclass_fields__})


def _order_scores(order: Sequence[str]) -> dict[str, float]:
    """Rank positions as scores (first = highest) for Kendall tau."""
    return {m: float(len(order) - i) for i, m in enumerate(order)}


def cheap_seconds(record: dict[str, Any], shares: dict[str, float]) -> float:
    """What the cheap tier (zero-shot loss and latency) cost on this record: recorded per
    proxy when the record has timings, else the share that tier took of the whole for the
    same model in the records that have them."""
    timings = record["proxies"].get("timings") or {}
    if "zero_shot_loss" in timings and "latency" in timings:
        return float(timings["zero_shot_loss"] + timings["latency"])
    share = shares.get(record["model"], shares.get("*", 0.1))
    return float(record["proxies"]["seconds"]) * share


def cheap_shares(records: list[dict[str, Any]]) -> dict[str, float]:
    by_model: dict[str, list[float]] = {}
    for r in records:
        t = r["proxies"].get("timings") or {}
        if "zero_shot_loss" in t and "latency" in t and r["proxies"]["seconds"] > 0:
            by_model.setdefault(r["model"], []).append(
                (t["zero_shot_loss"] + t["latency"]) / r["proxies"]["seconds"])
    shares = {m: sum(v) / len(v) for m, v in by_model.items()}
    if shares:
        shares["*"] = sum(shares.values()) / len(shares)
    return shares


def replay(records: list[dict[str, Any]], repo: str, *, top: int, latency_budget_ms: float,
           use_predictor: bool = True, full_top: int | None = FULL_TOP) -> dict[str, Any]:
    """The selector on one repository, with predictors fitted on the other repositories
    only: the cheap proxies for every candidate, the expensive ones for the `full_top` the
    cheap predictor ranks best (None: for all), the full predictor on those, the `top`
    best by predicted utility fine-tuned (their recorded runs), the best measured picked."""
    here = [r for r in records if r["repo"] == repo]
    others = [r for r in records if r["repo"] != repo]
    shares = cheap_shares(records)
    actual = {r["model"]: float(r["runs"]["1.0"]["score"]) for r in here}
    by_model = {r["model"]: r for r in here}
    models = list(actual)
    latency = {r["model"]: r["proxies"]["latency_ms"] for r in here}
    allowed = latency_allowance(latency_budget_ms, latency.get(DEFAULT))

    def util(model: str, quality: float) -> float:
        return utility(quality, latency[model], allowed, LATENCY_WEIGHT)

    def predict(features: tuple[str, ...], ids: list[str]) -> dict[str, float]:
        if not use_predictor:
            return {m: zero_shot_prediction(_proxies(by_model[m])) for m in ids}
        fitted = RidgePredictor(features=features).fit(pairs(others))
        return dict(zip(ids, fitted.predict([by_model[m]["features"] for m in ids]),
                        strict=True))

    cheap: dict[str, float] = {}
    if full_top == 0:  # the cheap tier only: its predictor ranks every candidate
        finalists = list(models)
        cost = sum(cheap_seconds(r, shares) for r in here)
    elif full_top is None or len(models) <= full_top:
        finalists = list(models)
        cost = sum(r["proxies"]["seconds"] for r in here)
    else:
        cheap = predict(CHEAP_FEATURES, models)
        finalists = [m for m in sorted(models, key=lambda m: cheap[m], reverse=True)
                     if latency[m] <= allowed][:full_top]
        cost = sum(cheap_seconds(r, shares) for r in here) + sum(
            by_model[m]["proxies"]["seconds"] - cheap_seconds(by_model[m], shares)
            for m in finalists)
    predicted = predict(CHEAP_FEATURES if full_top == 0 else FEATURES, finalists)
    fitting = sorted((m for m in finalists if util(m, predicted[m]) > -math.inf),
                     key=lambda m: util(m, predicted[m]), reverse=True)
    budget = FineTuneBudget(max_runs=top)
    measured: dict[str, float] = {}
    for model in fitting[:top]:
        budget.spend(1.0)
        run = by_model[model]["runs"]["1.0"]
        cost += float(run["wall_seconds"])
        measured[model] = float(run["score"])
    # Fine-tuned first, then the finalists by prediction, then the rest by the cheap tier.
    order = sorted(models, key=lambda m: (
        m in measured, m in predicted,
        util(m, measured.get(m, predicted.get(m, cheap.get(m, 0.0))))), reverse=True)
    pick = next((m for m in order if util(m, 0.0) > -math.inf), order[0])
    brute = sum(float(r["runs"]["1.0"]["wall_seconds"]) for r in here)
    positions = _order_scores(order)
    return {"pick": pick, "best": max(actual, key=lambda m: actual[m]),
            "rel_at_1": rel_at_1([1.0 if m == pick else 0.0 for m in models],
                                 [actual[m] for m in models]),
            "kendall_tau": kendall_tau([positions[m] for m in models],
                                       [actual[m] for m in models]),
            "compute_ratio": cost / brute, "seconds": cost, "brute_seconds": brute,
            "finalists": finalists, "fine_tunes": list(measured)}


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
        shares = cheap_shares(records)
        cost = sum(cheap_seconds(r, shares) for r in here)
    brute = sum(float(r["runs"]["1.0"]["wall_seconds"]) for r in here)
    # Ties (the default and its quantised variants have the same size) are picked at
    # random: the expected Rel@1 over the tied candidates, not the luckiest.
    tied = [i for i, v in enumerate(value) if v == max(value)]
    best = max(actual)
    expected = sum(actual[i] for i in tied) / len(tied) / best if best > 0 else 1.0
    return {"pick": "|".join(here[i]["model"] for i in tied), "rel_at_1": expected,
            "kendall_tau": kendall_tau(value, actual), "compute_ratio": cost / brute}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-budget-ms", type=float, default=500.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    records = [r for r in read_records() if "1.0" in r["runs"]
               and not r["runs"]["1.0"].get("error")]
    # Brute force is only brute force on a repository where every candidate was fine-tuned;
    # a partially collected one still trains the predictors of the others.
    models_of = {repo: {r["model"] for r in records if r["repo"] == repo}
                 for repo in {r["repo"] for r in records}}
    everyone = set().union(*models_of.values()) if models_of else set()
    repos = sorted(repo for repo, models in models_of.items() if models == everyone)
    partial = sorted(set(models_of) - set(repos))
    if partial:
        print(f"judged on {', '.join(repos)}; not on {', '.join(partial)} "
              "(not every candidate fine-tuned there yet)")
    if len(repos) < 2:
        print("need ground truth on at least two repositories (tailor select --ground-truth)",
              file=sys.stderr)
        return 1
    lat = args.latency_budget_ms
    methods: dict[str, Any] = {}
    for full_top in (0, 1, 2, 3, None):
        tiers = ("cheap proxies only" if full_top == 0 else "all proxies for all"
                 if full_top is None else f"cheap, then all for top {full_top}")
        for top in (0, 1, 2):
            methods[f"{tiers}; {top} fine-tuned"] = (
                lambda repo, f=full_top, t=top: replay(records, repo, top=t,
                                                       latency_budget_ms=lat, full_top=f))
    methods["zero-shot score (no predictor); 1 fine-tuned"] = (
        lambda repo: replay(records, repo, top=1, latency_budget_ms=lat,
                            use_predictor=False))
    methods["largest model"] = lambda repo: baseline(records, repo, "size")
    methods["lowest zero-shot loss"] = lambda repo: baseline(records, repo, "loss")
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
    print(f"{'method':<46} {'Rel@1':>6} {'tau':>6} {'compute':>8}   picks")
    for name, row in table.items():
        picks = ", ".join(f"{repo}:{r['pick']}" for repo, r in row["per_repository"].items())
        print(f"{name:<46} {row['rel_at_1']:>6.3f} {row['kendall_tau']:>6.3f} "
              f"{row['compute_ratio']:>8.3f}   {picks}")
    best = {repo: max((r for r in records if r["repo"] == repo),
                      key=lambda r: float(r["runs"]["1.0"]["score"]))["model"] for repo in repos}
    print("brute-force best: " + ", ".join(f"{k}:{v}" for k, v in best.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
