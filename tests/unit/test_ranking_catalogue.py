"""The catalogue's candidates and the variants derived here (on tiny models)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import hf_char_tokenizer, tiny_llama
from transformers import AutoModelForCausalLM

from selector.ranking.catalogue import (
    BUILT_IN,
    SMOLLM2_135M,
    catalogue,
    llama_parameters,
)
from selector.ranking.derive import derive, drop_layers, layers_to_keep, quantise_weights


def test_parameter_count_matches_a_real_model() -> None:
    model = tiny_llama(100)
    cfg = model.config.to_dict()
    assert llama_parameters(cfg) == sum(p.numel() for p in model.parameters())
    # SmolLM2-135M's published size.
    assert llama_parameters(SMOLLM2_135M) == 134_515_008


def test_catalogue_has_eight_distinct_offline_candidates(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path))
    cat = catalogue()
    kinds = [s.kind for s in cat.specs]
    assert len(BUILT_IN) >= 8 and len(set(cat.ids())) == len(cat.ids())
    assert kinds.count("shipped") == 1 and kinds.count("derived") >= 2 and "zoo" in kinds
    sizes = {s.id: s.parameters or 0 for s in cat.specs}
    assert sizes["smollm2-135m-instruct-drop12"] < sizes["smollm2-135m-instruct-drop6"] \
        < sizes["smollm2-135m-instruct"]
    derived = cat.get("smollm2-135m-instruct-drop6")
    assert derived.directory == tmp_path / "models" / derived.id
    assert not derived.available() and derived.load_spec() == str(derived.directory)
    assert cat.get("smollm2-135m-instruct").load_spec() == "smollm2-135m-instruct"


def test_extra_candidates(tmp_path: Path) -> None:
    model_dir = tmp_path / "mine"
    tiny_llama(len(hf_char_tokenizer())).save_pretrained(model_dir)
    cat = catalogue(["Qwen/Qwen2.5-Coder-0.5B", str(model_dir), "not a spec!",
                     "Qwen/Qwen2.5-Coder-0.5B"])
    hub = cat.get("Qwen/Qwen2.5-Coder-0.5B")
    assert hub.kind == "hub" and hub.load_spec() == "Qwen/Qwen2.5-Coder-0.5B"
    local = [s for s in cat.specs if s.kind == "local"]
    assert len(local) == 1 and local[0].parameters == sum(
        p.numel() for p in tiny_llama(len(hf_char_tokenizer())).parameters())
    assert list(cat.rejected) == ["not a spec!"]
    assert cat.ids().count("Qwen/Qwen2.5-Coder-0.5B") == 1


def test_layers_to_keep() -> None:
    assert layers_to_keep(30, 6) == [*range(12), *range(18, 30)]
    assert layers_to_keep(30, 5) == [*range(13), *range(18, 30)]
    assert layers_to_keep(4, 0) == [0, 1, 2, 3]
    assert layers_to_keep(4, 2) == [0, 3]
    for total in range(2, 12):
        for drop in range(total - 1):
            kept = layers_to_keep(total, drop)
            assert len(kept) == total - drop and kept[0] == 0 and kept[-1] == total - 1
    with pytest.raises(ValueError):
        layers_to_keep(4, 3)


def _four_layer_model() -> Any:
    model = tiny_llama(len(hf_char_tokenizer()))
    cfg = model.config
    cfg.num_hidden_layers = 4
    torch.manual_seed(1)
    bigger = model.__class__(cfg)
    bigger.eval()
    return bigger


def test_dropped_layers_keep_the_right_weights_and_a_working_cache(tmp_path: Path) -> None:
    model = _four_layer_model()
    tokenizer = hf_char_tokenizer()
    target = derive(model, tokenizer, tmp_path / "drop2", drop=2, base="tiny")
    assert len(model.model.layers) == 4  # the input is untouched
    small = AutoModelForCausalLM.from_pretrained(target)
    small.eval()
    assert small.config.num_hidden_layers == 2
    # The middle two go: new layer 0 is old layer 0, new layer 1 is old layer 3.
    assert torch.equal(small.model.layers[1].mlp.down_proj.weight,
                       model.model.layers[3].mlp.down_proj.weight)
    assert torch.equal(small.model.layers[0].self_attn.q_proj.weight,
                       model.model.layers[0].self_attn.q_proj.weight)
    ids = torch.tensor([tokenizer("def f(x):\n    return x")["input_ids"]])
    with torch.no_grad():
        full = small(ids).logits[0, -1]
        prefix = small(ids[:, :-1], use_cache=True)
        step = small(ids[:, -1:], cache=prefix.past_key_values).logits[0, -1]
        reference = drop_layers(model, 2)(ids).logits[0, -1]
    assert torch.allclose(full, step, atol=1e-4)
    assert torch.allclose(full, reference, atol=1e-5)
    assert not torch.allclose(full, model(ids).logits[0, -1], atol=1e-3)


def test_quantised_weights_take_few_values(tmp_path: Path) -> None:
    model = _four_layer_model()
    before = model.model.layers[0].mlp.up_proj.weight.clone()
    quantise_weights(model, 4)
    after = model.model.layers[0].mlp.up_proj.weight
    for row in range(after.shape[0]):
        assert len(torch.unique(after[row])) <= 15  # -7..7 times the row's scale
    assert not torch.equal(before, after)
    assert (before - after).abs().max() <= before.abs().max() / 7 / 2 + 1e-6
    target = derive(_four_layer_model(), hf_char_tokenizer(), tmp_path / "q8", bits=8)
    assert (target / "config.json").is_file() and (target / "tailor-derived.json").is_file()
