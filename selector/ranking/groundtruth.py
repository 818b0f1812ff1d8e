"""Ground truth for the predictor: every candidate really fine-tuned on several repositories.

`tailor select --ground-truth REPO...` measures each available candidate's proxies on each
repository (exactly what a ranking measures) and then fine-tunes it for real at each of
`FRACTIONS` of the full run, recording the score (`predictor.score`), the loss, the exact
match and the seconds of every step. The records are the predictor's training pairs (the
full-run score is its target), and they are also the brute force the selector is judged
against: with scores at the search's partial fractions and the cost of everything, the
search can be replayed without training again (`tests/bench/bench_select.py`).

Collecting costs an hour or more on a laptop, so records are appended to a JSON-lines file
one (repository, candidate) at a time and a rerun skips what is already there: a stopped
collection resumes. A record whose repository content changed is collected again.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from adapters.paths import data_dir
from adapters.train import Budget
from selector.ranking.catalogue import ModelSpec
from selector.ranking.predictor import (
    CHEAP_FEATURES,
    Pair,
    RidgePredictor,
    leave_one_repository_out,
)
from selector.ranking.proxies import measure
from selector.ranking.rank import (
    DEFAULT_FULL_RUN,
    Loader,
    LoraTrainer,
    load_candidate,
    repository_sample,
)

log = logging.getLogger(__name__)

FRACTIONS = (1.0,)  # full runs only: what brute force and the predictor need


def records_path() -> Path:
    return data_dir() / "selector" / "ground_truth.jsonl"


def read_records(path: Path | None = None) -> list[dict[str, Any]]:
    """Every readable record; a torn last line (a collection killed mid-write) is skipped."""
    path = path or records_path()
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            log.warning("%s:%d: unreadable record skipped", path, number)
            continue
        if isinstance(record, dict) and {"repo", "model", "runs"} <= record.keys():
            records.append(record)
    return records


def _append(path: Path, record: dict[str, Any]) -> None:
    """One line per record; after a torn last line, start a fresh one so the torn text
    stays a single unreadable line and the new record is whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        handle.seek(0, 2)
        torn = False
        if handle.tell():
            handle.seek(-1, 2)
            torn = handle.read(1) != b"\n"
        handle.write((("\n" if torn else "") + json.dumps(record) + "\n").encode())


def _prefixed(report: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda message: report(f"{prefix}: {message}")


def collect(roots: Sequence[Path], specs: Sequence[ModelSpec], *,
            full_run: Budget = DEFAULT_FULL_RUN, fractions: Sequence[float] = FRACTIONS,
            loader: Loader = load_candidate, path: Path | None = None, seed: int = 0,
            progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Measure and fine-tune every available candidate on every repository; returns all
    records in the file (old and new). Unavailable candidates are skipped with a message."""
    from adapters.dataset import build_training_data, repo_identity

    path = path or records_path()
    report = progress or (lambda _message: None)
    for root in roots:
        root = Path(root).resolve()
        identity = repo_identity(root)
        done = {(r["repo"], r["model"]) for r in read_records(path)
                if r.get("identity") == identity and r.get("full_run") == full_run.describe()}
        todo = [s for s in specs if (root.name, s.id) not in done]
        if not todo:
            report(f"{root.name}: every candidate already recorded")
            continue
        report(f"reading {root}")
        data = build_training_data(root)
        sample = repository_sample(data)
        if not sample.train:
            report(f"{root.name}: no training data, skipped")
            continue
        for spec in todo:
            if not spec.available():
                report(f"{root.name}: {spec.id} is not available (tailor zoo build), skipped")
                continue
            report(f"{root.name}: measuring {spec.id}")
            try:
                model, tokenizer = loader(spec)
                proxies, model = measure(model, tokenizer, train=sample.train,
                                         heldout=sample.heldout, nextline=sample.nextline)
            except Exception as exc:  # a broken candidate is reported, the rest go on
                report(f"{root.name}: {spec.id} could not be measured: {exc}")
                continue
            finally:
                model = tokenizer = None
                gc.collect()
            trainer = LoraTrainer({spec.id: spec}, data, full_run=full_run, loader=loader,
                                  seed=seed, progress=_prefixed(report, root.name))
            runs: dict[str, Any] = {}
            for fraction in fractions:
                started = time.perf_counter()
                trainer(spec.id, fraction)
                run = dict(trainer.runs[-1])
                run["wall_seconds"] = round(time.perf_counter() - started, 2)
                runs[str(fraction)] = run
            record = {"repo": root.name, "identity": identity, "model": spec.id,
                      "kind": spec.kind, "parameters": spec.parameters,
                      "full_run": full_run.describe(), "proxies": proxies.to_dict(),
                      "features": proxies.features(), "runs": runs}
            _append(path, record)
            full = runs.get("1.0", {})
            report(f"{root.name}: {spec.id} score {full.get('score')} "
                   f"(proxies {proxies.seconds:.0f} s, runs "
                   f"{sum(r['wall_seconds'] for r in runs.values()):.0f} s)")
    return read_records(path)


def pairs(records: Iterable[dict[str, Any]], fraction: str = "1.0") -> list[Pair]:
    """Predictor training pairs: proxies -> the score after the run at `fraction`."""
    out = []
    for r in records:
        run = r["runs"].get(fraction)
        if run is None or run.get("error") or run.get("score") is None:
            continue
        out.append(Pair(r["repo"], r["model"], r["features"], float(run["score"])))
    return out


def fit(records: Sequence[dict[str, Any]], *, l2: float = 1.0,
        path: Path | None = None) -> dict[str, Any]:
    """Evaluate leaving one repository out, then fit on everything and save the predictor
    where rankings load it. Needs pairs from at least two repositories."""
    from selector.ranking.rank import predictor_path

    data = pairs(records)
    evaluation = leave_one_repository_out(data, l2=l2)
    cheap_evaluation = leave_one_repository_out(data, l2=l2, features=CHEAP_FEATURES)
    predictor = RidgePredictor(l2).fit(data)
    cheap = RidgePredictor(l2, features=CHEAP_FEATURES).fit(data)
    path = path or predictor_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    predictor.save(path)
    cheap.save(path.with_name(path.stem + "-cheap" + path.suffix))
    return {"pairs": len(data), "repositories": sorted({p.repo for p in data}),
            "models": sorted({p.model for p in data}), "leave_one_out": evaluation,
            "cheap_leave_one_out": cheap_evaluation, "weights": predictor.weights(),
            "cheap_weights": cheap.weights(), "saved": str(path)}
