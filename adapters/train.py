"""Train a repository's LoRA adapter: one readable loop with a budget, in the manner of
nanoGPT's train.py.

Examples are tokenised once (prompt tokens labelled -100, so only the target is learned),
grouped into batches of similar length so padding stays small, and trained with AdamW on
the LoRA parameters only. Held-out loss is measured with the adapter disabled before
training (the base model's score), a few times during it, and at the end; the adapter with
the lowest held-out loss is kept and restored, so a budget that overfits costs nothing.
The budget (time or tokens) covers the whole call: the time the "before" evaluation took
is reserved for the "after" one, and the loop's learning rate follows the budget's
fraction, since the number of steps a time budget allows is unknown in advance.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch

from adapters.budget import Budget
from adapters.evaluation import (
    Batch,
    ExampleLike,
    Row,
    encode_all,
    exact_match,
    heldout_loss,
    make_batches,
    pad_id,
)

# Shares of a time budget one evaluation pass may take (the rest is training).
FIM_PROBES = 30
IMPROVEMENT_MARGIN = 0.005  # relative; smaller drops are within evaluation noise
HELDOUT_SHARE = 0.04
NEXTLINE_SHARE = 0.05

Progress = Callable[[dict[str, Any]], None]


class DataLike(Protocol):
    """What `adapters.dataset.TrainingData` provides (kept structural: no import cycle)."""

    @property
    def train(self) -> Sequence[ExampleLike]: ...
    @property
    def heldout(self) -> Sequence[ExampleLike]: ...
    @property
    def nextline(self) -> Sequence[tuple[str, str]]: ...


@dataclass
class TrainResult:
    tokens: int = 0
    seconds: float = 0.0
    steps: int = 0
    heldout_loss_before: float | None = None
    heldout_loss_after: float | None = None
    exact_match_before: float | None = None
    exact_match_after: float | None = None
    improved: bool = False
    cancelled: bool = False
    stop_reason: str = ""  # budget, patience, cancelled
    train_seconds: float = 0.0  # inside training steps only
    loop_seconds: float = 0.0  # the whole loop: steps, batching, progress, periodic evals
    heldout_tokens: int = 0
    nextline_pairs: int = 0
    # What the text after the cursor adds (after training, the same held-out cursors):
    # exact match of the line with a fill-in-the-middle prompt vs the prefix alone.
    fim_exact_match_after: float | None = None
    prefix_exact_match_after: float | None = None
    fim_probes: int = 0
    evals: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _base_only(model: Any) -> contextlib.AbstractContextManager[Any]:
    """The base model's behaviour: the adapter switched off (peft), or nothing to switch."""
    disable = getattr(model, "disable_adapter", None)
    return disable() if callable(disable) else contextlib.nullcontext()


def _epochs(rows: list[Row], batch_tokens: int, pad: int,
            rng: random.Random) -> Iterator[Batch]:
    """Endless batches: each epoch regroups shuffled rows by length, then shuffles batches."""
    while True:
        order = rows[:]
        rng.shuffle(order)
        order.sort(key=lambda row: len(row[0]) // 32)  # stable: shuffled within a bucket
        batches = make_batches(order, batch_tokens, pad)
        rng.shuffle(batches)
        yield from batches


def _sample(rows: list[Row], max_tokens: int,
            seed: int) -> list[Row]:
    order = rows[:]
    random.Random(seed).shuffle(order)
    picked, total = [], 0
    for row in order:
        if total >= max_tokens:
            break
        picked.append(row)
        total += len(row[0])
    return sorted(picked, key=lambda row: len(row[0]))


def train(model: Any, tokenizer: Any, data: DataLike, *, budget: Budget,
          progress: Progress | None = None, cancel: threading.Event | None = None,
          seq_len: int = 512, batch_tokens: int = 2048, lr: float = 3e-4,
          warmup_steps: int = 10, eval_every: float = 0.2, eval_tokens: int = 16_384,
          nextline_pairs: int = 50, patience: int = 3, seed: int = 0) -> TrainResult:
    """Train the adapter attached to `model` (a fresh one, see `adapters.lora.attach`)."""
    started = time.perf_counter()
    cancel = cancel or threading.Event()
    report = progress or (lambda _event: None)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    pad = pad_id(tokenizer)
    result = TrainResult()

    train_rows = encode_all(tokenizer, data.train, seq_len)
    held_rows = encode_all(tokenizer, data.heldout, seq_len)
    if not train_rows:
        raise ValueError("no training examples")
    if not held_rows:  # no history to hold out: judge on a slice of the training data
        cut = max(1, len(train_rows) // 10)
        held_rows = train_rows[-cut:]
        train_rows = train_rows[:-cut] or held_rows
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: attach an adapter first")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    eval_set = make_batches(_sample(held_rows, eval_tokens, seed), batch_tokens, pad)
    pairs = list(data.nextline)[:nextline_pairs]

    def elapsed() -> float:
        return time.perf_counter() - started

    def share(fraction: float) -> float | None:
        return None if budget.seconds is None else time.perf_counter() + budget.seconds * fraction

    def event(phase: str, **extra: Any) -> None:
        done = [] if budget.tokens is None else [result.tokens / budget.tokens]
        if budget.seconds is not None:
            done.append(elapsed() / budget.seconds)
        fraction = min(1.0, max(done))
        eta: float | None = None
        if budget.seconds is not None:
            eta = budget.seconds - elapsed()
        elif result.tokens and budget.tokens:
            rate = result.tokens / max(result.train_seconds, 1e-9)
            eta = (budget.tokens - result.tokens) / rate + reserve
        report({"phase": phase, "tokens": result.tokens, "step": result.steps,
                "fraction": round(fraction, 4),
                "eta_s": None if eta is None else round(max(eta, 0.0), 1), **extra})

    # The base model's scores; they also fix the evaluation sets and their cost.
    model.eval()
    with _base_only(model):
        eval_started = time.perf_counter()
        before, used = heldout_loss(model, eval_set, cancel=cancel, deadline=share(HELDOUT_SHARE))
        eval_set = eval_set[:used]
        eval_cost = time.perf_counter() - eval_started
        result.heldout_loss_before = before
        result.heldout_tokens = sum(b.tokens for b in eval_set)
        event("eval", heldout_loss=before, loss=None)
        nextline_started = time.perf_counter()
        em_before, n_pairs = exact_match(model, tokenizer, pairs, cancel=cancel,
                                         deadline=share(NEXTLINE_SHARE))
        nextline_cost = time.perf_counter() - nextline_started
    pairs = pairs[:n_pairs]
    result.exact_match_before, result.nextline_pairs = em_before, n_pairs

    best_loss, best_state = before, [p.detach().clone() for p in params]
    loop_start = time.perf_counter()
    # The final evaluation costs about the same, plus two fill-in-the-middle passes.
    fim_window = max(nextline_cost, 1.0)
    has_probes = bool(getattr(data, "fim_probes", None))
    reserve = eval_cost + nextline_cost + (2 * fim_window if has_probes else 0.0)
    allowance = None if budget.seconds is None else budget.seconds - elapsed() - reserve

    def loop_fraction(ahead: float = 0.0) -> float:
        """How much of the loop's share of the budget is spent (`ahead` seconds from now)."""
        done = [] if budget.tokens is None else [result.tokens / budget.tokens]
        if allowance is not None:
            spent = time.perf_counter() + ahead - loop_start
            done.append(spent / allowance if allowance > 0 else 1)
        return max(done)

    step_lr, last_loss, bad_evals, next_eval = lr, None, 0, eval_every

    def evaluate() -> None:
        nonlocal best_loss, best_state, bad_evals
        model.eval()
        loss, _ = heldout_loss(model, eval_set, cancel=cancel)
        model.train()
        if cancel.is_set() or loss is None:
            return
        result.evals.append({"tokens": result.tokens, "step": result.steps, "heldout_loss": loss})
        if best_loss is None or loss < best_loss:
            best_loss, best_state, bad_evals = loss, [p.detach().clone() for p in params], 0
        else:
            bad_evals += 1
        event("eval", heldout_loss=loss, best_heldout_loss=best_loss, loss=last_loss)

    batches = _epochs(train_rows, batch_tokens, pad, rng)
    device = params[0].device
    model.train()
    while not cancel.is_set() and before is not None:
        fraction = loop_fraction()
        # A step that would end past a time budget is not started (steps can take seconds).
        if loop_fraction(ahead=result.train_seconds / max(result.steps, 1)) >= 1:
            result.stop_reason = "budget"
            break
        if fraction >= next_eval:
            next_eval += eval_every
            evaluate()
            if bad_evals >= patience:
                result.stop_reason = "patience"
                break
        batch = next(batches).to(device)
        # Linear warm-up, then cosine decay to a tenth over the budget.
        step_lr = lr * min(1.0, (result.steps + 1) / warmup_steps) * (
            0.55 + 0.45 * math.cos(math.pi * min(fraction, 1.0)))
        for group in optimizer.param_groups:
            group["lr"] = step_lr
        step_started = time.perf_counter()
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                    labels=batch.labels, use_cache=False)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        last_loss = float(out.loss.item())
        result.train_seconds += time.perf_counter() - step_started
        result.steps += 1
        result.tokens += batch.tokens
        event("train", loss=last_loss, lr=step_lr)
    result.loop_seconds = time.perf_counter() - loop_start

    result.cancelled = cancel.is_set()
    if not result.cancelled and before is not None:
        evaluate()
    with torch.no_grad():
        for param, saved in zip(params, best_state, strict=True):
            param.copy_(saved)
    model.eval()
    if result.cancelled:
        result.stop_reason = "cancelled"
    else:
        result.heldout_loss_after = best_loss
        # "Better" means by more than noise: a held-out loss lower by at least MARGIN.
        result.improved = bool(before is not None and best_loss is not None
                               and best_loss < before * (1 - IMPROVEMENT_MARGIN))
        if pairs:
            result.exact_match_after, _ = exact_match(model, tokenizer, pairs, cancel=cancel)
        probes = list(getattr(data, "fim_probes", []))[:FIM_PROBES]
        if probes:
            # Same cursors both ways; each pass may take what the first next-line pass took
            # (a share of a time budget), so the budget still covers the whole call.
            window = fim_window
            result.prefix_exact_match_after, result.fim_probes = exact_match(
                model, tokenizer, [(plain, line) for plain, _, line in probes], cancel=cancel,
                context_tokens=512, deadline=time.perf_counter() + window)
            result.fim_exact_match_after, _ = exact_match(
                model, tokenizer, [(fim, line) for _, fim, line in probes[:result.fim_probes]],
                cancel=cancel, context_tokens=512)
        result.cancelled = cancel.is_set()
    result.seconds = elapsed()
    return result
