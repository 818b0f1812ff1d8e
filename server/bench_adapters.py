"""`tailor bench swap`: what switching adapters costs, against one decode step of the same
model in the same run (a loaded adapter should cost no more than one step; one that must be
read from disk, no more than eight). Benchmarks, not tests: machines here are noisy, so only
same-run ratios count."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


def _adapter_dirs(model_spec: str, count: int, root: Path) -> list[Path]:
    """`count` adapters of the shared recipe with random LoRA weights, saved like training's."""
    from adapters.lora import attach, save_adapter
    from adapters.models import load

    dirs = []
    for i in range(count):
        peft_model = attach(load(model_spec).model)
        torch.manual_seed(i)
        with torch.no_grad():
            for name, param in peft_model.named_parameters():
                if "lora_B" in name:
                    param.normal_(0, 0.01)
        dirs.append(save_adapter(peft_model, root / f"a{i}", {"bench": True}))
    return dirs


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench_swap(model: str = "smollm2-135m-instruct", rounds: int = 20) -> dict[str, Any]:
    from adapters.engine import Engine
    from adapters.models import load
    from adapters.slots import AdapterSlots

    with tempfile.TemporaryDirectory() as tmp:
        print("bench: preparing 3 adapters ...", file=sys.stderr, flush=True)
        dirs = _adapter_dirs(model, 3, Path(tmp))
        loaded = load(model)
        engine = Engine(loaded.model, loaded.tokenizer)
        slots = AdapterSlots(loaded.model, max_loaded=2)
        prompt = engine.encode("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n")
        engine.generate(prompt, max_new_tokens=4)

        decode, loaded_swap, cold_swap = [], [], []
        keys = ["a0", "a1", "a2"]
        for _ in range(rounds):
            # One decode step: feed one token after a cached prompt.
            engine.generate(prompt, max_new_tokens=1)
            started = time.perf_counter()
            with torch.inference_mode():
                engine._forward([prompt[-1]])
            decode.append(time.perf_counter() - started)
            engine.reset()
            # Both loaded: a pointer change.
            slots.use(keys[0], dirs[0])
            slots.use(keys[1], dirs[1])
            started = time.perf_counter()
            slots.use(keys[0], dirs[0])
            loaded_swap.append(time.perf_counter() - started)
            # Not loaded (max_loaded=2 evicts a1, the least recently used): read from disk.
            # The next round's use(a1) evicts a2 again, so every round measures a cold load.
            started = time.perf_counter()
            slots.use(keys[2], dirs[2])
            cold_swap.append(time.perf_counter() - started)
    report = {"decode_step_ms": _ms(decode), "swap_loaded_ms": _ms(loaded_swap),
              "swap_from_disk_ms": _ms(cold_swap), "rounds": rounds}
    report["loaded_over_step"] = report["swap_loaded_ms"] / report["decode_step_ms"]
    report["from_disk_over_step"] = report["swap_from_disk_ms"] / report["decode_step_ms"]
    print(f"decode step p50       {report['decode_step_ms']:8.2f} ms")
    print(f"swap, loaded p50      {report['swap_loaded_ms']:8.2f} ms  "
          f"({report['loaded_over_step']:.2f} decode steps; target <= 1)")
    print(f"swap, from disk p50   {report['swap_from_disk_ms']:8.2f} ms  "
          f"({report['from_disk_over_step']:.2f} decode steps; target <= 8)")
    return report
