"""`tailor bench completion --backend torch,onnxruntime,llama.cpp`: the engines side by side
on the same prompts in the same process, interleaved per cursor (machines here are shared
and noisy: only same-run ratios mean anything; nothing here is a test).

Every backend gets the same token ids (the GGUF carries the same tokenizer), greedy
decoding and the same number of new tokens, with the repository adapter active on
PyTorch and onnxruntime (llama.cpp runs the shipped GGUF as the outside reference: it has
no adapter here). Per cursor: a new cursor (caches empty: time to first token and decode
speed), then one more typed character at the same cursor (caches warm on every side).
`llama.cpp` needs `pip install llama-cpp-python` (it compiles for minutes); it is a
benchmark-only dependency.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.bench import _default_files, pick_cursors

Runner = Callable[[list[int], int, bool], dict[str, Any]]


def _engine_runner(engine: Any) -> Runner:
    def run(ids: list[int], new: int, fresh: bool) -> dict[str, Any]:
        if fresh:
            engine.reset()
        out = engine.generate(ids, max_new_tokens=new)
        t = out.timing
        return {"ids": list(out.token_ids), "total_ms": t.total_ms,
                "ttft_ms": t.total_ms - t.decode_ms, "decode_ms": t.decode_ms,
                "new": t.new_tokens, "reused": t.reused_tokens}
    return run


def _llama_runner(gguf: Path, context: int, threads: int) -> Runner:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=context, n_threads=threads,
                n_threads_batch=threads, n_batch=512, verbose=False)

    def run(ids: list[int], new: int, fresh: bool) -> dict[str, Any]:
        if fresh:
            llm.reset()
        started = time.perf_counter()
        first = 0.0
        out: list[int] = []
        # generate() reuses the longest prefix it already evaluated (its prompt cache).
        for token in llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0):
            if not out:
                first = time.perf_counter()
            out.append(int(token))
            if len(out) >= new or token == llm.token_eos():
                break
        ended = time.perf_counter()
        return {"ids": out, "total_ms": (ended - started) * 1000,
                "ttft_ms": (first - started) * 1000, "decode_ms": (ended - first) * 1000,
                "new": len(out), "reused": None}
    return run


def _prompts(tokenizer: Any, cursors: list[tuple[Path, int]], prompt_tokens: int
             ) -> list[tuple[list[int], list[int]]]:
    """(ids at the cursor, ids after typing the next character), the last `prompt_tokens`."""
    pairs = []
    for path, offset in cursors:
        text = path.read_text(encoding="utf-8", errors="replace")
        start = max(0, offset - prompt_tokens * 6)
        a = tokenizer(text[start:offset], add_special_tokens=False)["input_ids"]
        b = tokenizer(text[start:offset + 1], add_special_tokens=False)["input_ids"]
        cut = max(0, len(a) - prompt_tokens)
        pairs.append((list(a[cut:]), list(b[cut:])))
    return pairs


def _agreement(reference: list[int], other: list[int]) -> tuple[int, int]:
    same = 0
    for x, y in zip(reference, other, strict=False):
        if x != y:
            break
        same += 1
    return same, len(reference)


def bench_backends(backends: list[str], files: list[str] | None = None, cursors: int = 6,
                   model: str = "smollm2-135m-instruct", prompt_tokens: int = 1500,
                   new_tokens: int = 16, adapter: Path | None = None,
                   variant: str | None = None, threads: int | None = None) -> dict[str, Any]:
    from adapters import onnx_cache
    from adapters.engine import Engine
    from adapters.models import load
    from adapters.ort_fast import session_options
    from adapters.slots import AdapterSlots
    from adapters.store import AdapterStore

    out = sys.stderr
    loaded = load(model)
    threads = threads or session_options().intra_op_num_threads
    if adapter is None:
        stored = [a for a in AdapterStore().list() if a.model == loaded.source.name and a.valid]
        adapter = stored[-1].path if stored else None
    print(f"bench: backends {backends}, adapter {adapter or 'none (base model)'}, "
          f"{threads} threads", file=out)
    runners: dict[str, Runner] = {}
    notes: dict[str, str] = {}
    for name in backends:
        if name == "torch":
            engine = Engine(loaded.model, loaded.tokenizer)
            if adapter is not None:
                AdapterSlots(loaded.model, 1).use("bench", adapter)
            runners[name] = _engine_runner(engine)
        elif name == "onnxruntime":
            from adapters.ort_slots import OrtAdapterSlots

            try:
                directory, choice = onnx_cache.find(loaded.source.name, Path(loaded.path))
            except onnx_cache.ExportError:
                print("bench: no export yet; building it (once)", file=out)
                started = time.perf_counter()
                choice = onnx_cache.build(loaded.tokenizer, Path(loaded.path),
                                          loaded.source.name)
                notes["export_seconds"] = f"{time.perf_counter() - started:.0f}"
                directory, choice = onnx_cache.find(loaded.source.name, Path(loaded.path))
            if variant and variant != choice.variant:
                directory = directory.parent / variant
                if not directory.exists():
                    from adapters.ort_fast import build

                    build(Path(loaded.path), directory, variant)
            notes["onnxruntime"] = f"variant {variant or choice.variant}; chosen at export: " \
                f"{choice.describe()}; export took {choice.export_seconds:.0f} s"
            ort_engine = onnx_cache.open_engine(directory, choice, loaded.tokenizer,
                                                threads=threads)
            if adapter is not None:
                OrtAdapterSlots(ort_engine, 1).use("bench", adapter)
            runners[name] = _engine_runner(ort_engine)
        elif name == "llama.cpp":
            if loaded.source.gguf_path is None:
                raise SystemExit("llama.cpp needs the model's GGUF file")
            runners[name] = _llama_runner(loaded.source.gguf_path, prompt_tokens + 256, threads)
            notes["llama.cpp"] = f"{loaded.source.gguf_path.name}, no adapter"
        else:
            raise SystemExit(f"unknown backend {name!r}")
    paths = [Path(f).resolve() for f in files] if files else _default_files()
    pairs = _prompts(loaded.tokenizer, pick_cursors(paths, cursors, prompt_tokens * 5),
                     prompt_tokens)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in runners}
    for run in runners.values():  # one-off costs (allocators, kernels) first
        run(pairs[0][0][:32], 2, True)
    for a, b in pairs:
        for name, run in runners.items():
            first = run(a, new_tokens, True)
            more = run(b, new_tokens, False)
            rows[name].append({"a": first, "b": more, "prompt": len(a)})
    summary: dict[str, dict[str, Any]] = {}
    for name, items in rows.items():
        decoded = sum(max(0, r["a"]["new"] - 1) for r in items)
        decode_ms = sum(r["a"]["decode_ms"] for r in items)
        summary[name] = {
            "ttft_new_cursor_ms": statistics.median(r["a"]["ttft_ms"] for r in items),
            "decode_tok_s": 1000 * decoded / max(decode_ms, 1e-6),
            "one_more_char_ms": statistics.median(r["b"]["total_ms"] for r in items),
            "new_tokens": statistics.median(r["a"]["new"] for r in items),
        }
        if "torch" in rows and name != "torch":
            same = total = 0
            for mine, ref in zip(items, rows["torch"], strict=True):
                equal, count = _agreement(ref["a"]["ids"], mine["a"]["ids"])
                same, total = same + equal, total + count
            summary[name]["agreement_with_torch"] = f"{same}/{total}"
    prompt = statistics.median(len(a) for a, _ in pairs)
    print(f"\n{len(pairs)} cursors, median prompt {prompt:.0f} tokens, {new_tokens} new tokens",
          file=out)
    print(f"{'backend':12} {'TTFT new cursor ms':>19} {'decode tok/s':>13} "
          f"{'+1 char ms':>11}  agreement", file=out)
    for name, s in summary.items():
        print(f"{name:12} {s['ttft_new_cursor_ms']:19.0f} {s['decode_tok_s']:13.1f} "
              f"{s['one_more_char_ms']:11.0f}  {s.get('agreement_with_torch', '')}", file=out)
    ratios = _ratios(summary)
    for line in ratios["lines"]:
        print(line, file=out)
    for key, note in notes.items():
        print(f"{key}: {note}", file=out)
    return {"summary": summary, "ratios": ratios["values"], "notes": notes,
            "median_prompt_tokens": prompt, "cursors": len(pairs), "adapter": str(adapter)}


def _ratios(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets as same-run ratios (onnxruntime against each peer)."""
    values: dict[str, float] = {}
    lines: list[str] = []
    ort = summary.get("onnxruntime")
    if ort is None:
        return {"values": values, "lines": lines}
    for peer in ("torch", "llama.cpp"):
        other = summary.get(peer)
        if other is None:
            continue
        values[f"decode_vs_{peer}"] = ort["decode_tok_s"] / other["decode_tok_s"]
        values[f"ttft_vs_{peer}"] = ort["ttft_new_cursor_ms"] / other["ttft_new_cursor_ms"]
        values[f"one_more_char_vs_{peer}"] = ort["one_more_char_ms"] / other["one_more_char_ms"]
    targets = (("decode_vs_torch", ">=", 4.0), ("decode_vs_llama.cpp", ">=", 1.0),
               ("ttft_vs_torch", "<=", 0.5), ("ttft_vs_llama.cpp", "<=", 1 / 3),
               ("one_more_char_vs_llama.cpp", "<=", 1.0))
    for key, op, target in targets:
        if key in values:
            met = values[key] >= target if op == ">=" else values[key] <= target
            lines.append(f"onnxruntime {key}: {values[key]:.2f} (target {op} {target:.2f}) "
                         f"{'met' if met else 'NOT met'}")
    return {"values": values, "lines": lines}
