"""The selector's server side without a subprocess: which model a server starts on (a
remembered switch, unless the configuration changed since), when a background ranking is
due, and how shown and accepted suggestions are attributed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import hf_char_tokenizer, tiny_llama

from server import selection
from server.app import TailorServer
from server.settings import parse_settings


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "tiny"
    tiny_llama(len(hf_char_tokenizer())).save_pretrained(directory)
    hf_char_tokenizer().save_pretrained(directory)
    return directory


def make_server(root: Path, settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
                ) -> TailorServer:
    ls = TailorServer()
    ls.settings, errors = parse_settings(settings)
    assert not errors
    monkeypatch.setattr(selection, "workspace_root", lambda _ls: root)
    return ls


def test_a_switch_is_remembered_until_the_configured_model_changes(
        tmp_path: Path, home: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    settings = {"selector": {"candidates": [str(tiny_dir)]}}
    ls = make_server(root, settings, monkeypatch)
    assert selection.startup_spec(ls) == "smollm2-135m-instruct"
    tiny_id = selection._catalogue(ls).specs[-1].id
    selection._remember(root, ls.settings.model, tiny_id)

    again = make_server(root, settings, monkeypatch)
    assert selection.startup_spec(again) == str(tiny_dir)
    assert selection.current_model(again) == tiny_id
    assert again.status()["model"] == tiny_id
    # Another workspace, or a model configured since: the configuration wins.
    elsewhere = make_server(tmp_path / "other", settings, monkeypatch)
    assert selection.startup_spec(elsewhere) == "smollm2-135m-instruct"
    changed = make_server(root, {**settings, "model": str(tiny_dir)}, monkeypatch)
    assert selection.startup_spec(changed) == str(tiny_dir)
    assert selection.current_model(changed) == str(tiny_dir)
    # The chosen model gone: back to the configured one, not an error.
    gone = make_server(root, {"selector": {"candidates": []}}, monkeypatch)
    assert selection.startup_spec(gone) == "smollm2-135m-instruct"


def test_a_ranking_is_due_only_when_idle_with_a_choice_to_make(
        tmp_path: Path, home: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ls = make_server(tmp_path, {"selector": {"idleSeconds": 5}}, monkeypatch)
    ls.runtime.state = "ready"
    ls.runtime.last_request = time.monotonic() - 60
    # Only the shipped model is available here: nothing to choose between.
    assert not selection._due(ls)
    ls = make_server(tmp_path, {"selector": {"idleSeconds": 5,
                                             "candidates": [str(tiny_dir)]}}, monkeypatch)
    ls.runtime.state = "ready"
    ls.runtime.last_request = time.monotonic()  # a request just now: not idle
    assert not selection._due(ls)
    ls.runtime.last_request = time.monotonic() - 60
    assert selection._due(ls)
    assert not selection._due(ls)  # checked: not again before RECHECK_SECONDS
    ls.selection.last_check = float("-inf")
    ls.settings.selector.enable = False
    assert not selection._due(ls)
    assert selection.result(ls)["state"] == "disabled"


def test_acceptances_are_attributed_to_the_suggestion_that_was_shown(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    ls = make_server(root, {}, monkeypatch)
    selection.record_shown(ls, "c1", root / "a.py")
    selection.record_shown(ls, "c2", root / "a.py")
    selection.record_accepted(ls, "c2", 10)
    selection.record_accepted(ls, "c2", 10)  # the same item twice counts once
    selection.record_accepted(ls, "c-unknown", 3)
    live = selection._telemetry(ls).by_model(str(root))  # type: ignore[union-attr]
    assert live["smollm2-135m-instruct"].shown == 2
    assert live["smollm2-135m-instruct"].accepted == 1
    off = make_server(root, {"telemetry": {"enable": False}}, monkeypatch)
    selection.record_shown(off, "c3", root / "a.py")
    assert selection._telemetry(off) is None


def test_a_better_pick_is_offered_once_or_applied_with_auto_switch(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from lsprotocol import types

    applied: list[str] = []
    asked: list[str] = []
    answers = iter(["Not now", "Switch"])

    async def fake_apply(_ls: TailorServer, model_id: str) -> dict[str, Any]:
        applied.append(model_id)
        return {}

    async def fake_ask(params: types.ShowMessageRequestParams) -> types.MessageActionItem:
        asked.append(params.message)
        return types.MessageActionItem(title=next(answers))

    monkeypatch.setattr(selection, "apply", fake_apply)
    ranking = [{"model": "better", "available": True, "within_latency_budget": True,
                "latency_ms": 100.0},
               {"model": "smollm2-135m-instruct", "available": True,
                "within_latency_budget": True, "latency_ms": 900.0}]

    def server(auto: bool) -> TailorServer:
        ls = make_server(tmp_path, {"selector": {"autoSwitch": auto}}, monkeypatch)
        monkeypatch.setattr(ls, "window_show_message_request_async", fake_ask)
        selection.state(ls).candidates = list(ranking)
        selection.state(ls).state = "ready"
        return ls

    ls = server(auto=False)
    asyncio.run(selection._offer(ls))
    assert len(asked) == 1 and "better" in asked[0] and applied == []  # "Not now"
    asyncio.run(selection._offer(ls))
    assert len(asked) == 1  # the same pick is not offered twice
    ls = server(auto=False)
    asyncio.run(selection._offer(ls))
    assert applied == ["better"]  # "Switch"
    ls = server(auto=True)
    asyncio.run(selection._offer(ls))
    assert applied == ["better", "better"] and len(asked) == 2  # switched without asking
    selection.state(ls).model_id = "better"
    selection.state(ls).offered = None
    asyncio.run(selection._offer(ls))
    assert applied == ["better", "better"]  # the pick is already in use: nothing to do
