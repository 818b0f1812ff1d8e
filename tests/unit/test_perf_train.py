"""The rebuild path (`tailor perf --train`) end to end on a tiny budget."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from selector.perf.export import OnnxPredictor
from selector.perf.hints import function_hints
from selector.perf.labels import build_labelled_set, generate_programs
from selector.perf.programs import STEP_NAMES, Loop, Op, Program, mutate, static_steps
from selector.perf.train import PRETRAINED_NAME, TrainConfig, pretrained_net, train_model


def test_a_tiny_training_run_exports_a_working_model(tmp_path: Path) -> None:
    import json as json_module

    config = TrainConfig(labels=40, seed=3, pretrain_steps=30, pretrain_seconds=60,
                         corpus_roots=[Path(json_module.__file__).parent],
                         generated_unlabelled=200, head_steps=30, tune_steps=30)
    summary = train_model(tmp_path / "model", tmp_path / "cache", config, log=lambda m: None)
    assert summary["labelled"] == 40
    meta = json.loads((tmp_path / "model" / "perf.json").read_text())
    assert meta["info"]["train"] + meta["info"]["heldout"] == 40
    predictor = OnnxPredictor(tmp_path / "model")
    data = build_labelled_set(40, 3, tmp_path / "cache")  # all from the label cache now
    assert np.isfinite(predictor(data.features)).all()
    old = "def g(xs):\n    return sum(xs)\n"
    new = "def g(xs):\n    return sum(x for x in xs for y in xs)\n"
    (hint,) = function_hints(old, new, predictor=predictor)
    assert hint.predicted_ratio > 0


def test_a_corrupt_cached_autoencoder_is_pre_trained_again(tmp_path: Path) -> None:
    import json as json_module

    config = TrainConfig(seed=3, pretrain_steps=5, pretrain_seconds=60, hidden=32, code=8,
                         corpus_roots=[Path(json_module.__file__).parent],
                         generated_unlabelled=50)
    (tmp_path / PRETRAINED_NAME).write_bytes(b"not a checkpoint")
    messages: list[str] = []
    net = pretrained_net(tmp_path, config, log=messages.append)
    assert any("ignoring a bad cached autoencoder" in m for m in messages)
    again = pretrained_net(tmp_path, config, log=messages.append)  # the rewritten cache loads
    assert "pre-trained autoencoder from" in messages[-1]
    for p, q in zip(net.parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q)


def test_labels_are_reproducible_and_served_from_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_labelled_set(12, 5, tmp_path)
    import selector.perf.labels as labels

    def no_timing(*args: object, **kwargs: object) -> list[object]:
        raise AssertionError("timed again instead of using the cache")

    monkeypatch.setattr(labels, "time_programs", no_timing)
    again = build_labelled_set(12, 5, tmp_path)
    assert again.sources == first.sources
    np.testing.assert_array_equal(again.log_seconds, first.log_seconds)
    assert len(first.programs) == 12 and np.isfinite(first.log_seconds).all()


def test_seeds_give_the_same_programs_and_edits_change_them() -> None:
    programs, pair_of = generate_programs(20, seed=9)
    again, _ = generate_programs(20, seed=9)
    other, _ = generate_programs(20, seed=10)
    assert [p.source() for p in programs] == [p.source() for p in again]
    assert [p.source() for p in programs] != [p.source() for p in other]
    assert pair_of[1] == 0 and programs[1].source() != programs[0].source()
    rng = random.Random(0)
    for p in programs:
        assert mutate(p, rng).source() != p.source()


def test_static_steps_count_how_a_loop_nest_multiplies_work() -> None:
    scan = ("if {v} in items:\n    acc += 1", ("items",), ("acc",), "n")
    flat = Program([Loop("items", 0, [Op(*scan)])], size=48)
    nested = Program([Loop("range_lit", 20, [Loop("items", 0, [Op(*scan)])])], size=48)
    before, after = (dict(zip(STEP_NAMES, static_steps(p), strict=True)) for p in (flat, nested))
    # 48 list scans of 48 elements each, then the same 20 times over
    assert math.expm1(before["kind_member_list"]) == pytest.approx(48)
    assert math.expm1(before["class_n"]) == pytest.approx(48 * 48)
    assert math.expm1(after["kind_member_list"]) == pytest.approx(20 * 48)
    assert math.expm1(after["class_n"]) == pytest.approx(20 * 48 * 48)
    assert math.expm1(after["class_loop"]) == pytest.approx(20 + 20 * 48)
    assert math.expm1(after["header_range_lit"]) == pytest.approx(20)
    assert math.expm1(after["header_items"]) == pytest.approx(20 * 48)
    assert after["estimated_steps"] > before["estimated_steps"] + math.log(19)
    assert before["kind_sort"] == after["kind_sort"] == 0.0
    # the source is untouched: counting never runs or renders anything new
    assert "for " in nested.source() and nested.cost() == pytest.approx(
        math.expm1(after["estimated_steps"]))
