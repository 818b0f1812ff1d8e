"""Adapters loaded side by side in one model, so switching repository is a pointer change.

peft injects LoRA layers into the base model's modules in place; every loaded adapter is a
named slot in those layers and `set_adapter` picks one. The base model is the same weights
with the adapter layers disabled. The least recently used adapter is unloaded when more than
`max_loaded` are in memory. Callers switch only on the inference thread, between requests.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

BASE = "base"


class AdapterLoadError(RuntimeError):
    pass


class Slots(Protocol):
    """What the selector needs of a backend's adapters (PyTorch's or onnxruntime's)."""

    def use(self, key: str | None, path: Path | None = None) -> bool: ...


def slot_name(key: str) -> str:
    """peft keeps adapters in ModuleDicts, whose keys may not contain dots."""
    return "a_" + re.sub(r"[^A-Za-z0-9_]", "_", key)


class AdapterSlots:
    def __init__(self, model: Any, max_loaded: int = 4) -> None:
        self.model = model  # the transformers model; LoRA layers are injected into it
        self.peft: Any = None
        self.max_loaded = max(1, max_loaded)
        self.loaded: OrderedDict[str, Path] = OrderedDict()
        self.current = BASE

    def use(self, key: str | None, path: Path | None = None) -> bool:
        """Make adapter `key` (stored at `path`) or, for None, the base model active.

        Returns whether the active weights changed (the engine's KV cache is then stale).
        Raises AdapterLoadError when the adapter cannot be loaded; the base is active then.
        """
        if key is None or key == BASE:
            if self.current == BASE:
                return False
            self.peft.base_model.disable_adapter_layers()
            self.current = BASE
            return True
        if key == self.current:
            self.loaded.move_to_end(key)
            return False
        if key not in self.loaded:
            if path is None:
                raise AdapterLoadError(f"adapter {key} is not loaded and has no path")
            self._load(key, path)
        self.peft.set_adapter(slot_name(key))
        if self.current == BASE:
            self.peft.base_model.enable_adapter_layers()
        self.peft.eval()
        self.loaded.move_to_end(key)
        self.current = key
        return True

    def _load(self, key: str, path: Path) -> None:
        from peft import PeftModel

        while len(self.loaded) >= self.max_loaded:
            self._evict()
        name = slot_name(key)
        try:
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
            else:
                self.peft.load_adapter(str(path), adapter_name=name)
        except Exception as exc:
            if self.peft is not None:
                self._switch_to_base()
            raise AdapterLoadError(f"cannot load adapter {path}: {exc}") from exc
        self.peft.eval()
        self.loaded[key] = path
        log.info("adapter %s loaded from %s (%d in memory)", key, path, len(self.loaded))

    def _switch_to_base(self) -> None:
        if self.current != BASE:
            self.peft.base_model.disable_adapter_layers()
            self.current = BASE

    def _evict(self) -> None:
        victim = next(iter(self.loaded))
        if victim == self.current:
            self._switch_to_base()
        others = [slot_name(k) for k in self.loaded if k != victim]
        if others:
            # peft refuses to delete the adapter it has set; point it at another first.
            self.peft.set_adapter(others[-1])
            if self.current == BASE:
                self.peft.base_model.disable_adapter_layers()
        self.peft.delete_adapter(slot_name(victim))
        del self.loaded[victim]
        log.info("adapter %s unloaded (least recently used)", victim)
