"""Cheap measurements of one candidate model on one repository sample.

Each proxy costs seconds where a real fine-tune costs minutes, and each sees a different
side of the fit: zero-shot loss and next-line exact match (what the model knows of this
code before training; the same functions that judge adapters), LogME on frozen
mean-pooled hidden states (how much of the repository's structure its features carry
linearly), the loss after a few LoRA steps and its slope (how fast it adapts), and cost
(ms per token, bytes of weights). The predictor learns how to combine them.

The model is left exactly as found: the LoRA probe attaches an adapter, trains it, and
unloads it again, restoring which parameters required gradients.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any, Protocol

import numpy as np
import torch

from adapters.evaluation import (
    ExampleLike,
    encode_all,
    exact_match,
    heldout_loss,
    make_batches,
    pad_id,
)
from selector.ranking.logme import logme, one_hot


class SampleLike(ExampleLike, Protocol):
    """An example with the path it comes from (`adapters.dataset.Example`)."""

    @property
    def source(self) -> str: ...


@dataclass
class Proxies:
    zero_shot_loss: float | None = None
    zero_shot_exact_match: float | None = None
    logme: float | None = None
    logme_target: str = ""  # what LogME was asked to predict
    lora_loss: float | None = None  # probe loss after the last LoRA step
    lora_slope: float | None = None  # least-squares slope of probe loss per step
    lora_losses: list[float] = field(default_factory=list)
    parameters: int = 0
    weight_bytes: int = 0
    prefill_ms_per_token: float | None = None
    ms_per_token: float | None = None  # decoding
    latency_ms: float | None = None  # one suggestion: prompt and new tokens as measured
    seconds: float = 0.0  # what measuring all this cost
    timings: dict[str, float] = field(default_factory=dict)  # seconds per proxy
    tier: str = "full"  # "cheap": only zero-shot loss, size and latency were measured

    def features(self) -> dict[str, float | None]:
        """The predictor's inputs (see `predictor.FEATURES`)."""
        return {"zero_shot_loss": self.zero_shot_loss,
                "zero_shot_exact_match": self.zero_shot_exact_match,
                "logme": self.logme, "lora_loss": self.lora_loss, "lora_slope": self.lora_slope,
                "log_parameters": math.log(self.parameters) if self.parameters else None,
                "ms_per_token": self.ms_per_token}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def zero_shot(model: Any, tokenizer: Any, heldout: Sequence[ExampleLike],
              pairs: Sequence[tuple[str, str]], *, seq_len: int = 512,
              batch_tokens: int = 2048) -> tuple[float | None, float | None]:
    """Held-out loss per target token and next-line exact match, as adapters are judged."""
    rows = encode_all(tokenizer, heldout, seq_len)
    loss = None
    if rows:
        loss, _ = heldout_loss(model, make_batches(rows, batch_tokens, pad_id(tokenizer)))
    em = exact_match(model, tokenizer, pairs)[0] if pairs else None
    return loss, em


@torch.no_grad()
def pooled_hidden_states(model: Any, tokenizer: Any, texts: Sequence[str], *,
                         seq_len: int = 256) -> np.ndarray:
    """One vector per text: the last hidden state averaged over its tokens."""
    device = next(model.parameters()).device
    out = []
    for text in texts:
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])[:seq_len]
        ids = ids or [pad_id(tokenizer)]
        result = model(input_ids=torch.tensor([ids], device=device),
                       output_hidden_states=True, use_cache=False)
        out.append(result.hidden_states[-1][0].float().mean(dim=0).cpu().numpy())
    return np.stack(out).astype(np.float64)


def repository_targets(sources: Sequence[str]) -> tuple[list[int], str]:
    """A class per sample from where it lives: its top-level directory when at least two
    directories hold two samples or more, else its file. Returns labels and the level."""
    for level, key in (("directory", lambda p: PurePosixPath(p).parts[0]
                        if len(PurePosixPath(p).parts) > 1 else "."),
                       ("file", lambda p: p)):
        names = [key(s) for s in sources]
        counts = Counter(names)
        if sum(1 for c in counts.values() if c >= 2) >= 2:
            order = {n: i for i, n in enumerate(sorted(counts))}
            return [order[n] for n in names], level
    return [], ""


def logme_proxy(model: Any, tokenizer: Any, samples: Sequence[SampleLike], *,
                max_samples: int = 128, seq_len: int = 256) -> tuple[float | None, str]:
    """LogME of pooled features against where each code sample lives.

    Only the code (the example's target) is embedded, never the prompt header, which
    names the file and would give the answer away.
    """
    picked = list(samples)[:max_samples]
    labels, level = repository_targets([s.source for s in picked])
    if not labels:
        return None, ""
    feats = pooled_hidden_states(model, tokenizer, [s.target for s in picked], seq_len=seq_len)
    return logme(feats, one_hot(labels)), level


def slope(values: Sequence[float]) -> float:
    """Least-squares slope of values against their index."""
    x = np.arange(len(values), dtype=np.float64)
    if len(values) < 2:
        return 0.0
    return float(np.polyfit(x, np.asarray(values, dtype=np.float64), 1)[0])


def lora_probe(model: Any, tokenizer: Any, train: Sequence[ExampleLike],
               probe: Sequence[ExampleLike], *, steps: int = 8, lr: float = 1e-3,
               seq_len: int = 256, batch_tokens: int = 1024,
               seed: int = 0) -> tuple[list[float], Any]:
    """Probe-set loss before and after each of `steps` LoRA steps; returns the losses and
    the model with the adapter removed (the same base weights, untouched)."""
    from adapters.lora import attach

    pad = pad_id(tokenizer)
    train_batches = make_batches(encode_all(tokenizer, train, seq_len), batch_tokens, pad)
    probe_batches = make_batches(encode_all(tokenizer, probe, seq_len), batch_tokens, pad)[:1]
    if not train_batches or not probe_batches:
        return [], model
    grad_flags = {name: p.requires_grad for name, p in model.named_parameters()}
    was_training = model.training
    torch.manual_seed(seed)
    peft_model = attach(model)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    losses = []
    try:
        for step in range(steps + 1):
            peft_model.eval()
            loss, _ = heldout_loss(peft_model, probe_batches)
            losses.append(float(loss) if loss is not None else math.nan)
            if step == steps:
                break
            peft_model.train()
            batch = train_batches[step % len(train_batches)]
            out = peft_model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                             labels=batch.labels, use_cache=False)
            out.loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    finally:
        base = peft_model.unload()
        for name, p in base.named_parameters():
            p.requires_grad_(grad_flags.get(name, p.requires_grad))
        base.train(was_training)
    return losses, base


def cost(model: Any, tokenizer: Any, prompt: str, *, prompt_tokens: int = 128,
         new_tokens: int = 16, repeats: int = 3) -> tuple[float, float, float]:
    """(prefill ms per token, decode ms per token, ms for one such suggestion), measured
    with the completion engine, as a user would wait.

    The fastest of `repeats` runs, for prefill and decoding each: on a shared machine one
    run could measure the same architecture 3x slower than another (seen in the ground
    truth), enough to push a model over the latency budget; the minimum is what the model
    costs when nothing else competes."""
    from adapters.engine import Engine

    engine = Engine(model, tokenizer)
    ids = engine.encode(prompt)
    ids = (ids * (prompt_tokens // max(len(ids), 1) + 1))[:prompt_tokens] or [pad_id(tokenizer)]
    # End-of-text is banned so every model decodes exactly `new_tokens` tokens: a model
    # that stops at once must not look fast.
    stops = sorted(engine.end_ids)
    engine.generate(ids[:8], max_new_tokens=2, ban=lambda _t: stops)  # warm-up
    runs = []
    for _ in range(max(1, repeats)):
        engine.reset()
        t = engine.generate(ids, max_new_tokens=new_tokens, ban=lambda _t: stops).timing
        if t.new_tokens < 2:
            raise RuntimeError(f"decoded {t.new_tokens} tokens; cannot time decoding")
        runs.append(t)
    prefill_ms = min(t.prefill_ms for t in runs)
    per_new = min(t.decode_ms / (t.new_tokens - 1) for t in runs)  # the first: prefill
    return prefill_ms / max(runs[0].prompt_tokens, 1), per_new, prefill_ms + per_new * new_tokens


def weight_bytes(model: Any) -> tuple[int, int]:
    """(parameters, bytes of parameters and buffers): what each token streams from memory."""
    params = sum(p.numel() for p in model.parameters())
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    size += sum(b.numel() * b.element_size() for b in model.buffers())
    return params, size


def measure(model: Any, tokenizer: Any, *, train: Sequence[SampleLike],
            heldout: Sequence[SampleLike], nextline: Sequence[tuple[str, str]],
            max_heldout: int = 32, max_pairs: int = 10, lora_steps: int = 6,
            logme_samples: int = 64, seq_len: int = 256,
            tier: str = "full", earlier: Proxies | None = None) -> tuple[Proxies, Any]:
    """The proxies of one model on one repository sample. Returns them and the model (the
    same weights; the LoRA probe may hand back the unwrapped base object).

    `tier="cheap"`: only what costs seconds (zero-shot loss, size, latency: under a tenth
    of the whole on SmolLM2-135M); `tier="expensive"`: the rest (next-line exact match,
    LogME, the LoRA probe: minutes), added to the `earlier` cheap ones; `"full"`: both."""
    if tier not in ("cheap", "expensive", "full"):
        raise ValueError(f"unknown proxy tier {tier!r}")
    started = time.perf_counter()
    if tier == "expensive" and earlier is not None:
        result = replace(earlier, timings=dict(earlier.timings))
        cheap_seconds = earlier.seconds
    else:
        result, cheap_seconds = Proxies(), 0.0
    result.parameters, result.weight_bytes = weight_bytes(model)
    model.eval()
    held = list(heldout)[:max_heldout]
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.timings[name] = round(now - clock, 3)
        clock = now

    if tier != "expensive":
        result.zero_shot_loss, _ = zero_shot(model, tokenizer, held, [], seq_len=seq_len)
        lap("zero_shot_loss")
        prompt = held[0].prompt + held[0].target if held else "def main():\n    pass\n"
        result.prefill_ms_per_token, result.ms_per_token, result.latency_ms = cost(
            model, tokenizer, prompt)
        lap("latency")
    if tier == "cheap":
        result.tier = "cheap"
        result.seconds = time.perf_counter() - started
        return result, model
    result.tier = "full"
    pairs = list(nextline)[:max_pairs]
    result.zero_shot_exact_match = exact_match(model, tokenizer, pairs)[0] if pairs else None
    lap("zero_shot_exact_match")
    result.logme, result.logme_target = logme_proxy(
        model, tokenizer, [*train, *heldout], max_samples=logme_samples, seq_len=seq_len)
    lap("logme")
    losses, model = lora_probe(model, tokenizer, train, held, steps=lora_steps,
                               seq_len=seq_len)
    lap("lora_probe")
    if losses:
        result.lora_losses = losses
        result.lora_loss = losses[-1]
        result.lora_slope = slope(losses)
    result.seconds = cheap_seconds + time.perf_counter() - started
    return result, model
