"""The budgeted search with a fake trainer: never over budget, latency weighed in."""

from __future__ import annotations

import random

import pytest

from selector.ranking.search import (
    BudgetExceeded,
    Candidate,
    FineTuneBudget,
    plan_rungs,
    successive_halving,
    utility,
)


class FakeTrainer:
    """Score = true quality, slightly lower for short runs; records every real run."""

    def __init__(self, quality: dict[str, float]) -> None:
        self.quality = quality
        self.calls: list[tuple[str, float]] = []

    def __call__(self, model: str, fraction: float) -> float:
        self.calls.append((model, fraction))
        return self.quality[model] * (0.8 + 0.2 * fraction)


def test_budget_refuses_runs_past_its_limit() -> None:
    budget = FineTuneBudget(max_runs=2)
    budget.spend(0.5)
    budget.spend(1.0)
    with pytest.raises(BudgetExceeded):
        budget.spend(0.25)
    assert budget.runs == 2 and budget.compute == 1.5


@pytest.mark.parametrize("max_runs", [0, 1, 2, 3, 4, 6, 7, 8, 15, 40])
@pytest.mark.parametrize("top_k", [1, 3, 4, 8])
def test_never_more_fine_tunes_than_the_budget(max_runs: int, top_k: int) -> None:
    rng = random.Random(max_runs * 10 + top_k)
    quality = {f"m{i}": rng.random() for i in range(10)}
    trainer = FakeTrainer(quality)
    candidates = [Candidate(m, q + rng.gauss(0, 0.1)) for m, q in quality.items()]
    budget = FineTuneBudget(max_runs)
    result = successive_halving(candidates, trainer, budget, top_k=top_k)
    assert len(trainer.calls) == result.runs == budget.runs <= max_runs
    assert len(result.ranking) == 10
    if max_runs >= 1:
        assert trainer.calls[-1][1] == 1.0  # the last run is a full one
        assert result.ranking[0]["model"] == trainer.calls[-1][0] == result.pick


def test_plan_halves_and_doubles() -> None:
    assert plan_rungs(10, 7, 4) == [(4, 0.25), (2, 0.5), (1, 1.0)]
    assert plan_rungs(10, 6, 4) == [(3, 0.25), (2, 0.5), (1, 1.0)]
    assert plan_rungs(2, 100, 8) == [(2, 0.5), (1, 1.0)]
    assert plan_rungs(5, 0, 4) == []


def test_measured_scores_overrule_a_wrong_prediction() -> None:
    quality = {"a": 0.9, "b": 0.5, "c": 0.4, "d": 0.3, "e": 0.2}
    predicted = {"a": 0.35, "b": 0.6, "c": 0.5, "d": 0.45, "e": 0.1}  # "a" underrated
    trainer = FakeTrainer(quality)
    result = successive_halving([Candidate(m, p) for m, p in predicted.items()], trainer,
                                FineTuneBudget(7), top_k=4)
    assert result.pick == "a"
    assert "e" not in {m for m, _ in trainer.calls}  # outside the top 4 by prediction


def test_latency_budget_excludes_and_weighs() -> None:
    trainer = FakeTrainer({"fast": 0.50, "slow": 0.55, "too-slow": 0.99})
    candidates = [Candidate("fast", 0.5, latency_ms=50), Candidate("slow", 0.55, 480),
                  Candidate("too-slow", 0.99, 900)]
    result = successive_halving(candidates, trainer, FineTuneBudget(3), top_k=2,
                                latency_budget_ms=500, latency_weight=0.2)
    assert "too-slow" not in {m for m, _ in trainer.calls}
    # slow: 0.55 - 0.2 * 0.96 = 0.358 < fast: 0.50 - 0.2 * 0.1 = 0.48
    assert result.pick == "fast"
    assert result.ranking[-1]["model"] == "too-slow"
    assert result.ranking[-1]["within_latency_budget"] is False
    # Without a latency weight, quality alone decides among those within the budget.
    trainer2 = FakeTrainer({"fast": 0.50, "slow": 0.55, "too-slow": 0.99})
    fresh = [Candidate(c.model, c.predicted, c.latency_ms) for c in candidates]
    assert successive_halving(fresh, trainer2, FineTuneBudget(3), top_k=2,
                              latency_budget_ms=500, latency_weight=0.0).pick == "slow"
    assert utility(1.0, 600, 500, 0.1) == float("-inf")
    assert utility(1.0, None, 500, 0.1) == 1.0
