"""The model selector through the real server and the real default model: acceptance
telemetry recorded per model, a ranking computed in a background child process when the
server is idle, `tailor.selectModel` returning it, a switch applied on request and
remembered by the next server."""

from __future__ import annotations

import asyncio
import sqlite3
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.e2e.helpers import (
    git,
    inline_params,
    make_repo,
    open_doc,
    private_home,
    start_server,
    status,
    wait_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="function")]

MODEL = "smollm2-135m-instruct"


def tiny_candidate(directory: Path) -> Path:
    """A tiny random Llama with the real model's tokenizer: a candidate that is fast and
    clearly worse, so the ranking has a right answer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from adapters.models import load, resolve

    source = resolve(MODEL)
    if not (source.converted_dir / "config.json").is_file():
        load(MODEL)  # converts the shipped GGUF once
    tokenizer = AutoTokenizer.from_pretrained(source.converted_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=1024, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


async def select(client: LanguageClient, *args: Any) -> dict[str, Any]:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tailor.selectModel", arguments=list(args)))
    return dict(result)


async def wait_ranking(client: LanguageClient, timeout: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        answer = await select(client)
        if answer["state"] in ("ready", "error") or loop.time() > end:
            return answer
        await asyncio.sleep(2)


async def test_ranking_in_the_background_telemetry_and_a_remembered_switch(
        tmp_path: Path) -> None:
    home = private_home(tmp_path)
    root = tmp_path / "repo"
    source = make_repo(root)
    # Real code in a few more files, so there are held-out files and next lines to judge on.
    for name in ("textwrap", "shlex", "fnmatch", "bisect", "colorsys", "glob", "heapq"):
        (root / "queue_app" / f"{name}_copy.py").write_text(
            Path(sysconfig.get_paths()["stdlib"], f"{name}.py").read_text())
    git(root, "rm", "-q", "README.md")  # held out by its path's hash; code should be
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "Vendor helpers")
    tiny = tiny_candidate(tmp_path / "tiny-llama")
    options = {"completion": {"maxNewTokens": 8, "timeoutMs": 60000},
               "selector": {"candidates": [str(tiny)], "idleSeconds": 1, "fineTunes": 1,
                            "finalists": 1,
                            "trainBudget": "500-tokens"}}
    asked: list[str] = []

    client = await start_server(home, options, root=root, asked=asked)
    try:
        assert (await wait_ready(client))["state"] == "ready"
        # 1. A shown and an accepted suggestion are counted for the model in use.
        uri = open_doc(client, source)
        result = await client.text_document_inline_completion_async(
            inline_params(uri, types.Position(line=20, character=0)))
        assert isinstance(result, types.InlineCompletionList) and result.items
        command = result.items[0].command
        assert command is not None and command.command == "tailor.accepted"
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=command.command, arguments=command.arguments))
        with sqlite3.connect(home / "telemetry" / "acceptance.sqlite3") as db:
            rows = db.execute("SELECT repo, model, shown, accepted FROM acceptance").fetchall()
        assert rows == [(str(root.resolve()), MODEL, 1, 1)]

        # 2. Idle for a second with two candidates: the ranking runs in a child process.
        answer = await wait_ranking(client, 900)
        assert answer["state"] == "ready", answer
        assert answer["current"] == MODEL
        ranked = {c["model"]: c for c in answer["candidates"]}
        tiny_id = next(c["model"] for c in answer["candidates"] if c["kind"] == "local")
        assert MODEL in ranked and tiny_id.startswith(tiny.name)
        for model in (MODEL, tiny_id):
            assert ranked[model]["proxies"]["zero_shot_loss"] > 0
            assert ranked[model]["latency_ms"] > 0
        # The random tiny model is far worse at predicting the code, and the ranking knows.
        assert ranked[tiny_id]["proxies"]["zero_shot_loss"] > \
            ranked[MODEL]["proxies"]["zero_shot_loss"] + 1
        assert answer["predictor"]  # which predictor ranked is said
        # `selector.finalists: 1`: only the cheap tier's best (SmolLM2, by far) also got
        # the expensive proxies.
        assert ranked[MODEL]["proxies"]["tier"] == "full"
        assert ranked[MODEL]["proxies"]["logme"] is not None
        assert ranked[tiny_id]["proxies"]["tier"] == "cheap"
        assert ranked[tiny_id]["proxies"]["logme"] is None
        # Whatever the pick (latency breaks near-ties), the user is asked only to change.
        await asyncio.sleep(1)
        if answer["pick"] == MODEL:
            assert not asked
        else:
            assert len(asked) == 1 and answer["pick"] in asked[0] and "Switch?" in asked[0]
        assert ranked[MODEL]["live"] == {"shown": 1, "accepted": 1, "rate": 1.0}
        assert (await status(client))["ranking"]["state"] == "ready"
        titles = [r.title for reports in client.progress_reports.values() for r in reports
                  if isinstance(r, types.WorkDoneProgressBegin)]
        assert "Tailor: ranking candidate models" in titles
        assert answer["ranking"] == answer["candidates"]

        # 3. Switching: an unknown model is refused with a message; a candidate loads.
        with pytest.raises(JsonRpcException, match="unknown model"):
            await select(client, {"apply": "no-such-model"})
        applied = await select(client, {"apply": tiny_id})
        assert applied["applied"] == tiny_id and applied["current"] == tiny_id
        ready = await wait_ready(client)
        assert ready["state"] == "ready" and ready["model"] == tiny_id, ready
        assert Path(ready["modelPath"]).resolve() == tiny.resolve()
    finally:
        await client.shutdown_session()

    # 4. The next server in this workspace starts on the chosen model.
    client = await start_server(home, options, root=root, asked=asked)
    try:
        ready = await wait_ready(client)
        assert ready["model"] == tiny_id and ready["configuredModel"] == MODEL, ready
    finally:
        await client.shutdown_session()
