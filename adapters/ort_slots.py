"""Adapters for the onnxruntime engine: each stored peft adapter converted once into
onnxruntime's adapter format, then activated per request without touching the base graph.

The conversion (`adapter.onnx_adapter`) lives in the adapter's own version directory, so
it is removed with the adapter and never outlives the weights it came from. Loaded
adapters (their tensors, bound as graph inputs per request) are kept, least recently used
first out, up to `max_loaded`, like the PyTorch slots. Same interface as
`adapters.slots.AdapterSlots`.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from adapters.onnx_graph import convert_adapter
from adapters.ort_fast import load_adapter
from adapters.slots import BASE, AdapterLoadError

log = logging.getLogger(__name__)

CONVERTED = "adapter.onnx_adapter"


class OrtAdapterSlots:
    def __init__(self, engine: Any, max_loaded: int = 4) -> None:
        self.engine = engine  # adapters.ort_fast.FastEngine
        self.max_loaded = max(1, max_loaded)
        self.loaded: OrderedDict[str, Any] = OrderedDict()
        self.current = BASE

    def use(self, key: str | None, path: Path | None = None) -> bool:
        """Activate adapter `key` (converting `path` once) or, for None, the base graph.
        Returns whether the active weights changed; AdapterLoadError leaves the base active."""
        if key is None or key == BASE:
            changed = self.current != BASE
            self.engine.use_adapter(None)
            self.current = BASE
            return changed
        if key == self.current:
            self.loaded.move_to_end(key)
            return False
        if key not in self.loaded:
            if path is None:
                raise AdapterLoadError(f"adapter {key} is not loaded and has no path")
            try:
                self.loaded[key] = self._load(path)
            except Exception as exc:
                self.use(None)
                raise AdapterLoadError(f"cannot use adapter {path} on onnxruntime: {exc}") \
                    from exc
            while len(self.loaded) > self.max_loaded:
                victim, _ = self.loaded.popitem(last=False)
                log.info("adapter %s unloaded (least recently used)", victim)
        self.loaded.move_to_end(key)
        self.engine.use_adapter(key, self.loaded[key])
        self.current = key
        return True

    def _load(self, path: Path) -> Any:
        target = path / CONVERTED
        weights = path / "adapter_model.safetensors"
        stale = not target.exists() or (weights.exists() and
                                        weights.stat().st_mtime > target.stat().st_mtime)
        for attempt in range(2):
            if stale:
                self._convert(path, target)
            try:
                return load_adapter(target, self.engine.info)
            except Exception:
                if attempt:
                    raise
                log.warning("the conversion %s is unreadable; converting again", target)
                stale = True
        raise AssertionError("unreachable")

    def _convert(self, path: Path, target: Path) -> None:
        staging = path / f".{CONVERTED}.{os.getpid()}.tmp"
        try:
            convert_adapter(path, staging, self.engine.info)
            staging.replace(target)
        finally:
            staging.unlink(missing_ok=True)
        log.info("adapter %s converted for onnxruntime", path)
