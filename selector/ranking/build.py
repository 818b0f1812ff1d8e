"""`tailor zoo build`: make the candidates that are built here, and prove each is worth having.

Derived variants (layers dropped, weights rounded) come from the shipped model in seconds;
zoo models are pre-trained from scratch on the standard library (`zoo.py`). Every built
model is judged on the same held-out standard-library tokens against a unigram model of
the training tokens, the floor any language model must clear (`catalogue` promises each
candidate beats it), and the figures are written into the model directory's marker so
they can be shown later without measuring again. All models share SmolLM2's tokenizer, so
their losses are per the same tokens and comparable.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selector.ranking.catalogue import ModelSpec
from selector.ranking.defaults import BUILD_EVAL_TOKENS
from selector.ranking.derive import MARKER, derive, save_model_dir
from selector.ranking.zoo import (
    stdlib_sources,
    stream_loss,
    token_stream,
    train_zoo,
    unigram_loss,
)

Progress = Callable[[str], None]
# a model spec string (alias or directory) -> (model, tokenizer)
BaseLoader = Callable[[str], tuple[Any, Any]]

EVAL_TOKENS = BUILD_EVAL_TOKENS
SEQ_LEN = 512


@dataclass
class Corpus:
    """Token streams of the training and held-out code, and the unigram floor."""

    train_ids: list[int]
    held_ids: list[int]
    vocab: int

    def unigram(self, eval_tokens: int) -> float:
        return unigram_loss(self.train_ids, self.held_ids[:eval_tokens], self.vocab)


def stdlib_corpus(tokenizer: Any, *, max_files: int | None = None,
                  max_chars: int = 200_000) -> Corpus:
    train, held = stdlib_sources(max_files=max_files, max_chars=max_chars)
    return Corpus(token_stream(tokenizer, train), token_stream(tokenizer, held), len(tokenizer))


def load_base(spec: str) -> tuple[Any, Any]:
    from adapters.models import load

    loaded = load(spec)
    return loaded.model, loaded.tokenizer


def _annotate(directory: Path, extra: dict[str, Any]) -> None:
    """Add the evaluation to the model directory's marker (atomically)."""
    marker = directory / MARKER
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        info = {}
    info.update(extra)
    tmp = marker.with_name(f".{MARKER}.tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, marker)


def evaluate(model: Any, corpus: Corpus, eval_tokens: int = EVAL_TOKENS,
             seq_len: int = SEQ_LEN) -> dict[str, Any]:
    loss, counted = stream_loss(model, corpus.held_ids, seq_len, eval_tokens)
    floor = corpus.unigram(eval_tokens)
    return {"heldout_loss": loss, "unigram_loss": floor, "heldout_tokens": counted,
            "beats_unigram": loss < floor}


def _every_tenth(report: Progress) -> Callable[[dict[str, Any]], None]:
    """Training progress as a line per tenth of the steps (a build takes minutes)."""
    def step(event: dict[str, Any]) -> None:
        steps = event["steps"]
        if event["step"] == steps or event["step"] % max(1, steps // 10) == 0:
            report(f"step {event['step']}/{steps}, training loss {event['loss']:.3f}")
    return step


def build_models(specs: Sequence[ModelSpec], *, base_loader: BaseLoader = load_base,
                 corpus: Corpus | None = None, zoo_tokens: int | None = None,
                 eval_tokens: int = EVAL_TOKENS, reference: bool = True,
                 progress: Progress | None = None) -> list[dict[str, Any]]:
    """Build each derived or zoo spec into its directory and evaluate it.

    `zoo_tokens` overrides the zoo recipes' token budgets (a quick build; the result
    records what was trained). With `reference`, the base of the derived models is
    evaluated too, so their losses can be read against it. The corpus is tokenised with
    the first base's tokenizer (SmolLM2's for the built-in catalogue).
    """
    report = progress or (lambda _message: None)
    wanted = [s for s in specs if s.kind in ("derived", "zoo")]
    if not wanted:
        return []
    bases = sorted({s.base for s in wanted if s.base})
    from adapters.models import DEFAULT_MODEL

    report(f"loading {bases[0] if bases else DEFAULT_MODEL}")
    base_model, tokenizer = base_loader(bases[0] if bases else DEFAULT_MODEL)
    if corpus is None:
        report("tokenising the standard library")
        corpus = stdlib_corpus(tokenizer)
    results: list[dict[str, Any]] = []
    if reference and bases:
        report(f"evaluating {bases[0]} (reference)")
        results.append({"model": bases[0], "kind": "reference", "path": None,
                        **evaluate(base_model, corpus, eval_tokens)})
    for spec in wanted:
        assert spec.directory is not None
        started = time.perf_counter()
        row: dict[str, Any] = {"model": spec.id, "kind": spec.kind, "path": str(spec.directory)}
        if spec.kind == "derived":
            if spec.base != bases[0]:
                report(f"loading {spec.base}")
                base_model, _ = base_loader(spec.base or DEFAULT_MODEL)
                bases[0] = spec.base or DEFAULT_MODEL
            report(f"deriving {spec.id}")
            path = derive(base_model, tokenizer, spec.directory, drop=spec.drop_layers,
                          bits=spec.quant_bits, base=spec.base or "")
            model, _ = base_loader(str(path))  # read back: it must load as users will
            row.update(evaluate(model, corpus, eval_tokens))
        else:
            assert spec.zoo is not None
            recipe = spec.zoo if zoo_tokens is None else dataclasses.replace(
                spec.zoo, tokens=zoo_tokens)
            report(f"training {spec.id} for {recipe.tokens:,} tokens")
            model, result = train_zoo(recipe, tokenizer, corpus.train_ids, corpus.held_ids,
                                      eval_tokens=eval_tokens, progress=_every_tenth(report))
            path = save_model_dir(model, tokenizer, spec.directory,
                                  {"zoo": spec.id, "result": result.to_dict()})
            row.update(heldout_loss=result.heldout_loss, unigram_loss=result.unigram_loss,
                       heldout_tokens=result.heldout_tokens,
                       beats_unigram=result.beats_unigram, tokens=result.tokens)
        row["seconds"] = round(time.perf_counter() - started, 2)
        _annotate(path, {"evaluation": {k: row[k] for k in (
            "heldout_loss", "unigram_loss", "heldout_tokens", "beats_unigram")}})
        results.append(row)
        report(f"{spec.id}: held-out loss {row['heldout_loss']:.3f} "
               f"(unigram {row['unigram_loss']:.3f})")
    return results
