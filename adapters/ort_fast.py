"""The fast onnxruntime decode path: onnxruntime-genai's model builder graph, LoRA as inputs,
and a KV cache that is written in place.

Why not a traced export (torch's dynamo exporter, Tailor's first version): its graph
concatenated past and new keys on every step (the whole cache copied per token), had no
fused attention or norms, and handed ~60 KV arrays through `session.run` each step; it
decoded about 2x faster than PyTorch, this graph about 4x. The model builder of
onnxruntime-genai writes a graph with
`GroupQueryAttention` (rotary inside, past and present may share one buffer),
`SkipSimplifiedLayerNormalization` and, quantised, `MatMulNBits`. It only bakes adapters in,
so `build` adds a LoRA branch to every projection itself, `y += (x @ A^T) @ B^T`, with A
`[r, in]` and B `[out, r]` as graph inputs named as in `onnx_graph` (so
`onnx_graph.convert_adapter` writes adapters for this graph too) and rank-0 defaults (no
adapter = the base model). It also slices the hidden states before the output layer to the
last `logits_to_keep` positions: a prefill needs one row of logits, not a 49,152-wide row
per prompt token.

`FastEngine` runs the graph with plain onnxruntime and an `IOBinding`: each layer's keys and
values live in one preallocated buffer bound as both past and present, so a step copies no
cache and binds only the new ids, the mask and the logits. The adapter's tensors are bound
as inputs (`run_with_iobinding` ignores `RunOptions` adapters). Cropping the cache to a
common prefix only moves its length: the attention reads `attention_mask`'s length, and the
next run overwrites the stale tail.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adapters.engine import Engine
from adapters.onnx_graph import GraphInfo, convert_adapter

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "int8", "int4")
KEEP_INPUT = "logits_to_keep"

# The builder's node names -> the peft module names of the LoRA recipe. The builder packs
# q, k and v into one `qkv_proj` MatMul whose output is [q | k | v].
_PROJECTION = re.compile(r"^/model/layers\.(\d+)/(attn|mlp)/(\w+_proj)/MatMul")
_PEFT_MODULE = {"q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj",
                "v_proj": "self_attn.v_proj", "o_proj": "self_attn.o_proj",
                "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj",
                "down_proj": "mlp.down_proj"}


def build(model_dir: Path, target: Path, precision: str = "int4", *,
          accuracy_level: int = 4) -> GraphInfo:
    """Build the graph of the HF model in `model_dir` into `target` (model.onnx + data,
    genai_config.json, graph.json). Takes seconds (no tracing).

    int8 is the builder's weight-only `MatMulNBits` (8 bits, blocks of 32). int4 is ours,
    see `_quantize_int4`: the builder's own int4 (symmetric or with integer zero points)
    changed 28 % of the real model's greedy choices. Accuracy level 4 computes `MatMulNBits`
    with int8 activations, the fastest CPU kernel."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    import onnx
    from onnxruntime_genai.models import builder

    target.mkdir(parents=True, exist_ok=True)
    cache = target / ".build-cache"
    produce = "int8" if precision == "int8" else "fp32"
    options = [f"accuracy_level={accuracy_level}"] if produce == "int8" else []
    quiet = io.StringIO()
    for name in ("onnxruntime.quantization", "onnxruntime.quantization.matmul_nbits_quantizer"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:  # the builder prints every layer and tensor
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            extra = builder.parse_extra_options(None, str(model_dir), str(target), produce,
                                                "cpu", str(cache), options)
            builder.create_model(None, str(model_dir), str(target), produce, "cpu",
                                 str(cache), **extra)
    except Exception:
        log.error("model builder output:\n%s", quiet.getvalue()[-4000:])
        raise
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if precision == "int4":
        model = onnx.load(str(target / "model.onnx"))
        _quantize_int4(model.graph, accuracy_level)
        (target / "model.onnx.data").unlink()
        onnx.save_model(model, str(target / "model.onnx"), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="model.onnx.data")
    return add_lora_and_keep(target)


def _quantize_int4(graph: Any, accuracy_level: int, block: int = 32) -> None:
    """Weight-only int4 in the layout of llama.cpp's Q4_1: per block of 32 inputs a scale d
    and a float minimum m, w = d * q + m with q in 0..15. The default model comes from a
    Q4_1 GGUF, so this re-encodes its projections exactly (the builder's int4 cannot: its
    zero points are integers). `MatMulNBits` has no float minimum, so each projection is
    `MatMulNBits(x, q, d)` (zero point 8) plus `blocksums(x) @ (m + 8 d)`, a [*, K/32] x
    [K/32, N] product. The output layer gets symmetric 8 bits, exact for Q8_0 weights."""
    from onnx import TensorProto, helper, numpy_helper

    weights = {i.name: i for i in graph.initializer}
    nodes: list[Any] = []
    sums: dict[str, str] = {}  # input -> its block sums, shared by gate and up
    for node in graph.node:
        head = node.name.startswith("/lm_head/")
        if node.op_type != "MatMul" or node.input[1] not in weights or not (
                head or _PROJECTION.match(node.name)):
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)  # [K, N]
        fan_in, fan_out = w.shape
        if fan_in % block:
            nodes.append(node)
            continue
        blocks = w.T.reshape(fan_out, fan_in // block, block)
        x, y, name = node.input[0], node.output[0], node.input[1]
        if head:
            scale = np.abs(blocks).max(-1, keepdims=True) / 127
            scale[scale == 0] = 1
            packed = (np.rint(blocks / scale) + 128).astype(np.uint8)
            bits, main = 8, y
        else:
            low, high = blocks.min(-1, keepdims=True), blocks.max(-1, keepdims=True)
            scale = (high - low) / 15
            scale[scale == 0] = 1
            q = np.clip(np.rint((blocks - low) / scale), 0, 15).astype(np.uint8)
            packed = q[..., 0::2] | (q[..., 1::2] << 4)
            bits, main = 4, f"{y}/q4"
            if x not in sums:
                sums[x] = f"/q4/{name}/sums"
                graph.initializer.append(helper.make_tensor(
                    f"/q4/{name}/shape", TensorProto.INT64, [4], [0, 0, fan_in // block, block]))
                graph.initializer.append(helper.make_tensor(f"/q4/{name}/axes",
                                                            TensorProto.INT64, [1], [-1]))
                nodes.append(helper.make_node("Reshape", [x, f"/q4/{name}/shape"],
                                              [f"/q4/{name}/blocks"], name=f"/q4/{name}/Reshape"))
                nodes.append(helper.make_node("ReduceSum", [f"/q4/{name}/blocks",
                                                            f"/q4/{name}/axes"], [sums[x]],
                                              keepdims=0, name=f"/q4/{name}/ReduceSum"))
            offset = (low + 8 * scale)[..., 0].T  # [K/32, N]
            graph.initializer.append(numpy_helper.from_array(
                np.ascontiguousarray(offset, dtype=np.float32), f"{name}_min"))
            nodes.append(helper.make_node("MatMul", [sums[x], f"{name}_min"], [f"{y}/min"],
                                          name=f"/q4/{name}/MatMul"))
            nodes.append(helper.make_node("Add", [main, f"{y}/min"], [y],
                                          name=f"/q4/{name}/Add"))
        graph.initializer.extend([
            numpy_helper.from_array(packed.reshape(fan_out, fan_in // block, -1), f"{name}_Q"),
            numpy_helper.from_array(scale.reshape(-1).astype(np.float32), f"{name}_scales")])
        nodes.append(helper.make_node(
            "MatMulNBits", [x, f"{name}_Q", f"{name}_scales"], [main], name=f"{node.name}_Q",
            domain="com.microsoft", K=fan_in, N=fan_out, bits=bits, block_size=block,
            accuracy_level=accuracy_level))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    _sort_topologically(graph)


def add_lora_and_keep(directory: Path) -> GraphInfo:
    """Patch the builder's `model.onnx` in `directory` in place (the weights stay in their
    external data file): LoRA inputs on every projection, and `logits_to_keep`."""
    import onnx

    path = directory / "model.onnx"
    model = onnx.load(str(path), load_external_data=False)
    config = json.loads((directory / "genai_config.json").read_text())["model"]["decoder"]
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim, layers = config["head_size"], config["num_hidden_layers"]
    sizes = {"q_proj": heads * head_dim, "k_proj": kv_heads * head_dim,
             "v_proj": kv_heads * head_dim}
    names = _add_lora(model.graph, sizes)
    _add_keep(model.graph)
    onnx.save_model(model, str(path))
    info = GraphInfo(layers=layers, kv_heads=kv_heads, head_dim=head_dim, lora_inputs=names)
    info.save(directory)
    return info


def _add_lora(graph: Any, qkv_sizes: Mapping[str, int]) -> list[str]:
    """`y = x @ W` becomes `y = x @ W + (x @ A^T) @ B^T` for each projection; returns the
    new input names. `FusedMatMul` with transB reads A and B as stored (no Transpose node)."""
    from onnx import TensorProto, helper

    new_nodes: list[Any] = []
    names: list[str] = []

    def branch(x: str, name: str, fan_in: int, fan_out: int) -> str:
        """(x @ A^T) @ B^T for the module `name`, with its two inputs; returns the output."""
        a, b = f"{name}.lora_A", f"{name}.lora_B"
        shapes: list[tuple[str, list[str | int | None], list[int]]] = [
            (a, ["lora_rank", fan_in], [0, fan_in]), (b, [fan_out, "lora_rank"], [fan_out, 0])]
        for input_name, shape, empty in shapes:
            graph.input.append(helper.make_tensor_value_info(input_name, TensorProto.FLOAT,
                                                             shape))
            graph.initializer.append(helper.make_tensor(input_name, TensorProto.FLOAT, empty,
                                                        []))
            names.append(input_name)
        new_nodes.append(helper.make_node("FusedMatMul", [x, a], [f"/lora/{name}/xa"],
                                          name=f"/lora/{name}/A", domain="com.microsoft",
                                          transB=1))
        new_nodes.append(helper.make_node("FusedMatMul", [f"/lora/{name}/xa", b],
                                          [f"/lora/{name}/out"], name=f"/lora/{name}/B",
                                          domain="com.microsoft", transB=1))
        return f"/lora/{name}/out"

    weights = {i.name: i for i in graph.initializer}
    for node in graph.node:
        match = _PROJECTION.match(node.name)
        if match is None or node.op_type not in ("MatMul", "MatMulNBits"):
            continue
        layer, proj = match.group(1), match.group(3)
        fan_in, fan_out = _matmul_shape(node, weights)
        x, y = node.input[0], node.output[0]
        base = f"{y}/base"
        node.output[0] = base
        if proj == "qkv_proj":
            parts = [branch(x, f"layers.{layer}.{_PEFT_MODULE[p]}", fan_in, qkv_sizes[p])
                     for p in ("q_proj", "k_proj", "v_proj")]
            lora = f"/lora/layers.{layer}.qkv/out"
            new_nodes.append(helper.make_node("Concat", parts, [lora], axis=-1,
                                              name=f"/lora/layers.{layer}.qkv/Concat"))
        else:
            lora = branch(x, f"layers.{layer}.{_PEFT_MODULE[proj]}", fan_in, fan_out)
        new_nodes.append(helper.make_node("Add", [base, lora], [y], name=f"{node.name}/lora"))
    if not names:
        raise ValueError("no projection MatMul found: not a model builder graph?")
    graph.node.extend(new_nodes)
    _sort_topologically(graph)
    return names


def _matmul_shape(node: Any, weights: Mapping[str, Any]) -> tuple[int, int]:
    """(in, out) of a MatMul with a constant weight or of a MatMulNBits (attributes K, N)."""
    if node.op_type == "MatMulNBits":
        attrs = {a.name: a.i for a in node.attribute}
        return int(attrs["K"]), int(attrs["N"])
    dims = list(weights[node.input[1]].dims)
    return int(dims[0]), int(dims[1])


def _add_keep(graph: Any) -> None:
    """Slice the output layer's input to the last `logits_to_keep` positions. A required
    input: as an overridable initializer ORT optimised it away (IOBinding then refused it)."""
    from onnx import TensorProto, helper

    lm_head = next(n for n in graph.node if n.name.startswith("/lm_head/"))
    hidden = lm_head.input[0]
    graph.input.append(helper.make_tensor_value_info(KEEP_INPUT, TensorProto.INT64, [1]))
    graph.initializer.extend([
        helper.make_tensor("/keep/ends", TensorProto.INT64, [1], [2**62]),
        helper.make_tensor("/keep/axes", TensorProto.INT64, [1], [1])])
    graph.node.extend([
        helper.make_node("Neg", [KEEP_INPUT], ["/keep/starts"], name="/keep/Neg"),
        helper.make_node("Slice", [hidden, "/keep/starts", "/keep/ends", "/keep/axes"],
                         ["/keep/hidden"], name="/keep/Slice")])
    lm_head.input[0] = "/keep/hidden"
    _sort_topologically(graph)


def _sort_topologically(graph: Any) -> None:
    """ONNX wants producers before consumers; the new nodes were appended at the end."""
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[Any] = []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise ValueError(f"graph has a cycle or a missing input near {pending[0].name}")
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
        for n in ready:
            known.update(n.output)
        ordered += ready
    del graph.node[:]
    graph.node.extend(ordered)


def session_options(threads: int | None = None) -> Any:
    """One intra-op thread per physical core, and no spinning between runs (spinning threads
    halved decode speed on a shared 2-core box)."""
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


def load_adapter(source: Path | str, info: GraphInfo) -> dict[str, Any]:
    """An adapter's tensors as `OrtValue`s named as the graph's inputs, from an
    `.onnx_adapter` file or a peft adapter directory (converted in a temporary file).
    Cache the result per repository: binding it costs nothing, reading it ~10 ms."""
    import tempfile

    import onnxruntime as ort

    path = Path(source)
    if path.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            return load_adapter(convert_adapter(path, Path(tmp) / "a.onnx_adapter", info), info)
    parameters = ort.AdapterFormat.read_adapter(str(path)).get_parameters()
    # Own copies: the values read from the file must not outlive its reader.
    return {name: ort.OrtValue.ortvalue_from_numpy(np.array(value.numpy()))
            for name, value in parameters.items()}


class _KvCache:
    """The KV buffers' valid length, with the two methods `Engine` calls on a cache."""

    def __init__(self) -> None:
        self.length = 0

    def crop(self, count: int) -> None:
        """Keep `count` tokens, or drop `-count` from the end (as transformers' crop)."""
        keep = self.length + count if count < 0 else count
        self.length = max(0, min(self.length, keep))

    def get_seq_length(self) -> int:
        return self.length


def build_prefill(fp32_dir: Path, target: Path) -> Path:
    """A graph for long prompt chunks: the fp32 graph with dynamic int8 matrix products
    (int8 weights per channel, activations quantised on the fly). Prefill is arithmetic:
    VNNI int8 products did it in about half the time of int4 `MatMulNBits` here, while
    decoding (memory traffic) stays on the int4 graph. Same inputs and outputs, so both
    graphs share one KV cache. The LoRA branches are not constant products and stay float."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.mkdir(parents=True, exist_ok=True)
    logging.getLogger("onnxruntime.quantization").setLevel(logging.ERROR)
    graph = onnx.load(str(fp32_dir / "model.onnx"), load_external_data=False).graph
    # The output layer stays float: its logits pick the first token directly, and with
    # `logits_to_keep` it computes one row, so quantising it would save nothing.
    output_layer = [n.name for n in graph.node if n.op_type == "MatMul" and "lm_head" in n.name]
    quantize_dynamic(str(fp32_dir / "model.onnx"), str(target / "model.onnx"),
                     op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                     per_channel=True, use_external_data_format=True,
                     nodes_to_exclude=output_layer, extra_options={"MatMulConstBOnly": True})
    for name in ("graph.json", "genai_config.json"):
        shutil.copy(fp32_dir / name, target / name)
    return target


class FastEngine(Engine):
    """`Engine` on a `build` graph; same decoding, reuse, drafts and stop rules.

    With `prefill` (a `build_prefill` graph), chunks of at least `PREFILL_MIN` tokens run
    there and shorter ones (decode steps, drafts, a typed character) on `directory`'s graph;
    both write the same KV buffers."""

    PREFILL_MIN = 64

    def __init__(self, directory: Path, tokenizer: Any, *, prefill_chunk: int = 512,
                 threads: int | None = None, capacity: int = 2048,
                 prefill: Path | None = None) -> None:
        import onnxruntime as ort

        self._setup(tokenizer, prefill_chunk)
        self.model = None
        self.info = GraphInfo.load(directory)
        genai = json.loads((directory / "genai_config.json").read_text())
        self.max_tokens = int(genai["model"]["context_length"])
        self.session = ort.InferenceSession(str(directory / "model.onnx"),
                                            session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self.binding = self.session.io_binding()
        self.runs = [(self.session, self.binding)]
        if prefill is not None:
            long = ort.InferenceSession(str(prefill / "model.onnx"), session_options(threads),
                                        providers=["CPUExecutionProvider"])
            self.runs.append((long, long.io_binding()))
        self.adapter: Mapping[str, Any] | None = None
        self.adapter_key: str | None = None
        self._ones = np.ones((1, self.max_tokens), dtype=np.int64)
        self._buffers: list[np.ndarray] = []
        self._allocate(min(capacity, self.max_tokens))

    def _allocate(self, capacity: int) -> None:
        """(Re)allocate the per-layer buffers with room for `capacity` tokens, keeping the
        cached part."""
        shape = (1, self.info.kv_heads, capacity, self.info.head_dim)
        keep = self._cache.length if isinstance(self._cache, _KvCache) else 0
        old = self._buffers
        self._buffers = [np.zeros(shape, np.float32) for _ in range(2 * self.info.layers)]
        for new, previous in zip(self._buffers, old, strict=False):
            new[:, :, :keep] = previous[:, :, :keep]
        self._bind()

    def _bind(self) -> None:
        """Bind each buffer as both past and present, and the adapter's tensors (unbound
        LoRA inputs fall back to their rank-0 defaults). Logits come first, so that they
        are `get_outputs()[0]`."""
        import onnxruntime as ort

        values = [ort.OrtValue.ortvalue_from_numpy(b) for b in self._buffers]
        for _, binding in self.runs:
            binding.clear_binding_inputs()
            binding.clear_binding_outputs()
            binding.bind_output("logits", "cpu")
            for i in range(self.info.layers):
                for j, kind in enumerate(("key", "value")):
                    binding.bind_ortvalue_input(f"past_key_values.{i}.{kind}",
                                                values[2 * i + j])
                    binding.bind_ortvalue_output(f"present.{i}.{kind}", values[2 * i + j])
            for name, tensor in (self.adapter or {}).items():
                binding.bind_ortvalue_input(name, tensor)

    @property
    def capacity(self) -> int:
        return int(self._buffers[0].shape[2])

    def use_adapter(self, key: str | None, adapter: Mapping[str, Any] | Path | str | None = None
                    ) -> bool:
        """Switch to an adapter: `load_adapter`'s tensors, an `.onnx_adapter` file or a peft
        directory (None: the base model). True when that changed anything; the cache is
        reset then, since its keys were computed with other weights."""
        if key == self.adapter_key:
            return False
        if isinstance(adapter, str | Path):
            adapter = load_adapter(adapter, self.info)
        self.adapter, self.adapter_key = adapter, key
        self.reset()
        self._bind()
        return True

    def _forward(self, ids: Sequence[int], keep: int = 1) -> torch.Tensor:
        if self._cache is None:
            self._cache = _KvCache()
        cache: _KvCache = self._cache
        total = cache.length + len(ids)
        if total > self.max_tokens:
            raise ValueError(f"{total} tokens exceed the model's context of {self.max_tokens}")
        if total > self.capacity:
            grown = max(total + 256, self.capacity + self.capacity // 2)
            self._allocate(min(self.max_tokens, -(-grown // 256) * 256))
        feed = {"input_ids": np.asarray([list(ids)], dtype=np.int64),
                "attention_mask": self._ones[:, :total],
                KEEP_INPUT: np.asarray([keep], dtype=np.int64)}
        session, binding = self.runs[-1] if len(ids) >= self.PREFILL_MIN else self.runs[0]
        for name, array in feed.items():
            binding.bind_cpu_input(name, array)
        binding.bind_output("logits", "cpu")  # unallocated again: `keep` may change
        session.run_with_iobinding(binding)
        logits = binding.get_outputs()[0].numpy()
        cache.length = total
        self._cached_ids.extend(ids)
        return torch.from_numpy(logits[0, -keep:])
