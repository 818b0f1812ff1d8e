"""Proxies on tiny in-memory models: known answers, and the model left as found."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
import torch
from conftest import CharTokenizer, script_output, tiny_llama

from selector.ranking.logme import logme, one_hot
from selector.ranking.predictor import FEATURES
from selector.ranking.proxies import (
    cost,
    lora_probe,
    measure,
    pooled_hidden_states,
    repository_targets,
    slope,
    weight_bytes,
    zero_shot,
)


@dataclass(frozen=True)
class Sample:
    prompt: str
    target: str
    source: str


def samples() -> list[Sample]:
    out = []
    for i in range(6):
        out.append(Sample("<file_sep>a/x.py\n", f"def f{i}(x):\n    return x + {i}\n",
                          "a/x.py"))
        out.append(Sample("<file_sep>b/y.py\n", f"SELECT * FROM t{i} WHERE id = {i};\n",
                          "b/y.py"))
    return out


torch.set_num_threads(1)


def test_repository_targets() -> None:
    labels, level = repository_targets(["a/x.py", "a/y.py", "b/z.py", "b/w.py", "c.py"])
    assert level == "directory" and labels == [1, 1, 2, 2, 0]
    labels, level = repository_targets(["x.py", "x.py", "y.py", "y.py"])
    assert level == "file" and labels == [0, 0, 1, 1]
    assert repository_targets(["x.py", "y.py"]) == ([], "")


def test_slope() -> None:
    assert slope([3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert slope([1.0]) == 0.0


def test_zero_shot_matches_a_hand_computed_loss_and_exact_match(
        tokenizer: CharTokenizer) -> None:
    model = tiny_llama(len(tokenizer))
    ex = Sample("ab", "cd", "f")
    loss, _ = zero_shot(model, tokenizer, [ex], [])
    ids = torch.tensor([tokenizer("abcd")["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0], dim=-1)
    expected = -(logp[1, ids[0, 2]] + logp[2, ids[0, 3]]) / 2
    assert loss == pytest.approx(float(expected), rel=1e-5)
    # Scripted to write "hi\n": exact match for "hi", not for "ho".
    vocab = tokenizer.get_vocab()
    remove = script_output(model, [vocab["h"], vocab["i"], vocab["\n"]])
    try:
        _, em = zero_shot(model, tokenizer, [], [("x = 1\n", "hi")])
    finally:
        remove()
    assert em == 1.0
    remove = script_output(model, [vocab["h"], vocab["i"], vocab["\n"]])
    try:
        _, em = zero_shot(model, tokenizer, [], [("x = 1\n", "ho")])
    finally:
        remove()
    assert em == 0.0


def test_pooled_hidden_states_are_the_token_mean(tokenizer: CharTokenizer) -> None:
    model = tiny_llama(len(tokenizer))
    feats = pooled_hidden_states(model, tokenizer, ["abc", "de"])
    assert feats.shape == (2, model.config.hidden_size)
    with torch.no_grad():
        h = model(torch.tensor([tokenizer("de")["input_ids"]]),
                  output_hidden_states=True).hidden_states[-1][0]
    assert np.allclose(feats[1], h.mean(0).numpy(), atol=1e-6)


def test_logme_prefers_a_model_whose_features_separate_the_directories(
        tokenizer: CharTokenizer) -> None:
    data = samples()
    labels, _ = repository_targets([s.source for s in data])
    model = tiny_llama(len(tokenizer))
    feats = pooled_hidden_states(model, tokenizer, [s.target for s in data])
    shuffled = np.random.default_rng(0).permutation(feats.shape[0])
    assert logme(feats, one_hot(labels)) > logme(feats[shuffled], one_hot(labels))


def test_lora_probe_learns_and_leaves_the_model_as_found(tokenizer: CharTokenizer) -> None:
    model = tiny_llama(len(tokenizer))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {k: p.requires_grad for k, p in model.named_parameters()}
    data = samples()
    losses, back = lora_probe(model, tokenizer, data, data[:4], steps=6, lr=1e-2)
    assert len(losses) == 7 and losses[-1] < losses[0]  # training on the probe's own kind
    assert back is model  # peft injected in place and removed again
    assert set(back.state_dict()) == set(before)
    for key, value in back.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert {k: p.requires_grad for k, p in back.named_parameters()} == flags


def test_measure_gives_every_feature(tokenizer: CharTokenizer) -> None:
    model = tiny_llama(len(tokenizer))
    data = samples()
    proxies, model = measure(model, tokenizer, train=data[:8], heldout=data[8:],
                             nextline=[("def f(x):\n", "    return x")], lora_steps=2)
    features = proxies.features()
    assert set(features) == set(FEATURES)
    assert all(v is not None and math.isfinite(v) for v in features.values()), features
    assert proxies.logme_target == "directory"
    assert proxies.ms_per_token is not None and proxies.ms_per_token > 0
    params, size = weight_bytes(model)
    assert proxies.parameters == params == sum(p.numel() for p in model.parameters())
    assert size >= 4 * params


def test_latency_is_the_fastest_of_repeated_runs(tokenizer: CharTokenizer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of load during one timed run (a build, a test run) must not make a model
    look slow enough to be excluded: the fastest run counts."""
    import adapters.engine

    real = adapters.engine.Engine.generate
    calls = {"n": 0}

    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:  # the first timed run (after the warm-up) hit a busy machine
            out.timing = replace(out.timing, prefill_ms=out.timing.prefill_ms + 5000.0,
                                 decode_ms=out.timing.decode_ms + 5000.0)
        return out

    monkeypatch.setattr(adapters.engine.Engine, "generate", generate)
    model = tiny_llama(len(tokenizer))
    prefill, per_token, latency = cost(model, tokenizer, "def f(x):\n    return x\n",
                                       prompt_tokens=32, new_tokens=4, repeats=3)
    assert calls["n"] == 4 and 0 < latency < 1000 and 0 < per_token < 300 and prefill > 0
    calls["n"] = 0  # one run only: the slowed run is all there is
    assert cost(model, tokenizer, "def f(x):\n    return x\n", prompt_tokens=32,
                new_tokens=4, repeats=1)[2] > 5000
