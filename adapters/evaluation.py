"""Examples as tensors, and the two scores a trained adapter is judged by.

Tokenising keeps the prompt as context only (labels IGNORE), so the loss counts target
tokens and nothing else. Batches group rows of similar length up to a token budget, so
padding stays small without packing unrelated examples into one attention window. The
held-out loss is per target token, and next-line exact match is what a user sees: the
greedy completion of one line, compared with what the repository actually has.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

IGNORE = -100
Row = tuple[list[int], list[int]]  # token ids, labels


class ExampleLike(Protocol):
    """What `adapters.dataset.Example` provides (structural, so either side can change)."""

    @property
    def prompt(self) -> str: ...
    @property
    def target(self) -> str: ...


def encode(tokenizer: Any, prompt: str, target: str,
           seq_len: int) -> Row | None:
    """Token ids and labels of one example; the prompt's labels are IGNORE.

    Too long: the prompt keeps its end (the context nearest the target) and at least a
    quarter of the window; the target keeps its start.
    """
    p = list(tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else []
    t = list(tokenizer(target, add_special_tokens=False)["input_ids"])
    if not t:
        return None
    if len(p) + len(t) > seq_len:
        keep = min(len(p), max(seq_len - len(t), seq_len // 4))
        p = p[len(p) - keep:]
        t = t[: seq_len - keep]
    return p + t, [IGNORE] * len(p) + t


def encode_all(tokenizer: Any, examples: Sequence[ExampleLike],
               seq_len: int) -> list[Row]:
    rows = (encode(tokenizer, ex.prompt, ex.target, seq_len) for ex in examples)
    return [row for row in rows if row is not None and len(row[0]) >= 2]


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    tokens: int  # real (not padding) tokens
    targets: int  # tokens the loss counts

    def to(self, device: torch.device) -> Batch:
        if self.input_ids.device == device:
            return self
        return Batch(self.input_ids.to(device), self.attention_mask.to(device),
                     self.labels.to(device), self.tokens, self.targets)


def _collate(rows: list[Row], pad: int) -> Batch:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row_ids, row_labels) in enumerate(rows):
        ids[i, : len(row_ids)] = torch.tensor(row_ids)
        labels[i, : len(row_labels)] = torch.tensor(row_labels)
        mask[i, : len(row_ids)] = 1
    return Batch(ids, mask, labels, tokens=int(mask.sum()),
                 targets=int((labels[:, 1:] != IGNORE).sum()))


def make_batches(rows: Sequence[Row], batch_tokens: int,
                 pad: int) -> list[Batch]:
    """Consecutive rows, as many as fit in `batch_tokens` once padded to the longest."""
    batches: list[Batch] = []
    group: list[Row] = []
    width = 0
    for row in rows:
        if group and max(width, len(row[0])) * (len(group) + 1) > batch_tokens:
            batches.append(_collate(group, pad))
            group, width = [], 0
        group.append(row)
        width = max(width, len(row[0]))
    if group:
        batches.append(_collate(group, pad))
    return batches


@torch.no_grad()
def heldout_loss(model: Any, batches: Sequence[Batch], *, cancel: threading.Event | None = None,
                 deadline: float | None = None) -> tuple[float | None, int]:
    """Mean loss per target token, and how many batches it took (at least one, unless
    cancelled; no more once `deadline`, a perf_counter time, has passed)."""
    total, count, used = 0.0, 0, 0
    device = next(model.parameters()).device
    for batch in (b.to(device) for b in batches):
        if cancel is not None and cancel.is_set():
            return None, used
        if used and deadline is not None and time.perf_counter() > deadline:
            break
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                    labels=batch.labels, use_cache=False)
        total += float(out.loss) * batch.targets
        count += batch.targets
        used += 1
    return (total / count if count else None), used


def _first_line_end(text: str) -> int | None:
    """Stop rule: the end of the first line that has something on it."""
    lead = len(text) - len(text.lstrip("\n"))
    cut = text.find("\n", lead)
    return None if cut < 0 else cut


def exact_match(model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], *,
                cancel: threading.Event | None = None, deadline: float | None = None,
                max_new_tokens: int = 32, context_tokens: int = 256) -> tuple[float | None, int]:
    """Share of (context, next line) pairs whose line greedy decoding writes exactly
    (ignoring surrounding spaces), and how many pairs it tried before `deadline`.

    Decoding goes through the completion engine, so it is what a user would be shown; a
    fresh engine each call, since a KV cache from other adapter weights would be wrong.
    """
    from adapters.engine import Engine

    engine = Engine(model, tokenizer)
    hits = tried = 0
    for context, expected in pairs:
        if (cancel is not None and cancel.is_set()) or (
                tried and deadline is not None and time.perf_counter() > deadline):
            break
        ids = engine.encode(context)[-context_tokens:] or [pad_id(tokenizer)]
        out = engine.generate(ids, max_new_tokens=max_new_tokens, stop=_first_line_end,
                              cancel=cancel)
        line = out.text.lstrip("\n").split("\n")[0]
        hits += line.strip() == expected.strip()
        tried += 1
    return (hits / tried if tried else None), tried

def pad_id(tokenizer: Any) -> int:
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int):
            return value
    return 0
