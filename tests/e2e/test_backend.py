"""The onnxruntime backend through the real server and the real model: exported in the
background while PyTorch answers, then used; found again by the next server; a broken
export falls back to PyTorch with a message."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.helpers import (
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


async def start(home: Path, options: dict[str, Any]) -> LanguageClient:
    client: LanguageClient = await start_server(home, options, TAILOR_BACKEND="auto")
    return client


async def complete(client: LanguageClient, source: Path, line: int = 20,
                   text: str | None = None) -> types.InlineCompletionList:
    uri = open_doc(client, source, text)
    result = await client.text_document_inline_completion_async(
        inline_params(uri, types.Position(line=line, character=0)))
    assert isinstance(result, types.InlineCompletionList)
    return result


async def wait_for(client: LanguageClient, check: Any, timeout: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        current = await status(client)
        if check(current) or loop.time() > end:
            return current
        await asyncio.sleep(2)


def messages(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages]


async def wait_message(client: LanguageClient, text: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not any(text in m for m in messages(client)) and loop.time() < end:
        await asyncio.sleep(0.2)
    assert any(text in m for m in messages(client)), messages(client)


async def test_the_export_is_built_in_the_background_then_used_and_a_broken_one_falls_back(
        tmp_path: Path) -> None:
    home = private_home(tmp_path)
    repo = make_repo(tmp_path / "repo")  # the module to complete in
    options = {"backend": "onnxruntime", "completion": {"maxNewTokens": 8}}

    # 1. No export yet: PyTorch answers at once while the export runs in a child process.
    client = await start(home, options)
    try:
        ready = await wait_ready(client)
        assert ready["state"] == "ready" and ready["backend"] == "torch", ready
        assert "no onnxruntime export" in ready["backendReason"]
        await wait_message(client, "PyTorch runs until it is built")
        await complete(client, repo)
        current = await wait_for(client, lambda s: s["export"] is not None, 60)
        assert current["export"]["state"] in ("running", "done"), current
        # 2. When the child is done, the next request runs on onnxruntime.
        done = await wait_for(client, lambda s: s["backend"] == "onnxruntime" or
                              (s["export"] or {}).get("state") == "failed", 1200)
        assert done["backend"] == "onnxruntime", done
        assert done["export"]["state"] == "done"
        await wait_message(client, "now running on onnxruntime")
        titles = [r.title for reports in client.progress_reports.values() for r in reports
                  if isinstance(r, types.WorkDoneProgressBegin)]
        assert any("exporting the model for onnxruntime" in t for t in titles), titles
        # The same cursor one line down in an edited copy: a new prompt, not a cache hit.
        result = await complete(client, repo, line=21, text="# edited\n" + repo.read_text())
        assert result.items and result.items[0].insert_text
        last = (await status(client))["lastCompletion"]
        assert not last["cached"] and last["timing"]["prompt_tokens"] > 0, last
    finally:
        await client.shutdown_session()

    chosen = json.loads((home / "onnx" / MODEL / "chosen.json").read_text())
    assert set(chosen["measured"]) == {"fp32", "int8", "int4"}
    variant = chosen["variant"]

    # 3. The next server (auto) finds the export and starts on onnxruntime.
    client = await start(home, {"completion": {"maxNewTokens": 8}})
    try:
        ready = await wait_ready(client)
        assert ready["backend"] == "onnxruntime" and ready["backendVariant"] == variant, ready
        assert (await complete(client, repo)).items
    finally:
        await client.shutdown_session()

    # 4. A broken export: PyTorch, a message saying so, and the export removed for rebuild.
    (home / "onnx" / MODEL / variant / "model.onnx").write_bytes(b"truncated")
    client = await start(home, {"completion": {"maxNewTokens": 8}})
    try:
        ready = await wait_ready(client)
        assert ready["state"] == "ready" and ready["backend"] == "torch", ready
        await wait_message(client, "is broken")
        assert not (home / "onnx" / MODEL / "chosen.json").exists()
        assert (await complete(client, repo)).items
    finally:
        await client.shutdown_session()
