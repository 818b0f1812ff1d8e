"""The engine on onnxruntime: `Engine`'s decoding, prefix reuse, drafts, stop rules,
cancellation and timing, with the forward pass of an exported graph (`onnx_export`).

Only the forward pass and the cache differ. The cache is the graph's `present` arrays,
kept between requests; cropping it to a common prefix is a slice. The repository's adapter
is an `onnxruntime.LoraAdapter` activated on each run, so switching adapters touches no
weights (the cache is reset, since its keys were computed with other weights).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adapters.engine import Engine
from adapters.onnx_export import GraphInfo


class _ArrayCache:
    """The graph's KV arrays, [1, kv_heads, tokens, head_dim] per layer and kind."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = arrays

    def crop(self, count: int) -> None:
        """Keep `count` tokens, or drop `-count` from the end (as transformers' crop)."""
        length = self.arrays[0].shape[2]
        keep = length + count if count < 0 else count
        self.arrays = [a[:, :, :max(0, keep)] for a in self.arrays]

    def get_seq_length(self) -> int:
        return int(self.arrays[0].shape[2])


def session_options(threads: int | None = None) -> Any:
    """One intra-op thread per physical core (unset, prefill ran on one core), and no
    spinning between runs (spinning threads halved decode speed on a shared 2-core box)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is None:
        try:
            import psutil

            threads = psutil.cpu_count(logical=False) or os.cpu_count() or 1
        except ImportError:
            threads = os.cpu_count() or 1
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # the LoRA defaults are initializers that are also inputs
    return options


class OrtEngine(Engine):
    def __init__(self, directory: Path, tokenizer: Any, *, prefill_chunk: int = 512,
                 threads: int | None = None) -> None:
        import onnxruntime as ort

        self._setup(tokenizer, prefill_chunk)
        self.model = None
        self.info = GraphInfo.load(directory)
        self.session = ort.InferenceSession(str(directory / "model.onnx"),
                                            session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self.adapter: Any = None
        self.adapter_key: str | None = None

    def use_adapter(self, key: str | None, adapter: Any = None) -> bool:
        """Activate a loaded `onnxruntime.LoraAdapter` (None: the base model); True when
        that changed anything."""
        if key == self.adapter_key:
            return False
        self.adapter, self.adapter_key = adapter, key
        self.reset()
        return True

    def _empty(self) -> _ArrayCache:
        shape = (1, self.info.kv_heads, 0, self.info.head_dim)
        return _ArrayCache([np.zeros(shape, np.float32) for _ in range(2 * self.info.layers)])

    def _forward(self, ids: Any, keep: int = 1) -> torch.Tensor:
        import onnxruntime as ort

        if self._cache is None:
            self._cache = self._empty()
        cache: _ArrayCache = self._cache
        start = cache.get_seq_length()
        feed: dict[str, np.ndarray] = {
            "input_ids": np.asarray([list(ids)], dtype=np.int64),
            "position_ids": np.arange(start, start + len(ids), dtype=np.int64)[None]}
        for i in range(self.info.layers):
            feed[f"past_key_values.{i}.key"] = cache.arrays[2 * i]
            feed[f"past_key_values.{i}.value"] = cache.arrays[2 * i + 1]
        options = ort.RunOptions()
        if self.adapter is not None:
            options.add_active_adapter(self.adapter)
        logits, *present = self.session.run(None, feed, options)
        cache.arrays = present
        self._cached_ids.extend(ids)
        return torch.from_numpy(np.ascontiguousarray(logits[0, -keep:]))
