"""The runtime predictor in torch: an autoencoder over feature vectors and a regressor on its
code, after Liu & Baghdadi 2025.

1. `pretrain`: a denoising autoencoder (Gaussian noise plus whole feature groups masked)
   learns to reconstruct (normalised) feature vectors of unlabelled functions; for the
   unlabelled generated programs the code also has to predict their static step counts,
   known from their structure without running them. The encoder becomes a representation
   of programs that no runtime was needed for.
2. `fit_predictor`: the head on the encoder is fitted to measured log-runtimes, encoder
   and head fine-tuned together from the pre-trained weights at a lower learning rate. The
   paper's frozen-encoder stage is still there (`head_steps`) but off by default: it
   measured worse.

The input is the raw feature vector (counts); `log1p` and the corpus normalisation are
inside the module (buffers), so torch and the exported ONNX graph take the same input. The
output is the natural log of seconds per call; an edit's impact is the exponential of the
difference of two outputs.

Training is sized in optimiser steps, not epochs, so that fits on 25 and on 3,000 labels
take the same time and can be compared in the data-efficiency benchmark.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


def _feature_names() -> tuple[str, ...]:
    from selector.perf.features import FEATURE_NAMES

    return tuple(FEATURE_NAMES)


class PerfNet(nn.Module):
    """features [B, F] -> log seconds [B]; `reconstruct` gives the autoencoder's output."""

    mean: torch.Tensor
    std: torch.Tensor
    y_mean: torch.Tensor
    y_std: torch.Tensor

    def __init__(self, n_features: int, hidden: int = 256, code: int = 64) -> None:
        super().__init__()
        self.code_size = code
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.register_buffer("y_mean", torch.zeros(()))
        self.register_buffer("y_std", torch.ones(()))
        self.encoder = nn.Sequential(nn.Linear(n_features, hidden), nn.GELU(),
                                     nn.Linear(hidden, hidden // 2), nn.GELU(),
                                     nn.Linear(hidden // 2, code))
        self.decoder = nn.Sequential(nn.Linear(code, hidden // 2), nn.GELU(),
                                     nn.Linear(hidden // 2, hidden), nn.GELU(),
                                     nn.Linear(hidden, n_features))
        self.head = nn.Sequential(nn.GELU(), nn.Linear(code, 64), nn.GELU(), nn.Linear(64, 1))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.log1p(torch.clamp(x, min=0.0)) - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.encoder(self.normalise(x))
        return self.head(code).squeeze(-1) * self.y_std + self.y_mean

    def reconstruct(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder(encoder(z)) for already-normalised inputs."""
        return self.decoder(self.encoder(z))

    def set_normalisation(self, corpus: np.ndarray) -> None:
        logs = np.log1p(np.clip(corpus, 0, None)).astype(np.float64)
        self.mean.copy_(torch.from_numpy(logs.mean(0)).float())
        # a floor: rare features (a list scan three loops deep) must not get huge z-scores
        self.std.copy_(torch.from_numpy(np.maximum(logs.std(0), 0.25)).float())


@dataclass
class TrainLog:
    steps: int
    seconds: float
    final_loss: float


def _batches(n: int, batch: int, steps: int, gen: torch.Generator) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    while len(out) < steps:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            out.append(perm[i:i + batch])
            if len(out) >= steps:
                break
    return out


def feature_groups(names: list[str] | tuple[str, ...]) -> list[list[int]]:
    """Indices of the features that describe one thing at every loop depth (`call_d0` ..
    `call_d3` is one group; a feature without a depth suffix is a group of its own)."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(re.sub(r"_d\d$", "", name), []).append(i)
    return list(groups.values())


def pretrain(net: PerfNet, corpus: np.ndarray, *, steps: int = 3000, batch: int = 512,
             lr: float = 1e-3, noise: float = 0.1, mask: float = 0.3,
             seconds: float | None = None, seed: int = 0,
             normalise_on: np.ndarray | None = None,
             pretext: tuple[np.ndarray, np.ndarray] | None = None,
             pretext_weight: float = 1.0,
             progress: Callable[[int, float], None] | None = None) -> TrainLog:
    """Pre-training on unlabelled feature vectors (sets the normalisation).

    The denoising autoencoder: the corruption is Gaussian noise (`noise`, in z-units) and,
    with probability `mask` per group, hiding a whole feature group (every depth of one
    operation kind is set to the corpus mean), so that the code has to infer an
    operation's presence from the rest of the function rather than copy it through.

    `pretext` (features, targets): rows with targets that cost nothing to know, the static
    step counts of generated programs (`programs.static_steps`). Half of every batch comes
    from them (they are reconstructed like the rest); the regression head learns to predict
    their first column (the estimated total steps, standardised) and a linear layer,
    dropped afterwards, the others from the code. Why: the reconstruction alone keeps what
    varies most between functions, not what decides how long they run (the probe in
    tests/bench/bench_perf.py); the step counts make the code carry how loop nests multiply
    work, and the head start as a runtime model that labels only have to calibrate.

    The normalisation comes from `normalise_on`; by default from the rows as the batches
    mix them (the corpus, and as many pretext rows, repeated if need be). Stops after
    `steps` steps or `seconds` seconds, whichever comes first."""
    if not len(corpus):
        raise ValueError("pre-training needs at least one unlabelled function")
    if normalise_on is None:
        normalise_on = corpus
        if pretext is not None and len(pretext[0]):
            repeats = -(-len(corpus) // len(pretext[0]))
            normalise_on = np.concatenate([corpus,
                                           np.tile(pretext[0], (repeats, 1))[:len(corpus)]])
    net.set_normalisation(normalise_on)
    groups = feature_groups([str(i) for i in range(corpus.shape[1])])
    if corpus.shape[1] == len(_feature_names()):
        groups = feature_groups(_feature_names())
    group_matrix = torch.zeros(len(groups), corpus.shape[1])
    for g, members in enumerate(groups):
        group_matrix[g, members] = 1.0
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    with torch.no_grad():
        z_all = net.normalise(torch.from_numpy(corpus.astype(np.float32)))
    params = [*net.encoder.parameters(), *net.decoder.parameters()]
    z_pre = t_pre = None
    side: nn.Module | None = None
    n_pre = 0
    if pretext is not None and len(pretext[0]):
        with torch.no_grad():
            z_pre = net.normalise(torch.from_numpy(pretext[0].astype(np.float32)))
        targets = np.asarray(pretext[1], dtype=np.float32)
        t_pre = torch.from_numpy((targets - targets.mean(0)) / (targets.std(0) + 1e-3))
        n_pre = batch // 2
        if pretext_weight > 0:  # 0: the generated rows are only reconstructed
            side = nn.Sequential(nn.GELU(), nn.Linear(net.code_size, targets.shape[1]))
            params += [*net.head.parameters(), *side.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    net.train()
    started = time.monotonic()
    loss_value = float("nan")
    done = 0
    for done, idx in enumerate(_batches(len(z_all), batch - n_pre, steps, gen), start=1):
        z = z_all[idx]
        pre_rows = None
        if z_pre is not None:
            pre_rows = torch.randint(len(z_pre), (n_pre,), generator=gen)
            z = torch.cat([z_pre[pre_rows], z])
        noisy = z + noise * torch.randn(z.shape, generator=gen) if noise else z
        if mask:
            hidden = (torch.rand(len(z), len(groups), generator=gen) < mask).float()
            noisy = noisy * (1.0 - torch.clamp(hidden @ group_matrix, max=1.0))
        loss = torch.mean((net.reconstruct(noisy) - z) ** 2)
        if side is not None:
            assert pre_rows is not None and t_pre is not None
            code = net.encoder(z[:n_pre])  # clean rows: what fine-tuning will see
            target = t_pre[pre_rows]
            steps_loss = torch.mean((net.head(code).squeeze(-1) - target[:, 0]) ** 2)
            side_loss = torch.mean((side(code) - target) ** 2)
            loss = loss + pretext_weight * (steps_loss + side_loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        loss_value = float(loss.detach())
        if progress and done % 200 == 0:
            progress(done, loss_value)
        if seconds is not None and time.monotonic() - started > seconds:
            break
    net.eval()
    return TrainLog(done, time.monotonic() - started, loss_value)


def reconstruction_error(net: PerfNet, features: np.ndarray) -> float:
    """Mean squared reconstruction error in normalised space (lower = learnt the corpus)."""
    with torch.no_grad():
        z = net.normalise(torch.from_numpy(features.astype(np.float32)))
        return float(torch.mean((net.reconstruct(z) - z) ** 2))


class _Best:
    """The weights with the lowest validation error seen so far (early stopping)."""

    def __init__(self, net: PerfNet, x: torch.Tensor | None, y: torch.Tensor | None) -> None:
        self.net, self.x, self.y = net, x, y
        self.error = float("inf")
        self.state: dict[str, torch.Tensor] | None = None

    def check(self) -> None:
        if self.x is None or self.y is None:
            return
        self.net.eval()
        with torch.no_grad():
            error = float(torch.mean(torch.abs(self.net(self.x) - self.y)))
        self.net.train()
        if error < self.error:
            self.error, self.state = error, copy.deepcopy(self.net.state_dict())

    def restore(self) -> None:
        if self.state is not None:
            self.net.load_state_dict(self.state)


def _fit(net: PerfNet, x: torch.Tensor, y: torch.Tensor, params: list[nn.Parameter],
         steps: int, lr: float, batch: int, gen: torch.Generator,
         weight_decay: float, best: _Best, every: int) -> float:
    if steps <= 0:
        return float("nan")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    loss_value = float("nan")
    for done, idx in enumerate(_batches(len(x), batch, steps, gen), start=1):
        pred = (net(x[idx]) - net.y_mean) / net.y_std
        target = (y[idx] - net.y_mean) / net.y_std
        loss = nn.functional.smooth_l1_loss(pred, target, beta=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        loss_value = float(loss.detach())
        if done % every == 0 or done == steps:
            best.check()
    return loss_value


def fit_predictor(net: PerfNet, features: np.ndarray, log_seconds: np.ndarray, *,
                  pretrained: bool = True, head_steps: int = 0, tune_steps: int = 3000,
                  lr: float = 3e-3, tune_lr: float = 3e-4, batch: int = 128,
                  weight_decay: float = 1e-4, val_fraction: float = 0.2,
                  seed: int = 0) -> TrainLog:
    """Fit the regressor on measured log-runtimes.

    pretrained: the head on the frozen encoder (`head_steps` at `lr`), then encoder and head
    together from the pre-trained weights (`tune_steps` at `tune_lr`). Not pretrained (the
    baseline): everything from the start at `lr` for the same total number of steps. Both
    keep the weights with the lowest error on a validation split (`val_fraction` of the
    labels, when there are at least 20) and train on the rest, so neither gets more labels
    or more tuning than the other.

    The default frozen stage is empty: on the generated benchmark programs, 1,000-1,500
    frozen steps and a 300-step warm-up were both worse than fine-tuning everything from the
    pre-trained weights at once. The fine-tuning rate is a tenth of the from-scratch one:
    the pre-trained head already predicts runtimes up to a scale, and at the full rate a few
    dozen labels overwrite it (tests/bench/bench_perf.py, the data-efficiency part)."""
    started = time.monotonic()
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.from_numpy(features.astype(np.float32))
    y = torch.from_numpy(log_seconds.astype(np.float32))
    fit_rows = np.arange(len(x))
    best = _Best(net, None, None)
    if val_fraction > 0 and len(x) >= 20:
        order = np.random.default_rng(seed + 7).permutation(len(x))
        n_val = max(5, int(len(x) * val_fraction))
        fit_rows = order[n_val:]
        best = _Best(net, x[order[:n_val]], y[order[:n_val]])
    x, y = x[fit_rows], y[fit_rows]
    net.y_mean.fill_(float(y.mean()))
    net.y_std.fill_(float(max(float(y.std()) if len(y) > 1 else 1.0, 1e-3)))
    batch = min(batch, len(x))
    total = head_steps + tune_steps
    every = max(10, total // 30)
    net.train()
    if pretrained:
        for p in net.encoder.parameters():
            p.requires_grad_(False)
        _fit(net, x, y, list(net.head.parameters()), head_steps, lr, batch, gen,
             weight_decay, best, every)
        for p in net.encoder.parameters():
            p.requires_grad_(True)
        loss = _fit(net, x, y, [*net.encoder.parameters(), *net.head.parameters()],
                    tune_steps, tune_lr, batch, gen, weight_decay, best, every)
    else:
        loss = _fit(net, x, y, [*net.encoder.parameters(), *net.head.parameters()],
                    total, lr, batch, gen, weight_decay, best, every)
    best.restore()
    net.eval()
    return TrainLog(total, time.monotonic() - started, loss)


def predict(net: PerfNet, features: np.ndarray) -> np.ndarray:
    """Log seconds for each row (torch; the server uses `export.OnnxPredictor`)."""
    with torch.no_grad():
        return net(torch.from_numpy(np.asarray(features, dtype=np.float32))).numpy()
