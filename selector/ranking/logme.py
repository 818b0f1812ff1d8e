"""LogME (You et al. 2021): how well frozen features explain targets, without training.

Each target column gets a Bayesian linear regression y = F w + noise with a Gaussian prior
w ~ N(0, 1/alpha) and noise N(0, 1/beta). The evidence p(y | F, alpha, beta) has a closed
form, and alpha, beta are set to maximise it by MacKay's fixed-point iteration, which only
needs one SVD of F. The score is the maximised log evidence per sample, averaged over the
target columns: higher means the features carry the targets linearly and cheaply, the
property that predicts how well a model transfers after fine-tuning.

This module computes the evidence exactly at the final alpha, beta (the reference code
mixes the last two iterates), so `log_evidence` is also the direct formula tests check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Evidence:
    value: float  # log evidence per sample
    alpha: float
    beta: float
    iterations: int


def _evidence(y: Array, s: Array, uty: Array, dim: int, alpha: float,
              beta: float) -> tuple[float, float, float]:
    """Log evidence (total, not per sample) at (alpha, beta), with |m|^2 and |y - F m|^2.

    `s` are the squared singular values of F (length k = min(N, D)), `uty` = U^T y; the
    posterior mean m = beta (alpha I + beta F^T F)^{-1} F^T y lives in the span of V.
    """
    n = y.shape[0]
    coef = beta * np.sqrt(s) / (alpha + beta * s)  # m in V coordinates: coef * uty
    m2 = float(np.sum((coef * uty) ** 2))
    fitted = s * beta / (alpha + beta * s) * uty  # U^T F m
    # |y - F m|^2 = |U^T y - U^T F m|^2 + the part of y outside the span of U.
    outside = max(float(y @ y - uty @ uty), 0.0)
    res2 = float(np.sum((uty - fitted) ** 2)) + outside
    logdet = float(np.sum(np.log(alpha + beta * s))) + (dim - len(s)) * np.log(alpha)
    total = (dim / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * logdet
             - beta / 2 * res2 - alpha / 2 * m2 - n / 2 * np.log(2 * np.pi))
    return float(total), m2, res2


def log_evidence(features: Array, y: Array, alpha: float, beta: float) -> float:
    """Log evidence per sample of one target column at fixed (alpha, beta)."""
    f = np.asarray(features, dtype=np.float64)
    u, sv, _ = np.linalg.svd(f, full_matrices=False)
    yy = np.asarray(y, dtype=np.float64)
    total, _, _ = _evidence(yy, sv**2, u.T @ yy, f.shape[1], alpha, beta)
    return total / f.shape[0]


def maximise_evidence(features: Array, y: Array, *, max_iter: int = 200,
                      tol: float = 1e-8) -> Evidence:
    """MacKay's fixed point: gamma = sum s/(s + alpha/beta), alpha = gamma/|m|^2,
    beta = (N - gamma)/|y - F m|^2, until alpha/beta settles."""
    f = np.asarray(features, dtype=np.float64)
    yy = np.asarray(y, dtype=np.float64)
    n, dim = f.shape
    u, sv, _ = np.linalg.svd(f, full_matrices=False)
    s, uty = sv**2, u.T @ yy
    alpha, beta = 1.0, 1.0
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - reported after the loop
        _, m2, res2 = _evidence(yy, s, uty, dim, alpha, beta)
        gamma = float(np.sum(beta * s / (alpha + beta * s)))
        new_alpha = gamma / max(m2, 1e-12)
        new_beta = (n - gamma) / max(res2, 1e-12)
        new_alpha = max(new_alpha, 1e-12)
        new_beta = max(new_beta, 1e-12)
        done = abs(new_alpha / new_beta - alpha / beta) <= tol * (alpha / beta)
        alpha, beta = new_alpha, new_beta
        if done:
            break
    total, _, _ = _evidence(yy, s, uty, dim, alpha, beta)
    return Evidence(total / n, alpha, beta, iterations)


def one_hot(labels: list[int] | NDArray[np.int64]) -> Array:
    """Classes 0..C-1 as columns (LogME scores a classification target column by column)."""
    idx = np.asarray(labels, dtype=np.int64)
    out = np.zeros((len(idx), int(idx.max()) + 1 if len(idx) else 0))
    out[np.arange(len(idx)), idx] = 1.0
    return out


def logme(features: Array, targets: Array) -> float:
    """Mean over target columns of the maximised log evidence per sample.

    `targets` is (N,) for one regression target, or (N, K): one-hot classes or K
    regression targets. Features are used as given (callers may centre or scale them).
    """
    f = np.asarray(features, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    if t.ndim == 1:
        t = t[:, None]
    if f.ndim != 2 or t.shape[0] != f.shape[0] or f.shape[0] < 2:
        raise ValueError(f"need features (N, D) and targets (N, K) with N >= 2, got "
                         f"{f.shape} and {t.shape}")
    return float(np.mean([maximise_evidence(f, t[:, k]).value for k in range(t.shape[1])]))
