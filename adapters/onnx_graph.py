"""Export a base model to ONNX once, with the KV cache and the LoRA matrices as graph inputs.

Groundwork for the onnxruntime backend (issue 6; `docs/onnx-backend-notes.md` has the
prototype's findings). One graph serves every repository: each LoRA A/B matrix of the
adapter recipe is a graph input with an empty (rank-0) default, so feeding nothing runs the
base model and an `onnxruntime.LoraAdapter` activated per request runs an adapter. The LoRA
scaling is exported as 1; each adapter's alpha/r is folded into its B matrices when it is
converted. The cache is `past_key_values.{i}.key/value` in and `present.{i}.key/value` out,
so a later request feeds only its new tokens. There is no attention mask input: one
sequence, no padding, causal inside the graph.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

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


class _Wrapper(torch.nn.Module):
    """forward(input_ids, position_ids, *past, *lora) -> (logits, *present)."""

    def __init__(self, model: Any, layers: int, lora_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.layers = layers
        self.lora_names = lora_names

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor,
                *flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from torch.func import functional_call
        from transformers import DynamicCache

        past, lora = flat[:2 * self.layers], flat[2 * self.layers:]
        cache = DynamicCache(ddp_cache_data=[(past[2 * i], past[2 * i + 1])
                                             for i in range(self.layers)])
        out = functional_call(self.model, dict(zip(self.lora_names, lora, strict=True)),
                              args=(), kwargs={"input_ids": input_ids,
                                               "position_ids": position_ids, "cache": cache,
                                               "use_cache": True}, strict=False)
        present: list[torch.Tensor] = []
        for layer in out.cache.layers:
            present += [layer.keys, layer.values]
        return (out.logits, *present)


def _peft_model(model: Any, rank: int) -> Any:
    from peft import LoraConfig, get_peft_model

    from adapters.lora import RECIPE_FIELDS

    config = LoraConfig(r=rank, lora_alpha=rank, lora_dropout=0.0,  # scaling 1: see above
                        target_modules=list(RECIPE_FIELDS["target_modules"]),
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config).eval()


def export(model: Any, directory: Path, *, rank: int | None = None) -> GraphInfo:
    """Write `model.onnx` (+ external data) and `graph.json` into `directory`."""
    import onnx

    from adapters.lora import RECIPE_FIELDS

    config = model.config
    layers = config.num_hidden_layers
    kv_heads = config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // \
        config.num_attention_heads
    peft_model = _peft_model(model, rank or int(RECIPE_FIELDS["r"]))
    params = dict(peft_model.named_parameters())
    lora_names = [n for n in params if ".lora_A." in n or ".lora_B." in n]
    wrapper = _Wrapper(peft_model, layers, lora_names).eval()
    ids = torch.zeros((1, 3), dtype=torch.long)
    positions = torch.arange(2, 5).unsqueeze(0)
    dtype = next(model.parameters()).dtype
    past = [torch.zeros((1, kv_heads, 2, head_dim), dtype=dtype) for _ in range(2 * layers)]
    lora = [params[n].detach() for n in lora_names]
    inputs = ["input_ids", "position_ids"]
    outputs = ["logits"]
    for i in range(layers):
        inputs += [f"past_key_values.{i}.key", f"past_key_values.{i}.value"]
        outputs += [f"present.{i}.key", f"present.{i}.value"]
    names = [graph_name(n) for n in lora_names]
    seq = torch.export.Dim("seq", min=1, max=8192)
    cached = torch.export.Dim("past", min=0, max=16384)
    lora_rank = torch.export.Dim("lora_rank", min=1, max=1024)
    shapes = ({1: seq}, {1: seq}, tuple([{2: cached}] * (2 * layers) + [
        {0: lora_rank} if ".lora_A." in n else {1: lora_rank} for n in lora_names]))
    directory.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        program = torch.onnx.export(wrapper, (ids, positions, *past, *lora), dynamo=True,
                                    input_names=inputs + names, output_names=outputs,
                                    dynamic_shapes=shapes, opset_version=18)
    assert program is not None
    graph = program.model_proto
    _add_empty_lora_defaults(graph, names)
    onnx.save_model(graph, str(directory / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data")
    info = GraphInfo(layers=layers, kv_heads=kv_heads, head_dim=head_dim, lora_inputs=names)
    info.save(directory)
    peft_model.unload()  # the caller's model gets its plain modules back
    return info


def _add_empty_lora_defaults(graph: Any, names: list[str]) -> None:
    """A rank-0 zero default for each LoRA input: not fed, it adds nothing (base model)."""
    import numpy as np
    from onnx import numpy_helper

    wanted = set(names)
    for value in graph.graph.input:
        if value.name not in wanted:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else 0
                for d in value.type.tensor_type.shape.dim]
        elem = value.type.tensor_type.elem_type
        array = np.zeros(dims, dtype=_numpy_dtype(elem))
        graph.graph.initializer.append(numpy_helper.from_array(array, value.name))


def _numpy_dtype(elem_type: int) -> Any:
    from onnx import helper

    return helper.tensor_dtype_to_np_dtype(elem_type)


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


QUANTISATIONS = ("int8", "int4")


def quantize(source: Path, target: Path, kind: str) -> Path:
    """A quantised copy of an exported graph: int8 (dynamic, per output channel) or int4
    (blocks of 32, `MatMulNBits`) weights for the constant matrix products; the LoRA inputs
    stay float. Returns `target`."""
    import shutil

    import onnx

    if kind not in QUANTISATIONS:
        raise ValueError(f"unknown quantisation {kind!r}; expected one of {QUANTISATIONS}")
    info = GraphInfo.load(source)
    graph = onnx.load(str(source / "model.onnx"))
    # The LoRA defaults are initializers: as constants the quantisers would quantise them.
    lora = set(info.lora_inputs)
    defaults = [i for i in graph.graph.initializer if i.name in lora]
    weights = [i for i in graph.graph.initializer if i.name not in lora]
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(weights)
    _untie(graph)
    target.mkdir(parents=True, exist_ok=True)
    logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
    if kind == "int4":
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        quantizer = MatMulNBitsQuantizer(graph, bits=4, block_size=32, is_symmetric=True,
                                         accuracy_level=4, op_types_to_quantize=("MatMul",))
        quantizer.process()
        graph = quantizer.model.model
    else:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        staging = target / "staging"
        staging.mkdir(exist_ok=True)
        onnx.save_model(graph, str(staging / "in.onnx"), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="in.onnx.data")
        quantize_dynamic(str(staging / "in.onnx"), str(staging / "out.onnx"),
                         op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                         per_channel=True, use_external_data_format=True)
        graph = onnx.load(str(staging / "out.onnx"))
        shutil.rmtree(staging)
    graph.graph.initializer.extend(defaults)
    onnx.save_model(graph, str(target / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data")
    info.save(target)
    return target


def _untie(graph: Any) -> None:
    """A tied output layer is exported as MatMul(x, Transpose(embedding)); give it its own
    transposed weight so the quantisers see a constant matrix."""
    import numpy as np
    from onnx import numpy_helper

    weights = {i.name: i for i in graph.graph.initializer}
    producer = {out: node for node in graph.graph.node for out in node.output}
    for node in list(graph.graph.node):
        if node.op_type != "MatMul":
            continue
        transpose = producer.get(node.input[1])
        if transpose is None or transpose.op_type != "Transpose" or \
                transpose.input[0] not in weights:
            continue
        array = numpy_helper.to_array(weights[transpose.input[0]])
        if array.ndim != 2:
            continue
        name = transpose.input[0] + ".T"
        graph.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(array.T),
                                                               name))
        node.input[1] = name
        if not any(transpose.output[0] in other.input for other in graph.graph.node):
            graph.graph.node.remove(transpose)
