"""Rank candidate base models for one repository: proxies, prediction, a budgeted search.

This is the orchestrator the CLI (`tailor select`) and the server's background job call.
It reads the repository once (`adapters.dataset`, the same examples and held-out slice an
adapter is trained and judged on), measures the cheap proxies of every candidate that can
be loaded (one at a time, so only one model is in memory), turns them into a predicted
fine-tuned score, and lets successive halving spend a fixed number of real LoRA
fine-tunes (`adapters.train` for a fraction of a full run) on the most promising ones.
The whole ranking is cached per (repository, candidate set, settings) and recomputed only
when the repository has drifted (`cache.py`), since it costs minutes.

Without a fitted predictor (no `tailor select --ground-truth` run yet), the prediction is
the zero-shot score (next-line exact match, loss after the LoRA probe as tie-breaker),
which is a fair ordering but not a fine-tuned estimate; the result says which was used.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.models import DEFAULT_MODEL
from adapters.paths import data_dir
from adapters.train import Budget
from selector.ranking.cache import RankingCache, cached_ranking
from selector.ranking.catalogue import ModelSpec
from selector.ranking.defaults import DEFAULT_FULL_RUN, FINE_TUNES, FULL_TOP
from selector.ranking.predictor import FEATURES, RidgePredictor, score
from selector.ranking.proxies import Proxies, measure
from selector.ranking.search import Candidate, FineTuneBudget, successive_halving

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
# spec -> (model, tokenizer); raises when the model cannot be loaded.
Loader = Callable[[ModelSpec], tuple[Any, Any]]

LATENCY_NOISE = 1.1  # same-architecture models time within ~10% of each other
SAMPLE_TRAIN = 64  # proxy examples: enough for LogME's classes and the LoRA probe
SAMPLE_HELDOUT = 32
SAMPLE_PAIRS = 20
TRAIN_PAIRS = 30  # next-line pairs a search fine-tune is scored on
EVAL_TOKENS = 4096  # held-out tokens a search fine-tune is judged on (loss, best state)


@dataclass
class _ScoringData:
    """The repository's data as a search fine-tune sees it: no next-line pairs inside the
    training loop (they are scored once, after it) and no fill-in-the-middle probes."""

    train: Sequence[Any]
    heldout: Sequence[Any]
    nextline: Sequence[tuple[str, str]] = ()


def predictor_path(kind: str = "full") -> Path:
    """Where `tailor select --ground-truth` keeps a fitted predictor: `full` (all proxies)
    or `cheap` (the cheap tier's proxies only)."""
    return data_dir() / "selector" / _PREDICTOR_FILES[kind]


# Predictors fitted on this project's ground truth may ship beside this module (package
# data), so rankings use a learned predictor before the user runs --ground-truth; one
# fitted here takes precedence.
_PREDICTOR_FILES = {"full": "predictor.json", "cheap": "predictor-cheap.json"}


def load_predictor(path: Path | None = None, kind: str = "full") -> RidgePredictor | None:
    """The predictor fitted here by `--ground-truth`, else the shipped one; None when
    neither is there (or readable): the ranking then falls back to the zero-shot score."""
    shipped = Path(__file__).with_name(_PREDICTOR_FILES[kind])
    for candidate in ([path] if path else [predictor_path(kind), shipped]):
        if not candidate.is_file():
            continue
        try:
            return RidgePredictor.load(candidate)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable predictor %s: %s", candidate, exc)
    return None


def load_candidate(spec: ModelSpec) -> tuple[Any, Any]:
    from adapters.models import load

    loaded = load(spec.load_spec())
    return loaded.model, loaded.tokenizer


def zero_shot_prediction(proxies: Proxies) -> float:
    """The fallback prediction, on the same scale as the measured score. The loss is the
    best the LoRA probe reached (a fine-tune keeps its best state, so a probe that
    diverged on a tiny probe set must not count against the model)."""
    finite = [x for x in [*proxies.lora_losses, proxies.zero_shot_loss]
              if x is not None and math.isfinite(x)]
    loss = min(finite) if finite else None
    return score(proxies.zero_shot_exact_match or 0.0, loss if loss is not None else 1e6)


def _spread(items: Sequence[Any], n: int) -> list[Any]:
    """`n` items evenly spread over the sequence (deterministic), or all of them."""
    if len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


@dataclass
class Sample:
    """What the proxies see: a small, fixed slice of the repository's examples."""

    train: list[Any]
    heldout: list[Any]
    nextline: list[tuple[str, str]]


def repository_sample(data: Any) -> Sample:
    train, heldout = list(data.train), list(data.heldout)
    if not heldout and len(train) >= 2:  # no held-out files: hold out a slice of train
        cut = max(1, len(train) // 10)
        train, heldout = train[:-cut], train[-cut:]
    return Sample(_spread(train, SAMPLE_TRAIN), _spread(heldout, SAMPLE_HELDOUT),
                  _spread(list(data.nextline), SAMPLE_PAIRS))


def _scaled(full: Budget, fraction: float) -> Budget:
    return Budget(seconds=None if full.seconds is None else full.seconds * fraction,
                  tokens=None if full.tokens is None else max(1, int(full.tokens * fraction)))


@dataclass
class LoraTrainer:
    """The search's trainer: a real LoRA fine-tune (`adapters.train`) of a candidate for a
    fraction of `full_run`, scored as the predictor's target (`predictor.score`). The
    adapter is thrown away; the model is loaded for the run and released after it.

    Only what the score needs is evaluated: held-out loss before and after (on
    `EVAL_TOKENS`, which also picks the best state), next-line exact match after. The
    adapter trainer's other evaluations (mid-run losses, the base model's exact match,
    fill-in-the-middle probes) would triple the cost of every run and change no score."""

    specs: dict[str, ModelSpec]
    data: Any  # adapters.dataset.TrainingData
    full_run: Budget = DEFAULT_FULL_RUN
    loader: Loader = load_candidate
    seed: int = 0
    progress: Progress | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, model_id: str, fraction: float) -> float:
        from adapters.evaluation import exact_match
        from adapters.lora import attach
        from adapters.train import train

        budget = _scaled(self.full_run, fraction)
        if self.progress:
            self.progress(f"fine-tuning {model_id} for {budget.describe()}")
        record: dict[str, Any] = {"model": model_id, "fraction": fraction,
                                  "budget": budget.describe()}
        self.runs.append(record)
        try:
            model, tokenizer = self.loader(self.specs[model_id])
            peft_model = attach(model)
            data = _ScoringData(self.data.train, self.data.heldout)
            result = train(peft_model, tokenizer, data, budget=budget, seed=self.seed,
                           nextline_pairs=0, eval_every=2.0, eval_tokens=EVAL_TOKENS)
            result.exact_match_after, _ = exact_match(
                peft_model, tokenizer, list(self.data.nextline)[:TRAIN_PAIRS])
        except Exception as exc:  # a candidate that cannot be trained ranks last
            log.warning("fine-tuning %s failed: %s", model_id, exc)
            record["error"] = str(exc)
            record["score"] = -1.0
            return -1.0
        finally:
            gc.collect()
        loss = result.heldout_loss_after
        record.update(heldout_loss=loss, exact_match=result.exact_match_after,
                      tokens=result.tokens, seconds=round(result.seconds, 3))
        record["score"] = score(result.exact_match_after or 0.0,
                                loss if loss is not None else 1e6)
        return float(record["score"])


@dataclass
class Ranking:
    """Candidates best first (the list `tailor select --json` prints), and how it was made."""

    candidates: list[dict[str, Any]]
    refreshed: bool = True
    reason: str = ""  # "cached", "no cached ranking", a drift reason, "forced"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def pick(self) -> str | None:
        return self.meta.get("pick")


def latency_allowance(latency_budget_ms: float, current_ms: float | None) -> float:
    """The latency a candidate may cost: the budget, or what the model in use already
    costs when that is more. A slow machine must not push the ranking toward a worse
    model that merely fits the budget: being no slower than today (give or take the
    measurement noise, `LATENCY_NOISE`) is always acceptable."""
    if current_ms is None or not math.isfinite(current_ms):
        return latency_budget_ms
    return max(latency_budget_ms, current_ms * LATENCY_NOISE)


def _latency(proxies: Proxies | None) -> float | None:
    return None if proxies is None else proxies.latency_ms


def _predict(predictor: RidgePredictor | None, proxies: Sequence[Proxies]
             ) -> tuple[list[float], str]:
    if not proxies:
        return [], "none"
    if predictor is not None:
        on = "" if predictor.features == FEATURES else " on " + ", ".join(predictor.features)
        return predictor.predict([p.features() for p in proxies]), "ridge predictor" + on
    return ([zero_shot_prediction(p) for p in proxies],
            "zero-shot score (no fitted predictor)")


def _compute(root: Path, specs: Sequence[ModelSpec], *, budget: int,
             latency_budget_ms: float, predictor: RidgePredictor | None, full_run: Budget,
             loader: Loader, progress: Progress, top_k: int, seed: int,
             current: str, cheap_predictor: RidgePredictor | None = None,
             full_top: int = FULL_TOP) -> dict[str, Any]:
    from adapters.dataset import build_training_data

    started = time.perf_counter()
    progress(f"reading {root}")
    data = build_training_data(root)
    sample = repository_sample(data)
    if not sample.train:
        note = data.summary.get("note") or "no source files found"
        raise ValueError(f"no training data in {root} ({note})")
    measured: dict[str, Proxies] = {}
    skipped: dict[str, str] = {}
    by_id = {s.id: s for s in specs}

    def measure_one(spec: ModelSpec, tier: str) -> None:
        progress(f"measuring {spec.id}" + (" (cheap proxies)" if tier == "cheap" else ""))
        try:
            model, tokenizer = loader(spec)
            measured[spec.id], model = measure(
                model, tokenizer, train=sample.train, heldout=sample.heldout,
                nextline=sample.nextline, tier=tier, earlier=measured.get(spec.id))
        except Exception as exc:  # one broken candidate must not stop the ranking
            log.warning("cannot measure %s: %s", spec.id, exc)
            skipped[spec.id] = f"could not be loaded or measured: {exc}"
            measured.pop(spec.id, None)
        finally:
            model = tokenizer = None
            gc.collect()

    available = []
    for spec in specs:
        if spec.available():
            available.append(spec)
        else:
            skipped[spec.id] = (f"not built yet (tailor zoo build --only {spec.id})"
                                if spec.kind in ("derived", "zoo") else "not available")
    # Two tiers, like the search itself: the cheap proxies for every candidate, the
    # expensive ones (minutes each) only for the `full_top` the cheap tier likes best.
    two_tier = len(available) > full_top
    for spec in available:
        measure_one(spec, "cheap" if two_tier else "full")
    cheap_ids = list(measured)
    if two_tier:
        cheap_rank = _predict(cheap_predictor, [measured[m] for m in cheap_ids])[0]
        allowed_now = latency_allowance(latency_budget_ms, _latency(measured.get(current)))
        finalists = [m for _, m in sorted(zip(cheap_rank, cheap_ids, strict=True),
                                          reverse=True)
                     if (measured[m].latency_ms or 0.0) <= allowed_now][:full_top]
        for model_id in finalists:
            measure_one(by_id[model_id], "expensive")
    ids = list(measured)
    full_ids = [m for m in ids if measured[m].tier == "full"]
    rest = [m for m in ids if measured[m].tier != "full"]
    full_pred, method = _predict(predictor, [measured[m] for m in full_ids])
    rest_pred, rest_method = _predict(cheap_predictor, [measured[m] for m in rest])
    method = method if full_ids else rest_method
    # Candidates that did not reach the expensive tier rank after every one that did.
    floor = min(full_pred, default=0.0) - 1.0
    spread = (max(rest_pred) - min(rest_pred)) if rest_pred else 0.0
    rest_pred = [floor - spread + (p - min(rest_pred, default=0.0)) for p in rest_pred]
    candidates = [Candidate(m, p, latency_ms=measured[m].latency_ms)
                  for m, p in zip(full_ids + rest, full_pred + rest_pred, strict=True)]
    trainer = LoraTrainer(by_id, data, full_run=full_run, loader=loader, seed=seed,
                          progress=progress)
    fine_tunes = FineTuneBudget(max_runs=budget)
    allowed = latency_allowance(latency_budget_ms, _latency(measured.get(current)))
    result = successive_halving(candidates, trainer, fine_tunes, top_k=top_k,
                                latency_budget_ms=allowed)
    rows: list[dict[str, Any]] = []
    for row in result.ranking:
        spec = by_id[row["model"]]
        scores = row["measured"]
        longest = max(scores, key=float) if scores else None
        runs = [r for r in trainer.runs if r["model"] == spec.id]
        rows.append({**row, "kind": spec.kind, "parameters": spec.parameters,
                     "available": True, "skipped": None,
                     "measured_score": None if longest is None else scores[longest],
                     "measured_fraction": None if longest is None else float(longest),
                     "fine_tunes": runs, "proxies": measured[spec.id].to_dict()})
    for model_id, why in skipped.items():
        spec = by_id[model_id]
        rows.append({"model": model_id, "kind": spec.kind, "parameters": spec.parameters,
                     "predicted_score": None, "latency_ms": None, "measured": {},
                     "measured_score": None, "measured_fraction": None, "utility": None,
                     "within_latency_budget": None, "available": False, "skipped": why,
                     "fine_tunes": [], "proxies": None})
    return {"candidates": rows,
            "meta": {"pick": result.pick, "fine_tunes": result.runs, "budget": budget,
                     "compute": result.compute, "plan": result.plan,
                     "full_run": full_run.describe(), "predictor": method,
                     "expensive_proxies": full_ids,
                     "latency_budget_ms": latency_budget_ms,
                     "latency_allowed_ms": allowed, "current": current,
                     "data": {k: data.summary.get(k) for k in ("repo_name", "files_used",
                                                               "files_heldout", "examples")},
                     "seconds": round(time.perf_counter() - started, 2)}}


def rank_repository(root: Path | str, candidates: Sequence[ModelSpec], *,
                    budget: int = FINE_TUNES,
                    latency_budget_ms: float = 500.0,
                    predictor: RidgePredictor | None = None,
                    progress: Progress | None = None, full_run: Budget = DEFAULT_FULL_RUN,
                    loader: Loader = load_candidate, cache: RankingCache | None = None,
                    force: bool = False, top_k: int = 4, seed: int = 0,
                    current: str | None = None,
                    cheap_predictor: RidgePredictor | None = None,
                    full_top: int = FULL_TOP) -> Ranking:
    """Rank `candidates` for the repository at `root`, best first.

    `budget` is the most real fine-tunes the search may run (0: proxies and prediction
    only); `full_run` is what one full fine-tune trains for. With more than `full_top`
    candidates, all get the cheap proxies and only the `full_top` best by
    `cheap_predictor` the expensive ones. `current` is the model in use
    (default: the shipped one): no candidate at most as slow as it is excluded for latency.
    A cached ranking is returned while the repository has not drifted and the candidates
    and settings are the same.
    """
    from adapters.dataset import repo_identity

    current = current or DEFAULT_MODEL
    root = Path(root).resolve()
    report = progress or (lambda _message: None)
    unique = list({s.id: s for s in candidates}.values())
    settings = [f"@budget={budget}", f"@latency={latency_budget_ms:g}",
                f"@run={full_run.describe()}", f"@top_k={top_k}", f"@seed={seed}",
                f"@current={current}", f"@full_top={full_top}",
                f"@cheap={'none' if cheap_predictor is None else cheap_predictor.coef}",
                f"@predictor={'none' if predictor is None else predictor.coef}"]

    def compute() -> dict[str, Any]:
        return _compute(root, unique, budget=budget, latency_budget_ms=latency_budget_ms,
                        predictor=predictor, full_run=full_run, loader=loader,
                        progress=report, top_k=top_k, seed=seed, current=current,
                        cheap_predictor=cheap_predictor, full_top=full_top)

    outcome = cached_ranking(root, repo_identity(root), [s.id for s in unique] + settings,
                             compute, cache=cache, force=force)
    if not outcome.refreshed:
        report("using the cached ranking (the repository has not drifted)")
    entry = outcome.ranking
    return Ranking(entry["candidates"], refreshed=outcome.refreshed, reason=outcome.reason,
                   meta=entry["meta"])
