"""The ONNX export of a tiny model: same logits as PyTorch with and without the KV cache,
and repository adapters switched per request without touching the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import CharTokenizer, tiny_llama

from adapters import lora
from adapters.onnx_export import GraphInfo, convert_adapter, export

VOCAB = len(CharTokenizer())


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GraphInfo]:
    directory = tmp_path_factory.mktemp("graph")
    info = export(tiny_llama(VOCAB), directory)
    return directory, info


def session(directory: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(directory / "model.onnx"), options,
                                providers=["CPUExecutionProvider"])


def run(sess: ort.InferenceSession, info: GraphInfo, ids: list[int],
        past: list[np.ndarray] | None = None, adapter: object = None
        ) -> tuple[np.ndarray, list[np.ndarray]]:
    start = 0 if past is None else past[0].shape[2]
    if past is None:
        past = [np.zeros((1, info.kv_heads, 0, info.head_dim), np.float32)
                for _ in range(2 * info.layers)]
    feed = {"input_ids": np.array([ids], np.int64),
            "position_ids": np.arange(start, start + len(ids), dtype=np.int64)[None]}
    for i in range(info.layers):
        feed[f"past_key_values.{i}.key"] = past[2 * i]
        feed[f"past_key_values.{i}.value"] = past[2 * i + 1]
    options = ort.RunOptions()
    if adapter is not None:
        options.add_active_adapter(adapter)
    logits, *present = sess.run(None, feed, options)
    return logits, present


def torch_logits(model: torch.nn.Module, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits.numpy()


def random_adapter(info: GraphInfo, directory: Path, seed: int
                   ) -> tuple[torch.nn.Module, ort.LoraAdapter]:
    """A LoRA adapter of the tiny model with random B matrices (peft starts them at zero),
    saved as the store does and converted for the graph: (peft model, loaded adapter)."""
    peft_model = lora.attach(tiny_llama(VOCAB))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    saved = lora.save_adapter(peft_model, directory / f"a{seed}", {"seed": seed})
    adapter = ort.LoraAdapter()
    adapter.Load(str(convert_adapter(saved, directory / f"a{seed}.onnx_adapter", info)))
    return peft_model, adapter


IDS = [5, 9, 13, 2, 40, 41, 7, 7, 30, 1, 22, 103]


def test_the_graph_gives_pytorchs_logits(exported: tuple[Path, GraphInfo]) -> None:
    directory, info = exported
    assert len(info.lora_inputs) == 2 * 7 * info.layers  # A and B of every recipe target
    logits, _ = run(session(directory), info, IDS)
    np.testing.assert_allclose(logits, torch_logits(tiny_llama(VOCAB), IDS), atol=1e-4)


def test_feeding_the_cache_gives_the_same_logits_as_one_pass(
        exported: tuple[Path, GraphInfo]) -> None:
    directory, info = exported
    sess = session(directory)
    whole, _ = run(sess, info, IDS)
    past = None
    pieces = []
    for chunk in (IDS[:7], IDS[7:10], IDS[10:11], IDS[11:]):
        logits, past = run(sess, info, chunk, past)
        pieces.append(logits)
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-5)


def test_adapters_switch_per_request(exported: tuple[Path, GraphInfo], tmp_path: Path) -> None:
    directory, info = exported
    base = tiny_llama(VOCAB)
    adapters = []
    expected = []
    for seed in (1, 2):
        peft_model, adapter = random_adapter(info, tmp_path, seed)
        adapters.append(adapter)
        expected.append(torch_logits(peft_model, IDS))
    sess = session(directory)
    first, _ = run(sess, info, IDS, adapter=adapters[0])
    second, _ = run(sess, info, IDS, adapter=adapters[1])
    plain, _ = run(sess, info, IDS)
    np.testing.assert_allclose(first, expected[0], atol=1e-4)
    np.testing.assert_allclose(second, expected[1], atol=1e-4)
    np.testing.assert_allclose(plain, torch_logits(base, IDS), atol=1e-4)
    assert np.abs(first - plain).max() > 1e-2 and np.abs(first - second).max() > 1e-2


def test_an_adapter_for_another_model_is_refused(exported: tuple[Path, GraphInfo],
                                                 tmp_path: Path) -> None:
    _, info = exported
    other = GraphInfo(layers=1, kv_heads=1, head_dim=8, lora_inputs=info.lora_inputs[:14])
    saved = lora.save_adapter(lora.attach(tiny_llama(VOCAB)), tmp_path / "a", {})
    with pytest.raises(ValueError, match="has no input in the exported graph"):
        convert_adapter(saved, tmp_path / "x.onnx_adapter", other)


def test_the_onnxruntime_engine_decodes_like_the_pytorch_engine(
        exported: tuple[Path, GraphInfo]) -> None:
    """Same greedy tokens, same prefix reuse, for a sequence of prompts an editor sends."""
    from adapters.engine import Engine
    from adapters.ort_engine import OrtEngine

    directory, _ = exported
    tokenizer = CharTokenizer()
    reference = Engine(tiny_llama(VOCAB), tokenizer)
    engine = OrtEngine(directory, tokenizer, threads=1)
    base = "def read(path):\n    with open(path) as f:\n        return f."
    for text in (base, base + "r", base + "re", base[:20], "class Point:\n    x"):
        prompt = tokenizer.encode(text)
        ours = engine.generate(prompt, max_new_tokens=12)
        theirs = reference.generate(prompt, max_new_tokens=12)
        assert ours.token_ids == theirs.token_ids, text
        assert ours.timing.reused_tokens == theirs.timing.reused_tokens, text
    drafted = engine.generate(tokenizer.encode(base), max_new_tokens=12,
                              draft_from=tokenizer.encode(base))
    assert drafted.token_ids == reference.generate(tokenizer.encode(base),
                                                   max_new_tokens=12).token_ids


def test_the_onnxruntime_engine_switches_adapters_like_peft(
        exported: tuple[Path, GraphInfo], tmp_path: Path) -> None:
    from adapters.engine import Engine
    from adapters.ort_engine import OrtEngine

    directory, info = exported
    tokenizer = CharTokenizer()
    peft_model, adapter = random_adapter(info, tmp_path, 3)
    engine = OrtEngine(directory, tokenizer, threads=1)
    prompt = tokenizer.encode("def area(r):\n    return ")
    base = engine.generate(prompt, max_new_tokens=10).token_ids
    assert engine.use_adapter("repo/v1", adapter) and engine.cached_tokens == 0
    tuned = engine.generate(prompt, max_new_tokens=10).token_ids
    assert tuned == Engine(peft_model, tokenizer).generate(prompt, max_new_tokens=10).token_ids
    assert tuned != base
    assert not engine.use_adapter("repo/v1", adapter)  # the same adapter: the cache stays
    assert engine.use_adapter(None)
    assert engine.generate(prompt, max_new_tokens=10).token_ids == base


@pytest.mark.parametrize("kind", ["int8", "int4"])
def test_a_quantised_graph_keeps_float_lora_inputs_and_its_adapters(
        exported: tuple[Path, GraphInfo], tmp_path: Path, kind: str) -> None:
    from adapters.onnx_export import quantize

    directory, info = exported
    target = quantize(directory, tmp_path / kind, kind)
    sess = session(target)
    ops = {node.op_type for node in onnx.load(str(target / "model.onnx")).graph.node}
    quantised_op = {"int8": {"MatMulInteger", "DynamicQuantizeMatMul"},
                    "int4": {"MatMulNBits"}}[kind]
    assert ops & quantised_op
    full, _ = run(session(directory), info, IDS)
    quantised, _ = run(sess, info, IDS)
    assert np.abs(quantised - full).max() < 0.5 * np.abs(full).max()  # close, not equal
    _, adapter = random_adapter(info, tmp_path, 0)
    tuned, _ = run(sess, info, IDS, adapter=adapter)
    assert np.abs(tuned - quantised).max() > 1e-2  # the LoRA inputs still act


def test_an_unknown_quantisation_is_refused(exported: tuple[Path, GraphInfo],
                                            tmp_path: Path) -> None:
    from adapters.onnx_export import quantize

    with pytest.raises(ValueError, match="unknown quantisation"):
        quantize(exported[0], tmp_path / "q", "int3")
