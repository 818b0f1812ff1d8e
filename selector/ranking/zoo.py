"""Small code models pre-trained here (`tailor zoo build`), so the selector has candidates
of known size and training budget without any download.

The corpus is the Python standard library on this machine: always there, permissively
licensed, and real code. Files are split into train and held-out by a CRC of their path
(stable across runs). A model is a small Llama trained from scratch on random windows of
the token stream for a fixed token budget; it is worth keeping only if its held-out loss
beats a unigram model of the same tokens (the loss of knowing token frequencies and
nothing else), which the result reports.
"""

from __future__ import annotations

import math
import random
import sysconfig
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selector.ranking.catalogue import ZooRecipe

HELDOUT_SHARE = 0.05


@dataclass
class ZooResult:
    tokens: int  # trained
    steps: int
    heldout_loss: float
    unigram_loss: float
    heldout_tokens: int
    seconds: float

    @property
    def beats_unigram(self) -> bool:
        return self.heldout_loss < self.unigram_loss

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "beats_unigram": self.beats_unigram}


def stdlib_sources(*, max_files: int | None = None,
                   max_chars: int = 200_000) -> tuple[list[str], list[str]]:
    """(train texts, held-out texts) from the standard library's .py files, tests and
    site-packages left out, in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    paths = sorted(p for p in root.rglob("*.py")
                   if not {"test", "tests", "site-packages", "idlelib"} & set(
                       p.relative_to(root).parts))
    if max_files is not None:
        paths = paths[:max_files]
    train: list[str] = []
    held: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")[:max_chars]
        except (OSError, UnicodeDecodeError):
            continue
        rel = str(path.relative_to(root))
        is_held = zlib.crc32(rel.encode()) % 1000 < HELDOUT_SHARE * 1000
        (held if is_held else train).append(text)
    return train, held


def token_stream(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """All texts' tokens, each text followed by the end-of-text token."""
    eos = tokenizer.eos_token_id if isinstance(tokenizer.eos_token_id, int) else 0
    out: list[int] = []
    for text in texts:
        out.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        out.append(eos)
    return out


def unigram_loss(train_ids: Sequence[int], held_ids: Sequence[int], vocab: int) -> float:
    """Cross-entropy (nats per token) of held-out tokens under add-one-smoothed training
    token frequencies."""
    counts = np.bincount(np.asarray(train_ids, dtype=np.int64), minlength=vocab) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[np.asarray(held_ids, dtype=np.int64)].mean())


def new_model(recipe: ZooRecipe, vocab: int, eos: int, seed: int = 0) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, hidden_size=recipe.hidden_size,
                         intermediate_size=recipe.intermediate_size,
                         num_hidden_layers=recipe.num_hidden_layers,
                         num_attention_heads=recipe.num_attention_heads,
                         num_key_value_heads=recipe.num_key_value_heads,
                         max_position_embeddings=recipe.seq_len, tie_word_embeddings=True,
                         bos_token_id=eos, eos_token_id=eos)
    return LlamaForCausalLM(config)


@torch.no_grad()
def stream_loss(model: Any, ids: Sequence[int], seq_len: int, max_tokens: int) -> tuple[float, int]:
    """Mean next-token loss over consecutive windows of the stream (up to max_tokens)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, min(len(ids), max_tokens) - 1, seq_len):
        window = torch.tensor([list(ids[start:start + seq_len + 1])])
        if window.shape[1] < 2:
            break
        out = model(input_ids=window[:, :-1], use_cache=False)
        loss = torch.nn.functional.cross_entropy(out.logits[0], window[0, 1:], reduction="sum")
        total += float(loss)
        count += window.shape[1] - 1
    return total / max(count, 1), count


def train_zoo(recipe: ZooRecipe, tokenizer: Any, train_ids: Sequence[int],
              held_ids: Sequence[int], *, batch_size: int = 8, lr: float = 3e-3,
              warmup: int = 20, seed: int = 0, eval_tokens: int = 50_000,
              progress: Callable[[dict[str, Any]], None] | None = None
              ) -> tuple[Any, ZooResult]:
    """Train a fresh model on random windows until `recipe.tokens` tokens are seen."""
    started = time.perf_counter()
    vocab = len(tokenizer)
    eos = tokenizer.eos_token_id if isinstance(tokenizer.eos_token_id, int) else 0
    model = new_model(recipe, vocab, eos, seed)
    seq = recipe.seq_len
    if len(train_ids) < seq + 1:
        raise ValueError("training stream shorter than one window")
    data = torch.tensor(list(train_ids), dtype=torch.long)
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01,
                                  betas=(0.9, 0.95))
    per_step = batch_size * seq
    total_steps = max(1, math.ceil(recipe.tokens / per_step))
    model.train()
    for step in range(total_steps):
        rate = lr * min(1.0, (step + 1) / warmup) * (
            0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / total_steps)))
        for group in optimizer.param_groups:
            group["lr"] = rate
        starts = [rng.randrange(0, len(data) - seq) for _ in range(batch_size)]
        batch = torch.stack([data[s:s + seq] for s in starts])
        # The model shifts labels itself: position i predicts token i + 1 of the window.
        out = model(input_ids=batch, labels=batch, use_cache=False)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if progress is not None:
            progress({"step": step + 1, "steps": total_steps, "loss": float(out.loss.detach())})
    held, counted = stream_loss(model, held_ids, seq, eval_tokens)
    baseline = unigram_loss(train_ids, list(held_ids)[:eval_tokens], vocab)
    model.eval()
    return model, ZooResult(tokens=total_steps * per_step, steps=total_steps,
                            heldout_loss=held, unigram_loss=baseline,
                            heldout_tokens=counted, seconds=time.perf_counter() - started)


def build_zoo_model(spec_id: str, tokenizer: Any | None = None,
                    **train_args: Any) -> tuple[Path, ZooResult]:
    """Build a catalogue zoo entry into its directory (SmolLM2's tokenizer by default)."""
    from selector.ranking.catalogue import catalogue
    from selector.ranking.derive import save_model_dir

    spec = catalogue().get(spec_id)
    if spec.zoo is None or spec.directory is None:
        raise ValueError(f"{spec_id} is not a zoo model")
    if tokenizer is None:
        from adapters.models import DEFAULT_MODEL, load

        tokenizer = load(DEFAULT_MODEL).tokenizer
    train_texts, held_texts = stdlib_sources()
    model, result = train_zoo(spec.zoo, tokenizer, token_stream(tokenizer, train_texts),
                              token_stream(tokenizer, held_texts), **train_args)
    path = save_model_dir(model, tokenizer, spec.directory,
                          {"zoo": spec.id, "result": result.to_dict()})
    return path, result
