"""`tailor serve` as a subprocess with the real default model, driven by a real LSP client."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcInvalidParams,
    JsonRpcMethodNotFound,
    JsonRpcRequestCancelled,
)
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.helpers import (
    SERVER_COMMAND,
    inline_params,
    make_repo,
    open_doc,
    position_of,
    server_env,
    status,
    wait_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

SPECIALS = ("<file_sep>", "<repo_name>", "<filename>", "<|endoftext|>", "<|im_end|>")
OPTIONS = {"completion": {"maxNewTokens": 24, "timeoutMs": 30000}, "logLevel": "debug"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("repo"))


CONFIG = ClientServerConfig(server_command=SERVER_COMMAND, server_env=server_env())


@pytest_lsp.fixture(scope="module", config=CONFIG)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    caps = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities()),
        window=types.WindowClientCapabilities(work_done_progress=True))
    result = await lsp_client.initialize_session(
        types.InitializeParams(capabilities=caps, initialization_options=OPTIONS))
    assert result.capabilities.inline_completion_provider is not None
    ready = await wait_ready(lsp_client)
    assert ready["state"] == "ready", ready
    yield
    await lsp_client.shutdown_session()


async def complete(client: LanguageClient, uri: str, pos: types.Position) -> str:
    result = await client.text_document_inline_completion_async(inline_params(uri, pos))
    assert isinstance(result, types.InlineCompletionList)
    assert len(result.items) <= 1
    if not result.items:
        return ""
    item = result.items[0]
    assert item.range is not None and item.range.start == pos
    assert item.command is not None and item.command.command == "tailor.accepted"
    text = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    assert text.strip(), "whitespace-only suggestions must be dropped"
    assert not any(s in text for s in SPECIALS), text
    return text


async def test_status_reports_the_default_model(client: LanguageClient) -> None:
    current = await status(client)
    assert current["model"] == "smollm2-135m-instruct"
    assert current["state"] == "ready"
    assert {"model", "backend", "adapter", "adapterState", "jobs", "ranking"} <= set(current)
    assert Path(current["modelPath"]).is_dir()


async def test_inline_completion_at_several_cursors(client: LanguageClient, repo: Path) -> None:
    text = repo.read_text()
    uri = open_doc(client, repo)
    suggestions = {}

    # End of a block opener: a block, every line inside the function's body.
    opener = "    def drain(self):"
    pos = position_of(text, opener)
    block = await complete(client, uri, pos)
    suggestions["block"] = block
    for line in block.split("\n")[1:]:
        assert not line.strip() or len(line) - len(line.lstrip()) > 4, block

    # Mid-line, inside a call: the rest of the line only, never the text after the cursor.
    pos = position_of(text, "heapq.heappush(self._heap, ")
    rest_of_line = text.split("\n")[pos.line][pos.character:]
    mid = await complete(client, uri, pos)
    suggestions["mid"] = mid
    assert "\n" not in mid
    assert not mid.endswith(rest_of_line)

    # End of an ordinary line: at most the next statement, not a copy of the line above.
    pos = position_of(text, "        names = []")
    line_end = await complete(client, uri, pos)
    suggestions["line"] = line_end
    assert "names = []" not in line_end

    # After `return ` in a one-line body.
    pos = position_of(text, "        return len(")
    suggestions["call"] = await complete(client, uri, pos)

    assert sum(1 for s in suggestions.values() if s) >= 3, suggestions


async def test_typing_through_a_suggestion_is_answered_from_the_cache(
        client: LanguageClient, repo: Path) -> None:
    text = repo.read_text()
    uri = open_doc(client, repo, version=2)
    first = ""
    for needle in ("        task.attempts += 1", "    def retry(self, task):", "def run("):
        pos = position_of(text, needle)
        first = await complete(client, uri, pos)
        if len(first) >= 2:
            break
    assert len(first) >= 2, first
    typed = first[0]
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=pos, end=pos), text=typed)]))
    after = (types.Position(line=pos.line + 1, character=0) if typed == "\n"
             else types.Position(line=pos.line, character=pos.character + 1))
    second = await complete(client, uri, after)
    last = (await status(client))["lastCompletion"]
    assert last["cached"] is True, last
    assert second == first[1:].rstrip() or first[1:].startswith(second), (first, second)


async def test_cancel_request_answers_promptly(client: LanguageClient, repo: Path) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"completion": {"maxNewTokens": 400, "multiline": "always",
                                  "timeoutMs": 120000, "maxPromptTokens": 6000}}))
    # A prompt of about 6,000 tokens: its prefill alone takes many seconds on this CPU.
    text = repo.read_text() * 14
    path = repo.parent / "long_copy.py"
    uri = open_doc(client, path, text=text)
    msg_id = "cancel-me"
    end = types.Position(line=text.count("\n"), character=0)
    future = asyncio.ensure_future(client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, end), msg_id=msg_id))
    await asyncio.sleep(1.0)
    cancelled_at = time.monotonic()
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
    with pytest.raises(JsonRpcRequestCancelled):
        await future
    # Uncancelled, the prefill and 400 tokens take well over 10 s on this CPU.
    assert time.monotonic() - cancelled_at < 5.0
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=OPTIONS))
    # The server still answers afterwards.
    assert (await status(client))["state"] == "ready"


async def test_newer_request_supersedes_older(client: LanguageClient, repo: Path) -> None:
    text = repo.read_text()
    uri = open_doc(client, repo, version=10)
    a = asyncio.ensure_future(client.text_document_inline_completion_async(
        inline_params(uri, position_of(text, "    def pop(self):"))))
    b = asyncio.ensure_future(client.text_document_inline_completion_async(
        inline_params(uri, position_of(text, "    def push(self, name, priority=0):"))))
    first, second = await asyncio.gather(a, b)
    # Both are answered; the older one was stopped by the newer one, so it offers nothing.
    assert isinstance(first, types.InlineCompletionList) and not first.items
    assert isinstance(second, types.InlineCompletionList)


async def test_bad_input_leaves_the_server_answering(client: LanguageClient, repo: Path) -> None:
    # Unknown URI: an empty answer, no error.
    ghost = (repo.parent / "never_opened.py").as_uri()
    result = await client.text_document_inline_completion_async(
        inline_params(ghost, types.Position(line=0, character=0)))
    assert isinstance(result, types.InlineCompletionList) and not result.items

    # Binary content and unknown file types: no suggestion.
    binary = open_doc(client, repo.parent / "blob.py", text="abc\0\x01\x02def f(")
    result = await client.text_document_inline_completion_async(
        inline_params(binary, types.Position(line=0, character=5)))
    assert not result.items
    unknown = open_doc(client, repo.parent / "data.xyz", text="key = value\nother = ",
                       language="plaintext")
    result = await client.text_document_inline_completion_async(
        inline_params(unknown, types.Position(line=1, character=8)))
    assert not result.items
    assert not [m for m in client.messages if m.type == types.MessageType.Error]

    # Unknown method: a MethodNotFound error, not a crash.
    with pytest.raises(JsonRpcMethodNotFound):
        await client.protocol.send_request_async("tailor/noSuchMethod", {})

    # Malformed JSON and invalid UTF-8 on the wire.
    server = client._server
    assert server is not None and server.stdin is not None
    for body in (b"{not json", b'{"jsonrpc": "2.0", "method": "x", "params": "\xff\xfe"}'):
        server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await server.stdin.drain()

    # A huge file: the prompt is cut to the budget.
    huge = "x = 1\n" * 200_000 + "def last():\n    return "
    uri = open_doc(client, repo.parent / "huge.py", text=huge)
    await client.text_document_inline_completion_async(
        inline_params(uri, position_of(huge, "    return ")))
    last = (await status(client))["lastCompletion"]
    assert last["timing"]["prompt_tokens"] <= 1024
    assert (await status(client))["state"] == "ready"


async def raw_request(client: LanguageClient, msg_id: str, method: str, params: object) -> Any:
    """Send a request as raw JSON (the typed client would refuse these params)."""
    future: Future[Any] = Future()
    client.protocol._request_futures[msg_id] = future
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method,
                       "params": params}).encode()
    server = client._server
    assert server is not None and server.stdin is not None
    server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await server.stdin.drain()
    return await asyncio.wait_for(asyncio.wrap_future(future), timeout=60)


async def test_unreadable_params_get_an_error_reply(client: LanguageClient, repo: Path) -> None:
    uri = open_doc(client, repo, version=20)
    bad = {"textDocument": {"uri": uri}, "position": {"line": "ten", "character": 0},
           "context": {"triggerKind": 2}}
    with pytest.raises(JsonRpcInvalidParams):
        await raw_request(client, "bad-params", types.TEXT_DOCUMENT_INLINE_COMPLETION, bad)
    # VS Code's 0-based "invoke" trigger kind is read as LSP's Invoked.
    vscode_style = {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 0},
                    "context": {"triggerKind": 0}}
    result = await raw_request(client, "vscode-style", types.TEXT_DOCUMENT_INLINE_COMPLETION,
                               vscode_style)
    assert result is not None and isinstance(result.items, list)
