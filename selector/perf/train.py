"""Rebuild the predictor end to end (what `tailor perf --train` runs).

corpus of unlabelled functions + unlabelled generated programs with their static step
counts (half of every batch) -> pre-train the masked denoising autoencoder and the step-count
pretext -> generate and time labelled programs -> fine-tune encoder and regressor from the
pre-trained weights at a lower learning rate (early stopping on a validation split) ->
export ONNX + json.

The budget is small on purpose (minutes on a laptop's CPU): pre-training stops after
`pretrain_seconds`, labels are a few thousand short programs. Everything slow is cached in
`cache_dir` (the corpus matrix, the runtimes), so a second run with the same seed only
re-trains. A tenth of the labelled programs (whole before/after pairs) is held out and the
summary reports the error and the direction accuracy on it.
"""

from __future__ import annotations

import copy
import math
import pickle
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from selector.perf.corpus import build_corpus
from selector.perf.export import export
from selector.perf.features import FEATURE_NAMES
from selector.perf.labels import (
    LabelledSet,
    build_labelled_set,
    generate_programs,
    program_features,
)
from selector.perf.model import PerfNet, fit_predictor, predict, pretrain, reconstruction_error
from selector.perf.programs import static_steps

PRETRAINED_NAME = "perf-pretrained-v4.pt"  # v4: + the static step-count pretext


@dataclass
class TrainConfig:
    labels: int = 4000
    seed: int = 0
    pretrain_seconds: float = 600.0
    pretrain_steps: int = 16000
    corpus_max_files: int | None = None
    corpus_roots: list[Path] | None = None  # default: the stdlib and site-packages
    corpus_max_rows: int = 200_000
    # unlabelled generated programs in pre-training (never timed): as in the paper, the
    # generator's own programs are free to pre-train on; only their runtimes cost anything.
    # Half of every pre-training batch is theirs, with their static step counts as the
    # pretext targets (`programs.static_steps`)
    generated_unlabelled: int = 60_000
    # 1 and 10 measured within noise of 3 (bench_perf.py's data-efficiency part)
    pretext_weight: float = 3.0
    pretrain_mask: float = 0.3
    hidden: int = 256
    code: int = 64
    # the frozen-encoder stage: 0 measured best (a warm-up of 300 and the earlier 1500 at a
    # lower fine-tuning rate were both worse at every size in tests/bench/bench_perf.py)
    head_steps: int = 0
    tune_steps: int = 3000
    # fine-tuning from the pre-trained weights at a tenth of the from-scratch rate (3e-3):
    # at the full rate a few dozen labels undo what the step-count pretext taught
    tune_lr: float = 3e-4


def split_pairs(data: LabelledSet, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/held-out indices; a program and its edit always fall on the same side."""
    root = [i if p < 0 else p for i, p in enumerate(data.pair_of)]
    groups = sorted(set(root))
    rng = random.Random(seed)
    held = set(rng.sample(groups, max(1, int(len(groups) * holdout))))
    test = np.array([i for i, r in enumerate(root) if r in held], dtype=np.int64)
    train = np.array([i for i, r in enumerate(root) if r not in held], dtype=np.int64)
    return train, test


def pair_direction_accuracy(pred: np.ndarray, data: LabelledSet, index: np.ndarray,
                            min_ratio: float = 2.0) -> tuple[float, int]:
    """Share of (program, edit) pairs in `index` whose measured runtimes differ by at least
    `min_ratio` and whose predicted direction is right; and how many such pairs."""
    pos = {int(i): k for k, i in enumerate(index)}
    right = total = 0
    for i in index:
        j = data.pair_of[int(i)]
        if j < 0 or j not in pos:
            continue
        measured = float(data.log_seconds[int(i)] - data.log_seconds[j])
        if abs(measured) < math.log(min_ratio):
            continue
        predicted = float(pred[pos[int(i)]] - pred[pos[j]])
        total += 1
        right += int(predicted * measured > 0)
    return (right / total if total else float("nan")), total


def pretrained_net(cache_dir: Path, config: TrainConfig,
                   log: Callable[[str], None] = print) -> PerfNet:
    """The pre-trained autoencoder, from the cache or trained now (and cached)."""
    torch.set_num_threads(1)
    name = PRETRAINED_NAME if config.pretext_weight else PRETRAINED_NAME.replace(".pt", "-ae.pt")
    path = Path(cache_dir) / name
    torch.manual_seed(config.seed)
    net = PerfNet(len(FEATURE_NAMES), hidden=config.hidden, code=config.code)
    if path.exists():
        try:
            net.load_state_dict(torch.load(path, weights_only=True))
            log(f"pre-trained autoencoder from {path}")
            return net
        except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
            log(f"ignoring a bad cached autoencoder ({exc}); pre-training again")
    corpus = build_corpus(cache_dir, roots=config.corpus_roots, max_files=config.corpus_max_files,
                          progress=lambda i, n: log(f"corpus: {i}/{n} files"))
    log(f"corpus: {len(corpus)} functions")
    if len(corpus) > config.corpus_max_rows:
        rows = np.random.default_rng(config.seed).choice(len(corpus), config.corpus_max_rows,
                                                         replace=False)
        corpus = corpus[np.sort(rows)]
    pretext = None
    if config.generated_unlabelled:
        programs, _ = generate_programs(config.generated_unlabelled, config.seed + 10_000)
        generated = np.stack([program_features(p.source()) for p in programs])
        steps = np.array([static_steps(p) for p in programs], dtype=np.float32)
        log(f"unlabelled generated programs: {len(generated)}")
        pretext = (generated, steps)
    result = pretrain(net, corpus, steps=config.pretrain_steps, mask=config.pretrain_mask,
                      seconds=config.pretrain_seconds, seed=config.seed, pretext=pretext,
                      pretext_weight=config.pretext_weight,
                      progress=lambda s, loss: log(f"pretrain step {s}: loss {loss:.4f}"))
    log(f"pre-trained {result.steps} steps in {result.seconds:.0f}s, "
        f"reconstruction error {reconstruction_error(net, corpus[:20000]):.4f}")
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(net.state_dict(), tmp)
    tmp.replace(path)
    return net


def train_model(out_dir: Path, cache_dir: Path, config: TrainConfig | None = None,
                log: Callable[[str], None] = print) -> dict[str, object]:
    """Build and export the predictor; returns a summary (also stored in perf.json)."""
    config = config or TrainConfig()
    torch.set_num_threads(1)
    net = pretrained_net(cache_dir, config, log)
    data = build_labelled_set(config.labels, config.seed, cache_dir,
                              progress=lambda i, n: log(f"timed {i}/{n} programs"))
    log(f"labelled programs: {len(data.programs)}")
    train, test = split_pairs(data, 0.1, config.seed)
    model = copy.deepcopy(net)
    fit_predictor(model, data.features[train], data.log_seconds[train], pretrained=True,
                  head_steps=config.head_steps, tune_steps=config.tune_steps,
                  tune_lr=config.tune_lr, seed=config.seed)
    pred = predict(model, data.features[test])
    mae = float(np.mean(np.abs(pred - data.log_seconds[test])))
    acc, pairs = pair_direction_accuracy(pred, data, test)
    summary: dict[str, object] = {
        "config": {k: (str(v) if isinstance(v, list) else v)
                   for k, v in asdict(config).items()},
        "labelled": len(data.programs), "train": len(train),
        "heldout": len(test), "heldout_mae_log": round(mae, 4),
        "heldout_median_ratio_error": round(float(np.exp(np.median(np.abs(
            pred - data.log_seconds[test])))), 4),
        "heldout_direction_accuracy_2x": round(acc, 4), "heldout_pairs_2x": pairs,
    }
    log(f"held-out: {summary}")
    # the shipped model is fitted on every label
    final = copy.deepcopy(net)
    fit_predictor(final, data.features, data.log_seconds, pretrained=True,
                  head_steps=config.head_steps, tune_steps=config.tune_steps,
                  tune_lr=config.tune_lr, seed=config.seed)
    export(final, Path(out_dir), info=summary)
    log(f"exported to {out_dir}")
    return summary


if __name__ == "__main__":  # python -m selector.perf.train OUT_DIR CACHE_DIR [LABELS]
    import sys

    cfg = TrainConfig(labels=int(sys.argv[3])) if len(sys.argv) > 3 else TrainConfig()
    train_model(Path(sys.argv[1]), Path(sys.argv[2]), cfg)
