"""What every onnxruntime graph of Tailor shares: its description (`graph.json`) and the
conversion of a stored peft adapter into onnxruntime's adapter format for it.

The graph (`adapters.ort_fast.build`) takes each LoRA A/B matrix of the adapter recipe as
an input with an empty (rank-0) default, so one base graph serves every repository. The
LoRA scaling in the graph is 1; each adapter's alpha/r is folded into its B matrices when
it is converted, so switching adapters is binding other tensors.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_PEFT_PREFIX = "base_model.model.model."


@dataclass
class GraphInfo:
    layers: int
    kv_heads: int
    head_dim: int
    lora_inputs: list[str]

    def save(self, directory: Path) -> None:
        (directory / "graph.json").write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, directory: Path) -> GraphInfo:
        return cls(**json.loads((directory / "graph.json").read_text()))


def graph_name(peft_name: str) -> str:
    """`base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight` ->
    `layers.0.self_attn.q_proj.lora_A` (also for the names in a saved adapter file)."""
    name = peft_name.removeprefix(_PEFT_PREFIX)
    for suffix in (".default.weight", ".weight"):
        name = name.removesuffix(suffix)
    return name


def convert_adapter(adapter_dir: Path, target: Path, info: GraphInfo) -> Path:
    """A peft adapter directory -> an `.onnx_adapter` file for `info`'s graph, with the
    adapter's alpha/r folded into its B matrices."""
    import numpy as np
    import onnxruntime as ort
    from safetensors.numpy import load_file

    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    scale = float(config["lora_alpha"]) / float(config["r"])
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    wanted = set(info.lora_inputs)
    parameters = {}
    for key, array in tensors.items():
        name = graph_name(key)
        if name not in wanted:
            raise ValueError(f"{adapter_dir}: {key} has no input in the exported graph")
        value = array.astype(np.float32) * (scale if ".lora_B" in name else 1.0)
        parameters[name] = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value))
    missing = wanted - set(parameters)
    if missing:
        raise ValueError(f"{adapter_dir}: no tensor for {sorted(missing)[0]} "
                         f"(and {len(missing) - 1} more)")
    adapter = ort.AdapterFormat()
    adapter.set_adapter_version(1)
    adapter.set_model_version(1)
    adapter.set_parameters(parameters)
    target.parent.mkdir(parents=True, exist_ok=True)
    adapter.export_adapter(str(target))
    return target
