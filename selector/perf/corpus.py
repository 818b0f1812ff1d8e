"""Unlabelled functions for pre-training: every function in the standard library and the
installed packages, as feature vectors.

Why: the autoencoder learns what real Python functions look like (which features occur
together, how deep loops go, what loop bodies do) from code nobody has to time; an
environment with the usual dependencies holds a few hundred thousand functions. Parsing
them takes minutes, so the matrix is computed once and stored in the cache directory
(written atomically), keyed by the roots and the feature set.
"""

from __future__ import annotations

import ast
import hashlib
import os
import random
import sysconfig
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from selector.perf.features import (
    EXTRACTOR_VERSION,
    FEATURE_NAMES,
    extract_function,
    iter_functions,
)

MAX_FILE_BYTES = 1_000_000


def default_roots() -> list[Path]:
    """The standard library and this environment's site-packages."""
    paths = sysconfig.get_paths()
    roots = [Path(paths["stdlib"]), Path(paths["purelib"])]
    if paths.get("platlib") and Path(paths["platlib"]) not in roots:
        roots.append(Path(paths["platlib"]))
    return [r for r in roots if r.is_dir()]


def iter_files(roots: Sequence[Path]) -> Iterator[Path]:
    """Python files under the roots, skipping huge files and nested site-packages twice."""
    seen: set[Path] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            # the stdlib holds a site-packages of its own; site-packages is its own root
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in ("site-packages", "dist-packages", "__pycache__"))
            for name in sorted(filenames):
                if not name.endswith(".py"):
                    continue
                path = here / name
                if path in seen:
                    continue
                seen.add(path)
                try:
                    if path.stat().st_size <= MAX_FILE_BYTES:
                        yield path
                except OSError:
                    continue


def file_vectors(path: Path) -> list[np.ndarray]:
    """Feature vectors of every function in one file ([] when it does not parse)."""
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, OSError, RecursionError):
        return []
    out = []
    for qual, fn in iter_functions(tree):
        try:
            out.append(extract_function(fn, qual).vector)
        except RecursionError:
            continue
    return out


def _file_worker(path: str) -> list[np.ndarray]:
    return file_vectors(Path(path))


def _cache_name(roots: Sequence[Path], max_files: int | None, seed: int) -> str:
    key = "\0".join([*map(str, roots), str(max_files), str(seed), *FEATURE_NAMES,
                     f"extractor {EXTRACTOR_VERSION}"])
    return "perf-corpus-" + hashlib.sha256(key.encode()).hexdigest()[:16] + ".npy"


def build_corpus(cache_dir: Path, roots: Sequence[Path] | None = None,
                 max_files: int | None = None, seed: int = 0, workers: int = 2,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Feature matrix [n_functions, F] (float32) of the functions under `roots`, cached.

    `max_files` samples that many files (seeded) for quick runs and tests."""
    roots = list(roots) if roots is not None else default_roots()
    cache_dir = Path(cache_dir)
    target = cache_dir / _cache_name(roots, max_files, seed)
    if target.exists():
        try:
            return np.load(target)
        except (OSError, ValueError):
            pass  # a corrupt cache entry: rebuild it
    files = [str(p) for p in iter_files(roots)]
    if max_files is not None and len(files) > max_files:
        files = sorted(random.Random(seed).sample(files, max_files))
    rows: list[np.ndarray] = []
    if workers > 1 and len(files) > 50:
        with get_context("fork").Pool(workers) as pool:
            for i, vecs in enumerate(pool.imap(_file_worker, files, chunksize=32)):
                rows.extend(vecs)
                if progress and i % 500 == 0:
                    progress(i, len(files))
    else:
        for i, path in enumerate(files):
            rows.extend(_file_worker(path))
            if progress and i % 500 == 0:
                progress(i, len(files))
    matrix = (np.stack(rows) if rows else np.zeros((0, len(FEATURE_NAMES)))).astype(np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npy")
    os.close(fd)
    np.save(tmp, matrix)
    os.replace(tmp, target)
    return matrix
