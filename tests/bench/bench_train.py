"""Training-loop efficiency (not collected by pytest: run it by hand).

    .venv/bin/python tests/bench/bench_train.py --tiny            # seconds, checks it works
    .venv/bin/python tests/bench/bench_train.py --steps 4         # the real default model

Tokens per second of `adapters.train.train` against a bare forward + backward of the same
LoRA model on batches of the same shape, in the same process, alternating the two so that
a noisy machine hurts both alike. The loop's extra work (batching, optimizer, gradient
clipping, progress, the budget's bookkeeping) should cost under a tenth: ratio >= 0.9.
Periodic evaluations are switched off for the ratio and their cost is reported apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from adapters import lora
from adapters.evaluation import encode_all, make_batches, pad_id
from adapters.train import Budget, train


@dataclass(frozen=True)
class Ex:
    prompt: str
    target: str


@dataclass
class Data:
    train: list[Ex]
    heldout: list[Ex]
    nextline: list[tuple[str, str]]


class ByteTokenizer:
    """Bytes as tokens: enough for a tiny model, no files needed."""

    eos_token_id = 0

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": list(text.encode())}

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return bytes(ids).decode(errors="replace")

    def get_vocab(self) -> dict[str, int]:
        return {chr(i): i for i in range(256)}


def corpus(tokenizer: Any, seq_len: int, rows: int) -> list[Ex]:
    """Chunks of the standard library that each fill a whole row (so every batch of the loop
    has exactly the shape the bare baseline runs)."""
    text = "".join(Path(inspect.getfile(m)).read_text() for m in (argparse, inspect, dataclasses))
    step = 8 * seq_len  # characters; always more tokens than seq_len
    chunks = [Ex("", text[i:i + step]) for i in range(0, len(text) - step, step // 2)]
    rows_found = [c for c in chunks if len(tokenizer(c.target)["input_ids"]) >= seq_len]
    return (rows_found * (rows // max(len(rows_found), 1) + 1))[:rows]


Clock = tuple[float, float]  # wall, this process's CPU time


def _now() -> Clock:
    return time.perf_counter(), time.process_time()


def _rates(tokens: float, start: Clock, end: Clock) -> Clock:
    return tokens / (end[0] - start[0]), tokens / (end[1] - start[1])


def bare_rate(model: Any, batch: Any, steps: int) -> Clock:
    """Tokens per wall second and per CPU second of forward + backward, after one step."""
    model.train()
    marks = []
    for _ in range(steps + 1):
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                    labels=batch.labels, use_cache=False)
        out.loss.backward()
        model.zero_grad(set_to_none=True)
        marks.append(_now())
    return _rates(steps * batch.tokens, marks[0], marks[-1])


def loop_rate(model: Any, tokenizer: Any, data: Data, steps: int, batch: Any, seq_len: int,
              batch_tokens: int, eval_every: float) -> tuple[Clock, Any]:
    """The same measure inside `train`: between its first and last step's progress event,
    so everything the loop does per step is counted and its set-up and evaluations are not."""
    marks: list[tuple[Clock, int]] = []

    def progress(event: dict[str, Any]) -> None:
        if event["phase"] == "train":
            marks.append((_now(), event["tokens"]))

    result = train(model, tokenizer, data, budget=Budget(tokens=(steps + 1) * batch.tokens),
                   seq_len=seq_len, batch_tokens=batch_tokens, eval_every=eval_every,
                   nextline_pairs=0, eval_tokens=batch_tokens, patience=10**6,
                   progress=progress)
    (first, t0), (last, t1) = marks[0], marks[-1]
    return _rates(t1 - t0, first, last), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny random model (seconds)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=8, help="steps per timed run")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-tokens", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    if args.tiny:
        from transformers import LlamaConfig, LlamaForCausalLM

        tokenizer: Any = ByteTokenizer()
        torch.manual_seed(0)
        base = LlamaForCausalLM(LlamaConfig(
            hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=256, max_position_embeddings=args.seq_len))
        name = "tiny llama (h=64, 2 layers)"
    else:
        from adapters.models import load

        loaded = load(args.model)
        base, tokenizer, name = loaded.model, loaded.tokenizer, loaded.source.name
    model = lora.attach(base)
    rows_per_batch = max(1, args.batch_tokens // args.seq_len)
    examples = corpus(tokenizer, args.seq_len, rows_per_batch * (args.steps + 2))
    data = Data(train=examples, heldout=examples[:rows_per_batch], nextline=[])
    batch = make_batches(encode_all(tokenizer, examples[:rows_per_batch], args.seq_len),
                         args.batch_tokens, pad_id(tokenizer))[0]
    print(f"{name}: batch {tuple(batch.input_ids.shape)}, {args.steps} steps per run, "
          f"{torch.get_num_threads()} threads", file=sys.stderr)

    bare: list[Clock] = []
    loop: list[Clock] = []
    for _ in range(args.rounds):
        bare.append(bare_rate(model, batch, args.steps))
        loop.append(loop_rate(model, tokenizer, data, args.steps, batch, args.seq_len,
                              args.batch_tokens, eval_every=2.0)[0])
    _, result = loop_rate(model, tokenizer, data, args.steps, batch, args.seq_len,
                          args.batch_tokens, eval_every=0.25)
    for i, clock in enumerate(("wall", "CPU")):
        b, lo = max(r[i] for r in bare), max(r[i] for r in loop)
        print(f"per {clock} second: bare forward+backward {b:8.0f} tokens/s, training loop "
              f"{lo:8.0f} tokens/s, ratio {lo / b:.3f} (target >= 0.9; best of "
              f"{args.rounds} alternating runs)")
    print(f"with 3 periodic evals ({result.heldout_tokens} held-out tokens each) the loop "
          f"makes {result.tokens / result.loop_seconds:.0f} tokens/s of wall time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
