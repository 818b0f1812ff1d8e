"""The predictor (encoder + regressor head, normalisation included) as a small ONNX graph,
run with onnxruntime, plus a json of feature names and normalisation.

Why: a hint on save must cost milliseconds and the server should not need torch on this
path. The graph takes the raw feature vectors `features` [B, F] (float32) and returns
`log_seconds` [B]; the json makes the graph self-describing (feature order, the corpus
normalisation, how it was trained), so a model built with another feature set is refused
rather than silently misread.

The shipped model lives in `selector/perf/model/` (`perf.onnx`, `perf.json`, and the torch
weights `perf.pt` that the tests and the benchmark compare against).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from selector.perf.features import FEATURE_NAMES

SHIPPED_DIR = Path(__file__).resolve().parent / "model"
ONNX_NAME = "perf.onnx"
META_NAME = "perf.json"
TORCH_NAME = "perf.pt"


class ModelMismatchError(ValueError):
    """The model was built for a different feature set than this code extracts."""


@dataclass
class ModelMeta:
    feature_names: list[str]
    mean: list[float]
    std: list[float]
    hidden: int = 128
    code: int = 32
    info: dict[str, Any] = field(default_factory=dict)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def export(net: Any, directory: Path, info: dict[str, Any] | None = None) -> Path:
    """Write `perf.onnx`, `perf.json` and `perf.pt` for a trained `model.PerfNet`."""
    import io

    import torch

    directory = Path(directory)
    net.eval()
    dummy = torch.zeros(2, len(FEATURE_NAMES))
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=ONNX_NAME + ".")
    os.close(fd)
    torch.onnx.export(net, (dummy,), tmp, input_names=["features"],
                      output_names=["log_seconds"], dynamo=False, opset_version=17,
                      dynamic_axes={"features": {0: "batch"}, "log_seconds": {0: "batch"}})
    os.chmod(tmp, 0o644)
    os.replace(tmp, directory / ONNX_NAME)
    meta = ModelMeta(list(FEATURE_NAMES), net.mean.tolist(), net.std.tolist(),
                     hidden=net.encoder[0].out_features, code=net.encoder[-1].out_features,
                     info=info or {})
    _atomic_write(directory / META_NAME, json.dumps(meta.__dict__, indent=1).encode())
    weights = io.BytesIO()  # the decoder only matters for pre-training: not shipped
    torch.save({k: v for k, v in net.state_dict().items() if not k.startswith("decoder.")},
               weights)
    _atomic_write(directory / TORCH_NAME, weights.getvalue())
    return directory / ONNX_NAME


def load_meta(directory: Path) -> ModelMeta:
    meta = ModelMeta(**json.loads((Path(directory) / META_NAME).read_text()))
    if list(meta.feature_names) != list(FEATURE_NAMES):
        raise ModelMismatchError(f"{directory} was built for other features; "
                                 "rebuild it with `tailor perf --train`")
    return meta


def load_torch(directory: Path = SHIPPED_DIR) -> Any:
    """The torch `PerfNet` of a model directory (for tests, benchmarks and fine-tuning; the
    decoder is not shipped and stays at its initial weights)."""
    import torch

    from selector.perf.model import PerfNet

    meta = load_meta(directory)
    net = PerfNet(len(meta.feature_names), hidden=meta.hidden, code=meta.code)
    result = net.load_state_dict(torch.load(Path(directory) / TORCH_NAME, weights_only=True),
                                 strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("decoder.")]
    if missing or result.unexpected_keys:
        raise ModelMismatchError(f"{directory}: weights do not fit the network "
                                 f"(missing {missing}, unexpected {result.unexpected_keys})")
    net.eval()
    return net


class OnnxPredictor:
    """onnxruntime session over `perf.onnx`: raw feature rows -> log seconds."""

    def __init__(self, directory: Path = SHIPPED_DIR, threads: int = 1) -> None:
        import onnxruntime as ort

        self.directory = Path(directory)
        self.meta = load_meta(self.directory)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.directory / ONNX_NAME), options,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        (out,) = self.session.run(["log_seconds"], {"features": x})
        return np.asarray(out, dtype=np.float64).reshape(-1)


class TorchPredictor:
    """The same interface over the torch model (for comparisons and benchmarks)."""

    def __init__(self, directory: Path = SHIPPED_DIR) -> None:
        self.net = load_torch(directory)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        import torch

        x = np.asarray(features, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        with torch.no_grad():
            return self.net(torch.from_numpy(x)).numpy().astype(np.float64).reshape(-1)


@lru_cache(maxsize=4)
def shipped_predictor(directory: str | None = None) -> OnnxPredictor:
    """The onnxruntime predictor, loaded once per process."""
    return OnnxPredictor(Path(directory) if directory else SHIPPED_DIR)
