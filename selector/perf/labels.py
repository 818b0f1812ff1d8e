"""Labelled programs: generated, timed in the sandbox, cached.

Why cached: timing is the expensive part of training (seconds per hundred programs on a
shared machine) and a re-run with the same seed must give the same data, so every
measurement is stored in a diskcache under the caller's cache directory, keyed by the
program's source, its input size and seed, the harness version and the Python version.
A seed reproduces the same programs (`programs.random_program`/`mutate`); the cache makes
the runtimes reproducible too.

Half of the programs are edits (`mutate`) of the others, so the predictor sees the small
before/after differences it is asked about on save, not only unrelated programs.
"""

from __future__ import annotations

import ast
import hashlib
import math
import platform
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selector.perf.features import extract_function
from selector.perf.programs import DEFAULT_SIZE, Program, mutate, random_program
from selector.perf.sandbox import Limits, time_programs

HARNESS_VERSION = "2"
INPUT_SEED = 0


@dataclass
class LabelledSet:
    """Programs with their feature vectors and measured log-seconds (natural log)."""

    programs: list[Program]
    sources: list[str]
    features: np.ndarray  # [n, F] float32
    log_seconds: np.ndarray  # [n] float32
    pair_of: list[int]  # index of the program this one was mutated from, or -1


def program_features(source: str, entry: str = "f") -> np.ndarray:
    """The feature vector of the function `entry` in a generated program's source."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == entry:
            return extract_function(node).vector
    raise ValueError(f"no function {entry!r}")


def generate_programs(n: int, seed: int, size: int = DEFAULT_SIZE,
                      max_cost: float = 4e5) -> tuple[list[Program], list[int]]:
    """`n` programs: random ones, each followed by an edit of it. Same seed, same programs."""
    rng = random.Random(seed)
    programs: list[Program] = []
    pair_of: list[int] = []
    while len(programs) < n:
        base = random_program(rng, size=size, max_cost=max_cost)
        programs.append(base)
        pair_of.append(-1)
        if len(programs) < n:
            programs.append(mutate(base, rng, max_cost=max_cost))
            pair_of.append(len(programs) - 2)
    return programs, pair_of


def _key(program: Program) -> str:
    text = "\0".join([HARNESS_VERSION, platform.python_version(), str(program.size),
                      str(INPUT_SEED), program.source()])
    return hashlib.sha256(text.encode()).hexdigest()


def measure(programs: list[Program], cache_dir: Path, limits: Limits | None = None,
            batch: int = 100, progress: Callable[[int, int], None] | None = None,
            ) -> list[float | None]:
    """Seconds per call of each program (None when it failed or ran out of time)."""
    import diskcache

    results: list[float | None] = [None] * len(programs)
    with diskcache.Cache(str(Path(cache_dir) / "perf-labels")) as cache:
        todo: list[int] = []
        for i, program in enumerate(programs):
            hit = cache.get(_key(program))
            if hit is None:
                todo.append(i)
            else:
                results[i] = hit if hit >= 0 else None
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            timings = time_programs([programs[i] for i in chunk], limits, INPUT_SEED)
            for i, timing in zip(chunk, timings, strict=True):
                ok = timing.status == "ok" and timing.seconds is not None
                value = float(timing.seconds) if ok and timing.seconds else -1.0
                if timing.status in ("ok", "timeout", "memory"):  # errors may be transient
                    cache.set(_key(programs[i]), value)
                results[i] = value if value >= 0 else None
            if progress:
                progress(min(start + batch, len(todo)), len(todo))
    return results


def build_labelled_set(n: int, seed: int, cache_dir: Path, limits: Limits | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       max_cost: float = 4e5) -> LabelledSet:
    """Generate `n` programs from `seed`, time them (cached) and keep the measured ones."""
    programs, pair_of = generate_programs(n, seed, max_cost=max_cost)
    seconds = measure(programs, cache_dir, limits, progress=progress)
    keep = [i for i, s in enumerate(seconds) if s is not None and s > 0]
    new_index = {old: new for new, old in enumerate(keep)}
    kept = [programs[i] for i in keep]
    sources = [p.source() for p in kept]
    feats = np.stack([program_features(s) for s in sources]) if sources else np.zeros((0, 0))
    y = np.array([math.log(seconds[i] or 1.0) for i in keep], dtype=np.float32)
    pairs = [new_index.get(pair_of[i], -1) for i in keep]
    return LabelledSet(kept, sources, feats.astype(np.float32), y, pairs)
