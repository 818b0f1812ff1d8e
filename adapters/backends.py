"""Which engine runs a loaded model: PyTorch (the reference, always possible) or
onnxruntime over a cached export (faster on a CPU), and why.

`backend: "auto"` takes onnxruntime when the package imports and a valid export of this
model exists; otherwise PyTorch, and it asks for an export to be built (the server does
that in a child process when idle). `"onnxruntime"` is the same with the export built at
once and a message while PyTorch stands in. A broken export is discarded and rebuilt,
never fatal. Both engines share one interface (`adapters.engine.Engine`), so everything
above them (completion, commit messages, repair) is unaware of the choice.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters import onnx_cache
from adapters.engine import Engine
from adapters.models import LoadedModel
from adapters.slots import AdapterSlots

log = logging.getLogger(__name__)


@dataclass
class Backend:
    name: str  # what runs: "torch" | "onnxruntime"
    reason: str  # one sentence for the status and `tailor doctor`
    engine: Engine
    slots: Any  # AdapterSlots or OrtAdapterSlots: use(key, path) -> changed
    variant: str | None = None
    wants_export: bool = False  # build the export (then switch) when there is time
    problem: str | None = None  # something the user should be told once


def torch_backend(loaded: LoadedModel, max_loaded: int, reason: str, *,
                  wants_export: bool = False, problem: str | None = None) -> Backend:
    return Backend("torch", reason, Engine(loaded.model, loaded.tokenizer),
                   AdapterSlots(loaded.model, max_loaded), wants_export=wants_export,
                   problem=problem)


def onnx_backend(loaded: LoadedModel, max_loaded: int) -> Backend:
    """The onnxruntime engine over the cached export; ExportError or the session's own
    error when there is none that runs."""
    from adapters.ort_slots import OrtAdapterSlots

    directory, choice = onnx_cache.find(loaded.source.name, Path(loaded.path))
    engine = onnx_cache.open_engine(directory, choice, loaded.tokenizer)
    engine.generate(engine.encode("def main():\n"), max_new_tokens=2)  # fails here if broken
    engine.reset()
    return Backend("onnxruntime", f"export {choice.describe()} at {directory}", engine,
                   OrtAdapterSlots(engine, max_loaded), variant=choice.variant)


def export_failure(model_name: str) -> str | None:
    path = onnx_cache.failure_path(model_name)
    try:
        return str(json.loads(path.read_text())["error"]) if path.exists() else None
    except (ValueError, KeyError, OSError):
        return "unreadable failure record"


def choose(setting: str, loaded: LoadedModel, max_loaded: int) -> Backend:
    if setting == "torch":
        return torch_backend(loaded, max_loaded, "backend set to torch")
    explicit = setting == "onnxruntime"
    if importlib.util.find_spec("onnxruntime") is None or \
            importlib.util.find_spec("onnxruntime_genai") is None:
        reason = ("onnxruntime or onnxruntime-genai is not installed "
                  "(pip install onnxruntime onnxruntime-genai)")
        return torch_backend(loaded, max_loaded, reason, problem=reason if explicit else None)
    name = loaded.source.name
    try:
        return onnx_backend(loaded, max_loaded)
    except onnx_cache.ExportError as exc:
        failed = export_failure(name)
        if failed:
            reason = (f"the onnxruntime export of {name} failed ({failed}); delete "
                      f"{onnx_cache.failure_path(name)} to try again")
            return torch_backend(loaded, max_loaded, reason,
                                 problem=reason if explicit else None)
        reason = f"{exc}; PyTorch runs until it is built"
        return torch_backend(loaded, max_loaded, reason, wants_export=True,
                             problem=reason if explicit else None)
    except Exception as exc:
        log.exception("the onnxruntime export of %s does not run", name)
        onnx_cache.discard(name)
        reason = (f"the onnxruntime export of {name} is broken ({type(exc).__name__}: "
                  f"{str(exc)[:200]}); it was removed and is built again, PyTorch runs "
                  "meanwhile")
        return torch_backend(loaded, max_loaded, reason, wants_export=True, problem=reason)
