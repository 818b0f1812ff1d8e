"""Choosing the engine: the onnxruntime export built, measured and cached once per model,
and PyTorch whenever that export is missing, stale, failed or broken."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from conftest import CharTokenizer, hf_char_tokenizer
from test_ort_fast import llama, random_adapter

from adapters import onnx_cache
from adapters.backends import choose
from adapters.engine import Engine
from adapters.models import LoadedModel, ModelSource
from adapters.ort_slots import CONVERTED, OrtAdapterSlots
from adapters.slots import AdapterLoadError

VOCAB = len(CharTokenizer())
PROMPT = "def area(r):\n    return "


def loaded_model(model_dir: Path) -> LoadedModel:
    source = ModelSource(spec=str(model_dir), kind="hf_dir", name="tiny-test",
                         hf_dir=model_dir)
    return LoadedModel(model=llama(), tokenizer=CharTokenizer(), source=source,
                       path=str(model_dir), load_seconds=0.0, converted=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, onnx_cache.Choice]:
    """(model dir, data dir with the export, the choice), made once for the module."""
    home = tmp_path_factory.mktemp("home")
    model_dir = tmp_path_factory.mktemp("model")
    llama().save_pretrained(model_dir)
    hf_char_tokenizer().save_pretrained(model_dir)
    old = os.environ.get("TAILOR_HOME")
    os.environ["TAILOR_HOME"] = str(home)
    try:
        loaded = loaded_model(model_dir)
        steps: list[str] = []
        choice = onnx_cache.build(loaded.tokenizer, model_dir, "tiny-test",
                                  progress=lambda pct, msg: steps.append(msg))
    finally:
        if old is None:
            del os.environ["TAILOR_HOME"]
        else:
            os.environ["TAILOR_HOME"] = old
    assert steps[0].startswith("building the fp32") and steps[-1].startswith("chose")
    return model_dir, home, choice


@pytest.fixture
def home(built: tuple[Path, Path, onnx_cache.Choice], tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the built data directory, so a test may break it."""
    copy = tmp_path / "home"
    shutil.copytree(built[1], copy)
    monkeypatch.setenv("TAILOR_HOME", str(copy))
    return copy


def test_the_build_measures_every_variant_and_keeps_a_fast_agreeing_one(
        built: tuple[Path, Path, onnx_cache.Choice]) -> None:
    _, home, choice = built
    assert set(choice.measured) == {"fp32", "int8", "int4"}
    assert choice.measured["fp32"]["agreement"] == 1.0
    eligible = [k for k, row in choice.measured.items()
                if k == "fp32" or row["agreement"] >= onnx_cache.MIN_AGREEMENT]
    fastest = max(eligible, key=lambda k: choice.measured[k]["decode_tok_s"])
    assert choice.variant == fastest
    on_disk = {p.name for p in (home / "onnx" / "tiny-test").iterdir() if p.is_dir()}
    # Variants that never run are not kept; the prefill graph only with a quantised one.
    assert on_disk == {"fp32", choice.variant} | ({"prefill"} if choice.prefill else set())
    assert not choice.prefill or choice.variant != "fp32"
    assert json.loads((home / "onnx" / "tiny-test" / "chosen.json").read_text())[
        "variant"] == choice.variant


def test_agreement_counts_tokens_up_to_the_first_difference() -> None:
    assert onnx_cache.agreement([[1, 2, 3, 4]], [[1, 2, 3, 4]]) == 1.0
    assert onnx_cache.agreement([[1, 2, 3, 4]], [[1, 9, 3, 4]]) == 0.25
    assert onnx_cache.agreement([[1, 2], [5, 6]], [[1, 2], [7, 6]]) == 0.5


def test_auto_runs_the_export_and_decodes_like_pytorch(
        home: Path, built: tuple[Path, Path, onnx_cache.Choice]) -> None:
    model_dir = built[0]
    # The fp32 graph is the reference: make it the chosen one for an exact comparison.
    marker = home / "onnx" / "tiny-test" / "chosen.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "variant": "fp32"}))
    loaded = loaded_model(model_dir)
    backend = choose("auto", loaded, 2)
    assert backend.name == "onnxruntime" and backend.variant == "fp32"
    assert "fp32" in backend.reason and backend.problem is None
    ids = CharTokenizer().encode(PROMPT)
    reference = Engine(llama(), CharTokenizer())
    assert backend.engine.generate(ids, max_new_tokens=12).token_ids == \
        reference.generate(ids, max_new_tokens=12).token_ids


def test_without_an_export_pytorch_runs_and_an_export_is_asked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        built: tuple[Path, Path, onnx_cache.Choice]) -> None:
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path))
    loaded = loaded_model(built[0])
    auto = choose("auto", loaded, 2)
    assert auto.name == "torch" and auto.wants_export and auto.problem is None
    assert "no onnxruntime export of tiny-test yet" in auto.reason
    explicit = choose("onnxruntime", loaded, 2)
    assert explicit.name == "torch" and explicit.wants_export
    assert explicit.problem and "PyTorch runs until it is built" in explicit.problem
    assert choose("torch", loaded, 2).reason == "backend set to torch"


def test_a_broken_export_falls_back_to_pytorch_with_a_message_and_is_rebuilt(
        home: Path, built: tuple[Path, Path, onnx_cache.Choice]) -> None:
    choice = built[2]
    (home / "onnx" / "tiny-test" / choice.variant / "model.onnx").write_bytes(b"not onnx")
    backend = choose("auto", loaded_model(built[0]), 2)
    assert backend.name == "torch" and backend.wants_export
    assert backend.problem and "is broken" in backend.problem
    assert not (home / "onnx" / "tiny-test").exists()  # removed, so a rebuild starts clean
    ids = CharTokenizer().encode(PROMPT)
    assert len(backend.engine.generate(ids, max_new_tokens=4).token_ids) == 4


def test_an_export_of_other_weights_is_not_used(
        home: Path, built: tuple[Path, Path, onnx_cache.Choice], tmp_path: Path) -> None:
    other = tmp_path / "other-model"
    llama(seed=1).save_pretrained(other)
    hf_char_tokenizer().save_pretrained(other)
    loaded = loaded_model(other)
    backend = choose("auto", loaded, 2)
    assert backend.name == "torch" and backend.wants_export
    assert "other weights" in backend.reason


def test_a_failed_export_is_reported_and_not_retried(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        built: tuple[Path, Path, onnx_cache.Choice]) -> None:
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path))
    failure = onnx_cache.failure_path("tiny-test")
    failure.parent.mkdir(parents=True)
    failure.write_text(json.dumps({"error": "RuntimeError: unsupported op", "time": 0}))
    backend = choose("onnxruntime", loaded_model(built[0]), 2)
    assert backend.name == "torch" and not backend.wants_export
    assert backend.problem and "unsupported op" in backend.problem
    assert str(failure) in backend.problem  # how to try again


def test_adapters_are_converted_once_and_switch_per_request(
        home: Path, built: tuple[Path, Path, onnx_cache.Choice], tmp_path: Path) -> None:
    from adapters.ort_fast import FastEngine

    directory = home / "onnx" / "tiny-test" / "fp32"
    engine = FastEngine(directory, CharTokenizer(), threads=1)
    peft_model, saved = random_adapter(tmp_path, 5)
    slots = OrtAdapterSlots(engine, max_loaded=1)
    ids = CharTokenizer().encode(PROMPT)
    base = engine.generate(ids, max_new_tokens=10).token_ids
    assert slots.use("repo/v5", saved)
    converted = saved / CONVERTED
    tuned = engine.generate(ids, max_new_tokens=10).token_ids
    with torch.no_grad():
        assert tuned == Engine(peft_model, CharTokenizer()).generate(
            ids, max_new_tokens=10).token_ids
    assert tuned != base
    first = converted.stat().st_mtime_ns
    assert slots.use(None) and engine.generate(ids, max_new_tokens=10).token_ids == base
    assert slots.use("repo/v5", saved)  # loaded again (max_loaded=1 kept it)
    assert converted.stat().st_mtime_ns == first  # not converted a second time


def test_a_corrupt_conversion_is_made_again_and_a_corrupt_adapter_is_refused(
        home: Path, tmp_path: Path) -> None:
    from adapters.ort_fast import FastEngine

    engine = FastEngine(home / "onnx" / "tiny-test" / "fp32", CharTokenizer(), threads=1)
    _, saved = random_adapter(tmp_path, 6)
    (saved / CONVERTED).write_bytes(b"garbage")
    os.utime(saved / CONVERTED, (2**31, 2**31))  # newer than the weights
    slots = OrtAdapterSlots(engine)
    assert slots.use("repo/v6", saved)  # reconverted, not refused
    (tmp_path / "a7").mkdir()
    (tmp_path / "a7" / "adapter_config.json").write_text("{}")
    with pytest.raises(AdapterLoadError, match="a7"):
        slots.use("repo/v7", tmp_path / "a7")
    assert slots.current == "base"


def test_both_engines_share_stop_rules_cancellation_reuse_and_timing(home: Path) -> None:
    import threading

    from adapters.ort_fast import FastEngine

    tokenizer = CharTokenizer()
    engines = {"torch": Engine(llama(), tokenizer),
               "onnxruntime": FastEngine(home / "onnx" / "tiny-test" / "fp32", tokenizer,
                                         threads=1)}
    ids = tokenizer.encode(PROMPT)
    seen: dict[str, list[object]] = {}
    for name, engine in engines.items():
        stopped = engine.generate(ids, max_new_tokens=10,
                                  stop=lambda text: 2 if len(text) >= 4 else None)
        cancel = threading.Event()
        cancelled = engine.generate(ids, max_new_tokens=30, cancel=cancel,
                                    stop=lambda text, c=cancel: c.set())
        typed = engine.generate(ids + tokenizer.encode("r"), max_new_tokens=5)
        seen[name] = [stopped.finish, stopped.text, cancelled.finish, typed.token_ids,
                      typed.timing.reused_tokens]
        assert typed.timing.prompt_tokens == len(ids) + 1
        assert typed.timing.total_ms >= typed.timing.decode_ms > 0
    assert seen["torch"] == seen["onnxruntime"]
    assert seen["torch"][0] == "stop" and seen["torch"][2] == "cancelled"
    assert seen["torch"][4] >= len(ids)  # the earlier prompt's keys were reused
