"""Bad settings and a missing or corrupt model: a message saying what to do, and a server that
keeps answering."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.helpers import (
    SERVER_COMMAND,
    inline_params,
    make_repo,
    open_doc,
    server_env,
    status,
    wait_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="function")]

CAPS = types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
    inline_completion=types.InlineCompletionClientCapabilities()))


async def wait_for_messages(client: LanguageClient, count: int, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while len(client.messages) < count and loop.time() < end:
        await asyncio.sleep(0.1)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND,
                                              server_env=server_env()))
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_bad_settings_are_reported_and_defaulted(client: LanguageClient,
                                                       tmp_path: Path) -> None:
    await client.initialize_session(types.InitializeParams(capabilities=CAPS,
        initialization_options={"completion": {"maxNewTokens": "lots", "multiline": "sideways",
                                               "timeoutMs": 20000},
                                "logLevel": 7, "noSuchKey": 1}))
    await wait_for_messages(client, 4)
    text = "\n".join(m.message for m in client.messages)
    for key in ("completion.maxNewTokens", "completion.multiline", "logLevel", "noSuchKey"):
        assert key in text, text
    assert "20000" not in text  # the good key beside the bad ones was taken

    before = len(client.messages)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"tailor": {"completion": {"maxPromptTokens": -5}}}))
    await wait_for_messages(client, before + 1)
    assert "completion.maxPromptTokens" in client.messages[-1].message

    ready = await wait_ready(client)
    assert ready["state"] == "ready"
    source = make_repo(tmp_path)
    uri = open_doc(client, source)
    result = await client.text_document_inline_completion_async(
        inline_params(uri, types.Position(line=20, character=0)))
    assert isinstance(result, types.InlineCompletionList)


async def test_missing_model_is_explained_and_the_server_keeps_working(
        client: LanguageClient, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    await client.initialize_session(types.InitializeParams(
        capabilities=CAPS, initialization_options={"model": str(missing)}))
    current = await wait_ready(client)
    assert current["state"] == "error"
    assert str(missing) in current["error"]
    await wait_for_messages(client, 1)
    assert any(str(missing) in m.message and m.type == types.MessageType.Error
               for m in client.messages), [m.message for m in client.messages]

    source = make_repo(tmp_path / "repo")
    uri = open_doc(client, source)
    result = await client.text_document_inline_completion_async(
        inline_params(uri, types.Position(line=20, character=0)))
    assert isinstance(result, types.InlineCompletionList) and not result.items
    assert (await status(client))["state"] == "error"


def _copy_converted_model(home: Path) -> Path:
    persistent = Path(server_env()["TAILOR_HOME"]) / "models" / "smollm2-135m-instruct"
    target = home / "models" / "smollm2-135m-instruct"
    shutil.copytree(persistent, target)
    return target


async def test_corrupt_converted_model_is_rebuilt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    converted = _copy_converted_model(home)
    (converted / "model.safetensors").write_bytes(b"this is not a safetensors file")
    config = ClientServerConfig(server_command=SERVER_COMMAND,
                                server_env=server_env(TAILOR_HOME=str(home)))
    client = await config.start()
    try:
        await client.initialize_session(types.InitializeParams(capabilities=CAPS))
        current = await wait_ready(client)
        assert current["state"] == "ready", current
        assert (converted / "model.safetensors").stat().st_size > 100_000_000
        await client.shutdown_session()
    finally:
        await client.stop()
