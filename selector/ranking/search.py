"""Budgeted successive halving: fine-tune only the candidates the predictor likes best.

Fine-tuning every candidate is what the selector exists to avoid, so the search is given
a budget of real fine-tunes (`FineTuneBudget`) that it can never exceed: the budget
object refuses a run past its limit, and the plan is sized before the first run.
Candidates over the latency budget are left out (a model too slow to suggest in time is
useless however good). The rest are ordered by utility (predicted quality, discounted by
latency), the top k get a short LoRA run (a fraction of the full budget), the better half
by measured score go on to a run twice as long, ... and the last one standing gets the
full run. Each rung's runs are real fine-tunes and count against the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# trainer(model id, fraction of the full fine-tuning budget) -> measured score (higher is
# better: next-line exact match, held-out loss as the tie-breaker; see predictor.score).
Trainer = Callable[[str, float], float]

# Utility lost by a candidate that uses the whole latency budget: a tenth of the loss
# tie-breaker's range in `predictor.score`. Quality decides; within the budget (a hard
# limit) latency only breaks ties. A larger weight let a much worse but faster model win
# whenever exact match could not tell models apart (often: most score 0 on a few dozen
# held-out lines).
LATENCY_WEIGHT = 1e-4


class BudgetExceeded(RuntimeError):
    """A fine-tune was asked for after the budget was spent (a planning bug)."""


@dataclass
class FineTuneBudget:
    """Counts real fine-tunes (a short run counts as one, like a full one) and compute."""

    max_runs: int
    runs: int = 0
    compute: float = 0.0  # sum of fractions: 1.0 = one full fine-tune's worth

    def spend(self, fraction: float) -> None:
        if self.runs >= self.max_runs:
            raise BudgetExceeded(f"budget of {self.max_runs} fine-tunes spent")
        self.runs += 1
        self.compute += fraction

    @property
    def left(self) -> int:
        return self.max_runs - self.runs


@dataclass
class Candidate:
    model: str
    predicted: float  # predicted fine-tuned score
    latency_ms: float | None = None  # measured per suggestion (None: not measured)
    measured: dict[float, float] = field(default_factory=dict)  # fraction -> score


@dataclass
class SearchResult:
    pick: str | None
    ranking: list[dict[str, Any]]  # every candidate, best first
    runs: int
    compute: float
    plan: list[tuple[int, float]]  # (candidates, fraction) per rung


def utility(quality: float, latency_ms: float | None, latency_budget_ms: float,
            latency_weight: float) -> float:
    """Quality discounted by the share of the latency budget used; -inf beyond it."""
    if latency_ms is None:
        return quality
    if latency_ms > latency_budget_ms:
        return -math.inf
    return quality - latency_weight * latency_ms / latency_budget_ms


def plan_rungs(candidates: int, max_runs: int, top_k: int) -> list[tuple[int, float]]:
    """The largest halving schedule that fits: k, k/2, ..., 1 runs with fractions doubling
    up to 1.0 at the last rung; total runs <= max_runs."""
    k = min(top_k, candidates)
    while k > 0:
        sizes = [k]
        while sizes[-1] > 1:
            sizes.append(math.ceil(sizes[-1] / 2))
        if sum(sizes) <= max_runs:
            rungs = len(sizes)
            return [(n, 1.0 / 2 ** (rungs - 1 - i)) for i, n in enumerate(sizes)]
        k -= 1
    return []


def successive_halving(candidates: Sequence[Candidate], trainer: Trainer,
                       budget: FineTuneBudget, *, top_k: int = 4,
                       latency_budget_ms: float = 500.0,
                       latency_weight: float = LATENCY_WEIGHT) -> SearchResult:
    """Run the halving schedule within `budget` and rank every candidate.

    Measured candidates rank by their score at the longest run they got (longer runs
    first, since a full run outranks any partial one); the rest by predicted utility.
    """
    def util(c: Candidate, quality: float) -> float:
        return utility(quality, c.latency_ms, latency_budget_ms, latency_weight)

    fitting = [c for c in candidates if util(c, c.predicted) > -math.inf]
    pool = sorted(fitting, key=lambda c: util(c, c.predicted), reverse=True)
    plan = plan_rungs(len(pool), budget.left, top_k)
    alive = pool[: plan[0][0]] if plan else []
    for size, fraction in plan:
        alive = alive[:size]
        for c in alive:
            budget.spend(fraction)
            c.measured[fraction] = trainer(c.model, fraction)
        alive.sort(key=lambda c: util(c, c.measured[fraction]), reverse=True)

    def key(c: Candidate) -> tuple[float, float]:
        if c.measured:
            longest = max(c.measured)
            return (longest, util(c, c.measured[longest]))
        return (0.0, util(c, c.predicted))

    ordered = sorted(candidates, key=key, reverse=True)
    pick = next((c.model for c in ordered if key(c)[1] > -math.inf), None)
    ranking = [{"model": c.model, "predicted_score": c.predicted, "latency_ms": c.latency_ms,
                "measured": {str(f): s for f, s in sorted(c.measured.items())},
                "utility": key(c)[1] if key(c)[1] > -math.inf else None,
                "within_latency_budget": util(c, 0.0) > -math.inf}
               for c in ordered]
    return SearchResult(pick, ranking, budget.runs, budget.compute, plan)
