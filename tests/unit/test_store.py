"""The adapter store: versions, the `active` pointer, corrupt directories, removal."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import torch
from conftest import CharTokenizer
from peft import PeftModel
from transformers import LlamaConfig, LlamaForCausalLM

from adapters import lora
from adapters.store import ACTIVE_FILE, AdapterStore

REPO = "0123456789abcdef"
MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def peft_model() -> PeftModel:
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1,
                         vocab_size=len(CharTokenizer()), max_position_embeddings=256)
    return lora.attach(LlamaForCausalLM(config))


@pytest.fixture
def store(tmp_path: Path) -> AdapterStore:
    return AdapterStore(tmp_path / "adapters")


def test_default_root_follows_tailor_home(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path))
    assert AdapterStore().root == tmp_path / "adapters"


def test_versions_are_unique_timestamps(store: AdapterStore, peft_model: PeftModel) -> None:
    first = store.commit_version(REPO, MODEL, peft_model, {"n": 1}, activate=False)
    second = store.commit_version(REPO, MODEL, peft_model, {"n": 2}, activate=False)
    assert re.fullmatch(r"\d{8}T\d{6}Z", first.version)
    assert first.version != second.version
    assert first.path == store.root / REPO / MODEL / first.version
    assert first.metadata["n"] == 1 and first.metadata["model"] == MODEL
    assert first.metadata["recipe"]["r"] == 16 and "created" in first.metadata
    assert not store.new_version_dir(REPO, MODEL).exists()


def test_activate_and_list_states(store: AdapterStore, peft_model: PeftModel) -> None:
    assert store.active(REPO, MODEL) is None
    old = store.commit_version(REPO, MODEL, peft_model, {}, activate=True)
    new = store.commit_version(REPO, MODEL, peft_model, {}, activate=False)
    active = store.active(REPO, MODEL)
    assert active is not None and active.version == old.version and active.state == "active"
    assert {i.version: i.state for i in store.list()} == {old.version: "active",
                                                           new.version: "inactive"}
    store.activate(REPO, MODEL, new.version)
    assert (store.root / REPO / MODEL / ACTIVE_FILE).read_text().strip() == new.version
    assert [p.name for p in (store.root / REPO / MODEL).iterdir()
            if p.name.startswith(".")] == []  # the pointer was written via a renamed temp
    assert store.list(REPO)[-1].state == "active"
    assert store.list("another-repo") == []


def test_corrupt_version_is_skipped_with_a_reason(store: AdapterStore, peft_model: PeftModel,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    good = store.commit_version(REPO, MODEL, peft_model, {}, activate=True)
    broken = store.root / REPO / MODEL / "20200101T000000Z"
    broken.mkdir()
    (broken / lora.CONFIG_FILE).write_text("{}")
    (store.root / REPO / MODEL / ".20300101T000000Z-partial").mkdir()  # a save in progress
    states = {i.version: (i.state, i.problem) for i in store.list()}
    assert states[good.version] == ("active", None)
    assert states[broken.name][0] == "corrupt" and "missing" in (states[broken.name][1] or "")
    assert len(states) == 2  # temporaries are invisible

    (good.path / lora.WEIGHTS_FILE).write_bytes(b"garbage")  # the active one goes bad
    with caplog.at_level(logging.WARNING, logger="adapters.store"):
        assert store.active(REPO, MODEL) is None
    assert "using the base model" in caplog.text
    with pytest.raises(ValueError, match="cannot activate"):
        store.activate(REPO, MODEL, broken.name)
    fresh = store.commit_version(REPO, MODEL, peft_model, {}, activate=True)
    assert store.active(REPO, MODEL) is not None and fresh.state == "active"


def test_remove(store: AdapterStore, peft_model: PeftModel) -> None:
    a = store.commit_version(REPO, MODEL, peft_model, {}, activate=False)
    b = store.commit_version(REPO, MODEL, peft_model, {}, activate=True)
    store.commit_version(REPO, "other-model", peft_model, {}, activate=False)
    store.commit_version("fedcba9876543210", MODEL, peft_model, {}, activate=False)

    assert store.remove(REPO, MODEL, b.version) == [b.path]
    assert store.active(REPO, MODEL) is None  # removing the active version clears it
    assert not (store.root / REPO / MODEL / ACTIVE_FILE).exists()
    assert [i.version for i in store.list(REPO) if i.model == MODEL] == [a.version]
    assert store.remove(REPO, MODEL, "19990101T000000Z") == []

    assert store.remove(REPO, MODEL) == [store.root / REPO / MODEL]
    assert {i.model for i in store.list(REPO)} == {"other-model"}
    assert store.remove(REPO) == [store.root / REPO]
    assert not (store.root / REPO).exists()
    assert [i.repo_id for i in store.list()] == ["fedcba9876543210"]
    with pytest.raises(ValueError):
        store.remove(REPO, version="x")


def test_adapters_cli_list_and_rm(tmp_path: Path, peft_model: PeftModel,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from server.cli import main

    monkeypatch.setenv("TAILOR_HOME", str(tmp_path))
    store = AdapterStore()
    a = store.commit_version(REPO, MODEL, peft_model, {"heldout_loss_before": 2.0,
                                                       "heldout_loss_after": 1.5}, activate=True)
    b = store.commit_version(REPO, MODEL, peft_model, {}, activate=False)
    (b.path / lora.METADATA_FILE).unlink()

    assert main(["adapters", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["adapters"]
    assert [(x["version"], x["state"]) for x in listed] == [(a.version, "active"),
                                                            (b.version, "corrupt")]
    assert main(["adapters", "list"]) == 0
    text = capsys.readouterr().out
    assert "2.000 -> 1.500" in text and "metadata.json is missing" in text

    assert main(["adapters", "rm", str(b.path), "--json"]) == 0  # by path
    assert json.loads(capsys.readouterr().out) == {"removed": [str(b.path)]}
    assert main(["adapters", "rm", REPO, "--model", MODEL, "--version", "nope"]) == 1
    assert "nothing to remove" in capsys.readouterr().out
    assert main(["adapters", "rm", REPO]) == 0
    assert store.list() == []
