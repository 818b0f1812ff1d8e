"""The onnxruntime exports of a base model: built once, measured, cached, found again.

Layout (DESIGN.md, where things live): `onnx/<model>/<variant>/` holds one graph per
variant (fp32, int8, int4; `adapters.ort_fast.build`) and `onnx/<model>/chosen.json`
names the variant to run, with what was measured when choosing it. `chosen.json` is
written last, so a directory without it is an unfinished export; it also records the
source weights' size and mtime, so a re-converted model is exported again instead of
running stale weights.

The variant is chosen by measurement on this machine, not by rule: every variant decodes
the same prompts greedily; the fastest one whose next-token choices agree with the fp32
graph's at least `MIN_AGREEMENT` of the time (teacher-forced on the fp32 graph's own
continuations, so one flipped near-tie counts once) wins; its long prompt chunks run on a
dynamic-int8 prefill graph when that graph passes the same test. Quantisation only pays where its
kernels are fast on this CPU, and a quantised graph that changes many choices is not the
same model. The free-running agreement (tokens equal until the first difference) is
recorded too; it is what a user sees, and it punishes early near-ties hard.

Run as `python -m adapters.onnx_cache SPEC` (the server does so in a child process); it
prints `progress <percent> <message>` lines on stderr.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adapters.paths import data_dir

log = logging.getLogger(__name__)

VARIANTS = ("fp32", "int8", "int4")
MIN_AGREEMENT = 0.9
_PROMPT_SOURCES = ("textwrap.py", "json/decoder.py", "argparse.py", "difflib.py")


class ExportError(RuntimeError):
    """An export that is missing, unfinished, stale or broken; the message says which."""


@dataclass
class Choice:
    variant: str
    source: dict[str, Any]
    measured: dict[str, dict[str, float]] = field(default_factory=dict)
    export_seconds: float = 0.0
    created: float = 0.0
    prefill: bool = False  # long prompt chunks run on the `prefill` graph (dynamic int8)

    def describe(self) -> str:
        row = self.measured.get(self.variant, {})
        speed = row.get("decode_tok_s")
        return (f"{self.variant}" + (" (int8 prefill)" if self.prefill else "")
                + (f", {speed:.0f} tok/s decode when measured" if speed else "")
                + (f", {row['agreement']:.0%} of next-token choices as fp32's"
                   if "agreement" in row and self.variant != "fp32" else ""))


def root(model_name: str) -> Path:
    return data_dir() / "onnx" / model_name


def source_signature(model_dir: Path) -> dict[str, Any]:
    weights = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    return {"path": str(model_dir),
            "weights": [[w.name, w.stat().st_size, int(w.stat().st_mtime)] for w in weights]}


def find(model_name: str, model_dir: Path) -> tuple[Path, Choice]:
    """The directory of the chosen variant, or ExportError saying why there is none."""
    base = root(model_name)
    marker = base / "chosen.json"
    if not marker.exists():
        raise ExportError(f"no onnxruntime export of {model_name} yet")
    try:
        choice = Choice(**json.loads(marker.read_text()))
    except (ValueError, TypeError) as exc:
        raise ExportError(f"the export record {marker} is unreadable ({exc})") from exc
    if choice.source != source_signature(model_dir):
        raise ExportError(f"the export of {model_name} was made from other weights "
                          f"than {model_dir}")
    directory = base / choice.variant
    for graph in [directory] + ([base / "prefill"] if choice.prefill else []):
        for name in ("model.onnx", "graph.json"):
            if not (graph / name).exists():
                raise ExportError(f"the export at {graph} lacks {name}")
    return directory, choice


def open_engine(directory: Path, choice: Choice, tokenizer: Any,
                threads: int | None = None) -> Any:
    """The engine for a found export (with its prefill graph when it has one)."""
    from adapters.ort_fast import FastEngine

    prefill = directory.parent / "prefill" if choice.prefill else None
    return FastEngine(directory, tokenizer, threads=threads, prefill=prefill)


def discard(model_name: str) -> None:
    """Remove a broken export so the next build starts clean."""
    shutil.rmtree(root(model_name), ignore_errors=True)


def failure_path(model_name: str) -> Path:
    return data_dir() / "onnx" / f"{model_name}.failed.json"


def _atomic_dir(target: Path, build: Callable[[Path], Any]) -> None:
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    build(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _prompts(tokenizer: Any, count: int = 4, length: int = 400) -> list[list[int]]:
    """Real code from the standard library: the same text on every machine."""
    import sysconfig

    lib = Path(sysconfig.get_paths()["stdlib"])
    prompts = []
    for name in _PROMPT_SOURCES[:count]:
        ids = tokenizer((lib / name).read_text(encoding="utf-8"),
                        add_special_tokens=False)["input_ids"]
        prompts.append(list(ids[:length]))
    return prompts


def measure(directory: Path, tokenizer: Any, prompts: list[list[int]],
            reference: list[list[int]] | None = None, new_tokens: int = 16,
            prefill: Path | None = None) -> tuple[dict[str, float], list[list[int]]]:
    """Decode speed, prefill time and agreement with `reference` (the fp32 graph's greedy
    continuations; None: this is the reference) of one exported graph, with its tokens.
    The teacher-forced agreement is the decode graph's own; the free-running one is what
    the user gets (with the prefill graph, if any)."""
    from adapters.ort_fast import FastEngine

    engine = FastEngine(directory, tokenizer, prefill=prefill)
    room = engine.max_tokens - new_tokens - 1
    prompts = [p[-room:] for p in prompts]  # the same cut for every variant
    engine.generate(prompts[0][:16], max_new_tokens=2)  # pay the first run's costs
    tokens, decode_ms, decoded, prefill_ms = [], 0.0, 0, 0.0
    for prompt in prompts:
        engine.reset()
        out = engine.generate(prompt, max_new_tokens=new_tokens)
        tokens.append(list(out.token_ids))
        decode_ms += out.timing.decode_ms
        decoded += max(0, out.timing.new_tokens - 1)
        prefill_ms += out.timing.prefill_ms
    row = {"decode_tok_s": round(1000 * decoded / max(decode_ms, 1e-6), 2),
           "prefill_ms": round(prefill_ms / len(prompts), 1), "agreement": 1.0,
           "free_agreement": 1.0}
    if reference is not None:
        plain = engine if prefill is None else FastEngine(directory, tokenizer)
        row["agreement"] = forced_agreement(plain, prompts, reference)
        row["free_agreement"] = round(agreement(reference, tokens), 3)
        if prefill is not None:  # long chunks (the whole forced pass) on the prefill graph
            row["prefill_agreement"] = forced_agreement(engine, prompts, reference)
    return row, tokens


def forced_agreement(engine: Any, prompts: list[list[int]],
                     reference: list[list[int]]) -> float:
    """Share of the reference continuations' tokens that `engine` picks greedily when fed
    the reference text before each (teacher forcing)."""
    same = total = 0
    for prompt, ref in zip(prompts, reference, strict=True):
        if ref:
            picks = engine.greedy_choices(prompt + ref[:-1], len(ref))
            same += sum(a == b for a, b in zip(picks, ref, strict=True))
            total += len(ref)
    return round(same / max(total, 1), 3)


def agreement(reference: list[list[int]], other: list[list[int]]) -> float:
    """Share of greedy tokens equal to the reference's before the first difference: after
    a difference the two continue from different text, so later tokens say nothing."""
    same = total = 0
    for ref, out in zip(reference, other, strict=False):
        total += len(ref)
        for a, b in zip(ref, out, strict=False):
            if a != b:
                break
            same += 1
    return same / max(total, 1)


def build(tokenizer: Any, model_dir: Path, model_name: str,
          variants: tuple[str, ...] = VARIANTS,
          progress: Callable[[int, str], None] = lambda pct, msg: None) -> Choice:
    """Build every variant, measure and choose; returns the choice written to chosen.json."""
    from adapters.ort_fast import build as build_graph
    from adapters.ort_fast import build_prefill

    base = root(model_name)
    base.mkdir(parents=True, exist_ok=True)
    (base / "chosen.json").unlink(missing_ok=True)
    started = time.perf_counter()
    kinds = ["fp32", *(v for v in variants if v != "fp32")]  # fp32 is the reference
    for i, kind in enumerate(kinds):
        progress(5 + 20 * i, f"building the {kind} graph")
        with contextlib.redirect_stdout(sys.stderr):  # builders print; stdout may be JSON
            _atomic_dir(base / kind, functools.partial(build_graph, model_dir,
                                                       precision=kind))
    prefill: Path | None = base / "prefill"
    if len(kinds) > 1:
        progress(65, "building the prefill graph")
        try:
            _atomic_dir(base / "prefill", functools.partial(build_prefill, base / "fp32"))
        except Exception:  # an optimisation: decoding works without it
            log.exception("no prefill graph; long prompts run on the decode graph")
            prefill = None
    else:
        prefill = None
    export_seconds = time.perf_counter() - started
    prompts = _prompts(tokenizer)
    measured: dict[str, dict[str, float]] = {}
    reference: list[list[int]] | None = None
    for i, kind in enumerate(kinds):
        progress(70 + 8 * i, f"measuring {kind}")
        row, tokens = measure(base / kind, tokenizer, prompts, reference,
                              prefill=prefill if kind != "fp32" else None)
        reference = reference or tokens
        measured[kind] = row
        log.info("variant %s: %s", kind, row)
    eligible = [k for k in variants if k == "fp32" or measured[k]["agreement"] >= MIN_AGREEMENT]
    variant = max(eligible, key=lambda k: measured[k]["decode_tok_s"])
    for kind in variants:
        if kind not in (variant, "fp32"):
            shutil.rmtree(base / kind, ignore_errors=True)  # ~0.2-0.6 GB each, never run
    uses_prefill = prefill is not None and variant != "fp32" and \
        measured[variant].get("prefill_agreement", 0.0) >= MIN_AGREEMENT
    if prefill is not None and not uses_prefill:
        shutil.rmtree(prefill, ignore_errors=True)
    choice = Choice(variant=variant, source=source_signature(model_dir), measured=measured,
                    export_seconds=round(export_seconds, 1), created=time.time(),
                    prefill=uses_prefill)
    tmp = base / ".chosen.json.tmp"
    tmp.write_text(json.dumps(asdict(choice), indent=1))
    tmp.rename(base / "chosen.json")
    failure_path(model_name).unlink(missing_ok=True)
    progress(100, f"chose {choice.describe()}")
    return choice


def main(argv: list[str] | None = None) -> int:
    """Child-process entry: load SPEC, build its export, print the choice as JSON."""
    import argparse

    import torch

    from adapters.models import load

    parser = argparse.ArgumentParser(prog="python -m adapters.onnx_cache")
    parser.add_argument("spec")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    def progress(pct: int, message: str) -> None:
        print(f"progress {pct} {message}", file=sys.stderr, flush=True)

    loaded = load(args.spec)
    name = loaded.source.name
    try:
        choice = build(loaded.tokenizer, Path(loaded.path), name,
                       tuple(v for v in args.variants.split(",") if v), progress)
    except Exception as exc:
        failure_path(name).parent.mkdir(parents=True, exist_ok=True)
        failure_path(name).write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}",
                                                  "time": time.time()}))
        log.exception("export of %s failed", name)
        return 1
    print(json.dumps(asdict(choice)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
