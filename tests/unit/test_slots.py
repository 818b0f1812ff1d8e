"""Adapter slots: several adapters in one model, switched without reloading, base on demand."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from adapters.slots import AdapterLoadError, AdapterSlots

IDS = torch.tensor([[3, 5, 7, 11, 13, 2, 4]])


def base_model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=2, num_attention_heads=2,
                                         num_key_value_heads=1, vocab_size=40,
                                         max_position_embeddings=64))
    return model.eval()


def make_adapter(directory: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    peft_model = get_peft_model(base_model(), LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)  # a trained adapter: B is no longer zero
    peft_model.save_pretrained(directory)
    return directory


def logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=IDS).logits


def reference(path: Path) -> torch.Tensor:
    return logits(PeftModel.from_pretrained(base_model(), str(path)).eval())


@pytest.fixture
def adapters(tmp_path: Path) -> dict[str, Path]:
    return {name: make_adapter(tmp_path / name, seed)
            for name, seed in (("a", 1), ("b", 2), ("c", 3))}


def test_switching_gives_each_adapters_own_outputs(adapters: dict[str, Path]) -> None:
    model = base_model()
    plain = logits(model)
    slots = AdapterSlots(model, max_loaded=4)
    expected = {k: reference(p) for k, p in adapters.items()}
    for key in ("a", "b", None, "a", "c", "b", None, "c"):
        changed = slots.use(key, adapters.get(key or ""))
        assert changed
        want = plain if key is None else expected[key]
        # The engine calls the transformers model itself; the slots act through it.
        assert torch.allclose(logits(model), want, atol=1e-5), key
    assert not slots.use("c", adapters["c"])  # already active: nothing to do


def test_least_recently_used_adapter_is_unloaded(adapters: dict[str, Path]) -> None:
    model = base_model()
    slots = AdapterSlots(model, max_loaded=2)
    slots.use("a", adapters["a"])
    slots.use("b", adapters["b"])
    slots.use("a", adapters["a"])
    slots.use("c", adapters["c"])  # evicts b, the least recently used
    assert list(slots.loaded) == ["a", "c"]
    assert torch.allclose(logits(model), reference(adapters["c"]), atol=1e-5)
    slots.use("b", adapters["b"])  # loaded again from disk, evicting a
    assert list(slots.loaded) == ["c", "b"]
    assert torch.allclose(logits(model), reference(adapters["b"]), atol=1e-5)


def test_one_slot_still_switches(adapters: dict[str, Path]) -> None:
    model = base_model()
    plain = logits(model)
    slots = AdapterSlots(model, max_loaded=1)
    for key in ("a", "b", None, "a"):
        slots.use(key, adapters.get(key or ""))
    assert list(slots.loaded) == ["a"]
    assert torch.allclose(logits(model), reference(adapters["a"]), atol=1e-5)
    slots.use(None)
    assert torch.allclose(logits(model), plain, atol=1e-6)


def test_corrupt_adapter_leaves_the_base_model_active(adapters: dict[str, Path],
                                                      tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_config.json").write_text("{not json")
    model = base_model()
    plain = logits(model)
    slots = AdapterSlots(model)
    slots.use("a", adapters["a"])
    with pytest.raises(AdapterLoadError):
        slots.use("broken", broken)
    assert slots.current == "base"
    assert torch.allclose(logits(model), plain, atol=1e-6)
    slots.use("a", adapters["a"])  # the good one still works
    assert torch.allclose(logits(model), reference(adapters["a"]), atol=1e-5)


def test_first_adapter_corrupt_keeps_plain_model(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    model = base_model()
    plain = logits(copy.deepcopy(model))
    slots = AdapterSlots(model)
    with pytest.raises(AdapterLoadError):
        slots.use("broken", broken)
    assert torch.allclose(logits(model), plain, atol=1e-6)
