"""The learned predictor, its metrics and leave-one-repository-out evaluation."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from selector.ranking.predictor import (
    Pair,
    RidgePredictor,
    kendall_tau,
    leave_one_repository_out,
    rel_at_1,
    score,
)


def test_kendall_tau_by_hand() -> None:
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # One discordant pair of six: (5 - 1) / 6.
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # tau-b with a tie in b: C=2, D=0, ties_b=1 -> 2 / sqrt(3 * 2).
    assert kendall_tau([1, 2, 3], [1, 2, 2]) == pytest.approx(2 / 6**0.5)
    assert kendall_tau([1, 1], [1, 2]) == 0.0


def test_rel_at_1() -> None:
    assert rel_at_1([0.1, 0.9, 0.5], [0.2, 0.4, 0.8]) == pytest.approx(0.5)
    assert rel_at_1([3, 2, 1], [0.8, 0.4, 0.2]) == 1.0


def test_score_breaks_ties_by_loss_only() -> None:
    assert score(0.30, 1.0) > score(0.30, 2.0)
    assert score(0.305, 9.0) > score(0.30, 0.0)


def synthetic(repos: int = 4, models: int = 8, seed: int = 0) -> list[Pair]:
    """Fine-tuned score driven by zero-shot loss and LogME, plus a repository offset and
    noise; the other proxies are irrelevant noise."""
    rng = random.Random(seed)
    base = {f"m{i}": (rng.uniform(1, 3), rng.uniform(-2, 0)) for i in range(models)}
    pairs = []
    for r in range(repos):
        offset = rng.uniform(0, 0.5)
        for m, (loss, lm) in base.items():
            zl = loss + rng.gauss(0, 0.05)
            lme = lm + rng.gauss(0, 0.05)
            proxies = {"zero_shot_loss": zl, "logme": lme, "lora_slope": rng.gauss(0, 1),
                       "ms_per_token": rng.uniform(1, 5), "lora_loss": None}
            pairs.append(Pair(f"r{r}", m, proxies,
                              offset - 0.2 * zl + 0.1 * lme + rng.gauss(0, 0.01)))
    return pairs


def test_leave_one_repository_out_recovers_the_signal() -> None:
    result = leave_one_repository_out(synthetic())
    assert result["kendall_tau"] > 0.7
    assert result["rel_at_1"] > 0.9
    assert set(result["per_repository"]) == {"r0", "r1", "r2", "r3"}


def test_noise_targets_give_no_signal() -> None:
    rng = random.Random(5)
    pairs = [Pair(p.repo, p.model, p.proxies, rng.random()) for p in synthetic(seed=1)]
    assert abs(leave_one_repository_out(pairs)["kendall_tau"]) < 0.4


def test_fit_predict_save_load(tmp_path: Path) -> None:
    pairs = synthetic()
    fitted = RidgePredictor(l2=0.1).fit(pairs)
    weights = fitted.weights()
    assert weights["zero_shot_loss"] < 0 < weights["logme"]
    assert abs(weights["lora_slope"]) < abs(weights["zero_shot_loss"])
    fitted.save(tmp_path / "p.json")
    again = RidgePredictor.load(tmp_path / "p.json")
    probe = [{"zero_shot_loss": 1.5, "logme": -1.0}, {"zero_shot_loss": 2.5}]
    assert again.predict(probe) == pytest.approx(fitted.predict(probe))
    assert again.predict(probe)[0] > again.predict(probe)[1]
    with pytest.raises(ValueError):
        RidgePredictor().predict(probe)
    with pytest.raises(ValueError):
        leave_one_repository_out([p for p in pairs if p.repo == "r0"])
