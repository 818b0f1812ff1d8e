"""LogME against the direct formula of the Bayesian linear regression evidence."""

from __future__ import annotations

import numpy as np
import pytest

from selector.ranking.logme import log_evidence, logme, maximise_evidence, one_hot


def direct_log_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """log N(y | 0, I/beta + F F^T/alpha) per sample, straight from its definition."""
    n = f.shape[0]
    cov = np.eye(n) / beta + f @ f.T / alpha
    _, logdet = np.linalg.slogdet(cov)
    quad = y @ np.linalg.solve(cov, y)
    return float(-0.5 * (quad + logdet + n * np.log(2 * np.pi)) / n)


@pytest.mark.parametrize(("n", "d"), [(40, 5), (6, 12)])
@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 1.0), (0.3, 7.0), (20.0, 0.05)])
def test_evidence_matches_the_direct_formula(n: int, d: int, alpha: float,
                                             beta: float) -> None:
    rng = np.random.default_rng(n * 100 + d)
    f = rng.normal(size=(n, d))
    y = f @ rng.normal(size=d) + 0.5 * rng.normal(size=n)
    assert log_evidence(f, y, alpha, beta) == pytest.approx(
        direct_log_evidence(f, y, alpha, beta), rel=1e-9, abs=1e-9)


def test_by_hand_one_sample_one_feature() -> None:
    # N = D = 1, F = [[2]], y = [1], alpha = beta = 1: y ~ N(0, 1 + 4) so the evidence is
    # -0.5 * (1/5 + log 5 + log 2 pi).
    expected = -0.5 * (1 / 5 + np.log(5) + np.log(2 * np.pi))
    assert log_evidence(np.array([[2.0]]), np.array([1.0]), 1.0, 1.0) == pytest.approx(expected)


def test_the_fixed_point_maximises_the_evidence() -> None:
    rng = np.random.default_rng(3)
    f = rng.normal(size=(60, 8))
    y = f @ rng.normal(size=8) + 0.3 * rng.normal(size=60)
    best = maximise_evidence(f, y)
    at_best = direct_log_evidence(f, y, best.alpha, best.beta)
    assert best.value == pytest.approx(at_best, rel=1e-9)
    for da in (0.5, 0.9, 1.1, 2.0):
        for db in (0.5, 0.9, 1.1, 2.0):
            assert direct_log_evidence(f, y, best.alpha * da, best.beta * db) < at_best
    # A coarse grid never beats it either.
    for a in np.logspace(-3, 3, 13):
        for b in np.logspace(-3, 3, 13):
            assert direct_log_evidence(f, y, a, b) <= at_best + 1e-12


def test_informative_features_beat_noise() -> None:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, size=90)
    centres = rng.normal(size=(3, 16)) * 2.0
    informative = centres[labels] + rng.normal(size=(90, 16))
    noise = rng.normal(size=(90, 16))
    targets = one_hot(labels)
    assert logme(informative, targets) > logme(noise, targets) + 0.1


def test_regression_target_and_shapes() -> None:
    rng = np.random.default_rng(11)
    f = rng.normal(size=(50, 4))
    y = f[:, 0] * 3.0
    assert logme(f, y) > logme(f, rng.normal(size=50))
    assert one_hot([0, 2, 1]).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    with pytest.raises(ValueError):
        logme(f, y[:10])
