"""The fast onnxruntime path on a tiny Llama: the model builder's graph with LoRA inputs
gives PyTorch's logits with and without an adapter, its in-place KV cache survives chunks,
crops and growth, and `FastEngine` decodes like the PyTorch engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CharTokenizer, hf_char_tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

from adapters import lora
from adapters.engine import Engine
from adapters.onnx_graph import GraphInfo, convert_adapter
from adapters.ort_fast import FastEngine, build

TOKENIZER = CharTokenizer()
VOCAB = len(TOKENIZER)
TEXT = "def read(path):\n    with open(path) as f:\n        return f.read()\n"


def llama(seed: int = 0) -> LlamaForCausalLM:
    """Big enough for the builder's int4 blocks (32); weights large enough that the choices
    depend on the whole prompt, so a wrong cache shows up as other tokens."""
    torch.manual_seed(seed)
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=VOCAB,
                         max_position_embeddings=256, initializer_range=0.3,
                         tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("hf")
    llama().save_pretrained(directory)
    hf_char_tokenizer().save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def graph(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("fp32")
    build(model_dir, target, "fp32")
    return target


def torch_logits(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


def random_adapter(directory: Path, seed: int) -> tuple[torch.nn.Module, Path]:
    """A saved peft adapter with random B matrices (peft starts them at zero)."""
    peft_model = lora.attach(llama())
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.3)
    return peft_model, lora.save_adapter(peft_model, directory / f"a{seed}", {})


def test_logits_equal_pytorch_whole_chunked_and_after_a_crop(graph: Path) -> None:
    ids = TOKENIZER.encode(TEXT)
    expected = torch_logits(llama(), ids)
    engine = FastEngine(graph, TOKENIZER, threads=1, capacity=16)  # grows twice
    torch.testing.assert_close(engine._forward(ids, keep=len(ids)), expected,
                               atol=1e-4, rtol=1e-4)
    engine.reset()
    pieces = [engine._forward(ids[a:b], keep=b - a)
              for a, b in ((0, 7), (7, 10), (10, 11), (11, len(ids)))]
    torch.testing.assert_close(torch.cat(pieces), expected, atol=1e-4, rtol=1e-4)
    engine._cache.crop(5)  # as Engine._reuse does: later tokens are overwritten
    del engine._cached_ids[5:]
    torch.testing.assert_close(engine._forward(ids[5:], keep=len(ids) - 5), expected[5:],
                               atol=1e-4, rtol=1e-4)
    assert engine._cache.get_seq_length() == len(ids) == engine.cached_tokens


def test_adapters_switch_per_request_like_peft(graph: Path, tmp_path: Path) -> None:
    ids = TOKENIZER.encode(TEXT)
    engine = FastEngine(graph, TOKENIZER, threads=1)
    base = engine._forward(ids, keep=len(ids))
    results = []
    for seed in (1, 2):
        peft_model, saved = random_adapter(tmp_path, seed)
        assert engine.use_adapter(f"repo/{seed}", saved) and engine.cached_tokens == 0
        ours = engine._forward(ids, keep=len(ids))
        torch.testing.assert_close(ours, torch_logits(peft_model, ids), atol=1e-4, rtol=1e-4)
        results.append(ours)
    assert (results[0] - results[1]).abs().max() > 1e-2
    assert (results[0] - base).abs().max() > 1e-2
    # The same adapter as an .onnx_adapter file (converted once per repository).
    converted = convert_adapter(saved, tmp_path / "a2.onnx_adapter", engine.info)
    assert engine.use_adapter("repo/2-file", converted)
    torch.testing.assert_close(engine._forward(ids, keep=len(ids)), results[1],
                               atol=1e-5, rtol=1e-5)
    assert engine.use_adapter(None)
    torch.testing.assert_close(engine._forward(ids, keep=len(ids)), base, atol=1e-5, rtol=1e-5)


def test_the_engine_decodes_like_the_pytorch_engine_with_an_adapter(
        graph: Path, tmp_path: Path) -> None:
    """Same greedy tokens and prefix reuse for the prompts an editor sends, and drafts."""
    peft_model, saved = random_adapter(tmp_path, 3)
    reference = Engine(peft_model, TOKENIZER)
    engine = FastEngine(graph, TOKENIZER, threads=1, capacity=32)
    engine.use_adapter("repo/3", saved)
    base = TEXT[:45]
    for text in (base, base + "r", base + "re", base[:20], "class Point:\n    x"):
        prompt = TOKENIZER.encode(text)
        ours = engine.generate(prompt, max_new_tokens=12)
        theirs = reference.generate(prompt, max_new_tokens=12)
        assert ours.token_ids == theirs.token_ids, text
        assert ours.timing.reused_tokens == theirs.timing.reused_tokens, text
    prompt = TOKENIZER.encode(TEXT)
    drafted = engine.generate(prompt, max_new_tokens=12, draft_from=prompt)
    assert drafted.token_ids == reference.generate(prompt, max_new_tokens=12).token_ids


@pytest.mark.parametrize(("precision", "agreement"), [("int8", 0.99), ("int4", 0.8)])
def test_a_quantised_graph_still_takes_adapters(model_dir: Path, tmp_path: Path,
                                                precision: str, agreement: float) -> None:
    """Weight-only quantisation leaves the LoRA inputs float. int4 of this tiny model's
    large random weights is coarse (correlation ~0.88); the real model's Q4_1 weights are
    re-encoded exactly (see `_quantize_int4`)."""
    target = tmp_path / precision
    build(model_dir, target, precision)
    ids = TOKENIZER.encode(TEXT)
    engine = FastEngine(target, TOKENIZER, threads=1)
    base = engine._forward(ids, keep=len(ids)).numpy()
    expected = torch_logits(llama(), ids).numpy()
    assert np.corrcoef(base.ravel(), expected.ravel())[0, 1] > agreement
    peft_model, saved = random_adapter(tmp_path, 4)
    engine.use_adapter("repo/4", saved)
    tuned = engine._forward(ids, keep=len(ids)).numpy()
    expected_tuned = torch_logits(peft_model, ids).numpy()
    # The adapter moves the quantised logits the way it moves PyTorch's.
    shift, expected_shift = tuned - base, expected_tuned - expected
    assert np.corrcoef(shift.ravel(), expected_shift.ravel())[0, 1] > agreement


def test_int4_reencodes_q4_1_weights_exactly(tmp_path: Path) -> None:
    """The default model's projections come from a Q4_1 GGUF (w = d * q + m per block of
    32 inputs); at accuracy level 1 (float activations) the int4 graph equals PyTorch."""
    model = llama()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("_proj.weight"):
                blocks = param.reshape(param.shape[0], -1, 32)
                low = blocks.amin(-1, keepdim=True)
                step = (blocks.amax(-1, keepdim=True) - low) / 15
                param.copy_((torch.round((blocks - low) / step) * step + low).reshape_as(param))
    source = tmp_path / "hf"
    model.save_pretrained(source)
    hf_char_tokenizer().save_pretrained(source)
    build(source, tmp_path / "int4", "int4", accuracy_level=1)
    # The output layer is 8-bit; make the comparison about the projections.
    ids = TOKENIZER.encode(TEXT)
    engine = FastEngine(tmp_path / "int4", TOKENIZER, threads=1)
    ours = engine._forward(ids, keep=len(ids))
    expected = torch_logits(model, ids)
    assert torch.equal(ours.argmax(-1), expected.argmax(-1))
    torch.testing.assert_close(ours, expected, atol=0.05, rtol=0.01)


def test_an_adapter_for_another_model_is_refused(graph: Path, tmp_path: Path) -> None:
    info = GraphInfo.load(graph)
    other = GraphInfo(layers=1, kv_heads=1, head_dim=8, lora_inputs=info.lora_inputs[:14])
    _, saved = random_adapter(tmp_path, 9)
    with pytest.raises(ValueError, match="has no input in the exported graph"):
        convert_adapter(saved, tmp_path / "x.onnx_adapter", other)


def test_a_prefill_graph_shares_the_cache_with_the_decode_graph(graph: Path,
                                                                  tmp_path: Path) -> None:
    from adapters.ort_fast import build_prefill

    prefill = build_prefill(graph, tmp_path / "prefill")
    ids = TOKENIZER.encode(TEXT * 2)
    assert len(ids) >= FastEngine.PREFILL_MIN
    exact = FastEngine(graph, TOKENIZER, threads=1)
    mixed = FastEngine(graph, TOKENIZER, threads=1, prefill=prefill)
    # The long chunk runs on the int8 graph: close to fp32, not equal.
    long_exact, long_mixed = exact._forward(ids, keep=1), mixed._forward(ids, keep=1)
    cosine = torch.nn.functional.cosine_similarity
    assert not torch.equal(long_exact, long_mixed)
    assert cosine(long_exact, long_mixed).item() > 0.95
    # One more token runs on the decode graph over the cache the int8 graph wrote: close to
    # the fp32 continuation, far from the same token without that cache.
    step_exact, step_mixed = exact._forward([ids[0]]), mixed._forward([ids[0]])
    alone = FastEngine(graph, TOKENIZER, threads=1)._forward([ids[0]])
    assert cosine(step_exact, step_mixed).item() > 0.95
    assert cosine(step_exact, step_mixed).item() > cosine(alone, step_mixed).item() + 0.1
    assert exact.cached_tokens == mixed.cached_tokens == len(ids) + 1
