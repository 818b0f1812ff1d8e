"""On-save performance hints through the real server, and `tailor perf` on a real git
repository: a function made clearly slower gets a hint naming why, an unchanged one none."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.helpers import SERVER_COMMAND, git, make_repo, server_env

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="function")]

BEFORE = textwrap.dedent('''\
    def common(items, others):
        found = []
        wanted = set(others)
        for item in items:
            if item in wanted:
                found.append(item)
        return found


    def total(values):
        return sum(values)
    ''')
# `common` now scans `others` for every item, and `found` (a list) inside that loop.
AFTER = BEFORE.replace('''    wanted = set(others)
    for item in items:
        if item in wanted:
            found.append(item)''', '''    for item in items:
        for other in others:
            if item == other and item not in found:
                found.append(item)''')


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND,
                                              server_env=server_env()))
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        initialization_options={"backend": "torch"}))
    yield
    await lsp_client.shutdown_session()


async def wait_for_perf(client: LanguageClient, uri: str, count: int,
                        timeout: float = 60) -> list[types.Diagnostic]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        found = [d for d in client.diagnostics.get(uri, []) if d.source == "tailor-perf"]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    return [d for d in client.diagnostics.get(uri, []) if d.source == "tailor-perf"]


def open_before(client: LanguageClient, uri: str) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                             text=BEFORE)))


def save(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri), text=text))


async def test_a_save_that_makes_a_function_slower_gets_a_hint_on_its_name(
        client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "sets.py"
    path.write_text(BEFORE)
    uri = path.as_uri()
    open_before(client, uri)
    save(client, uri, BEFORE.replace("return sum(values)", "return sum(values)  # same"), 2)
    await asyncio.sleep(1.0)
    assert await wait_for_perf(client, uri, 1, timeout=2) == []  # a comment changes nothing

    save(client, uri, AFTER, 3)
    hints = await wait_for_perf(client, uri, 1)
    assert len(hints) == 1, client.diagnostics.get(uri)
    hint = hints[0]
    line = AFTER.splitlines()[hint.range.start.line]
    assert line[hint.range.start.character:hint.range.end.character] == "common"
    assert hint.severity == types.DiagnosticSeverity.Information
    assert "slower" in hint.message and "others" in hint.message, hint.message
    assert hint.data["predictedRatio"] >= 1.5 and hint.data["reasons"]
    assert "measured" not in hint.message and "measuredRatio" not in hint.data  # not allowed

    # Saving an unrelated edit keeps the hint (its function did not change again) ...
    save(client, uri, AFTER.replace("sum(values)", "sum(values, 0)"), 4)
    await asyncio.sleep(1.0)
    assert [d.range for d in await wait_for_perf(client, uri, 1)] == [hint.range]
    # ... and restoring the fast version says so, as a hint (both directions are reported).
    save(client, uri, BEFORE, 5)
    loop = asyncio.get_running_loop()
    end = loop.time() + 60
    while "faster" not in (await wait_for_perf(client, uri, 1))[0].message and \
            loop.time() < end:
        await asyncio.sleep(0.1)
    (faster,) = await wait_for_perf(client, uri, 1)
    assert "faster" in faster.message and faster.severity == types.DiagnosticSeverity.Hint
    assert faster.data["predictedRatio"] <= 1 / 1.5


async def test_an_edit_saved_with_a_typo_gets_its_hint_once_the_typo_is_fixed(
        client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "typo.py"
    uri = path.as_uri()
    open_before(client, uri)
    save(client, uri, AFTER.replace("return sum(values)", "return sum(values"), 2)
    await asyncio.sleep(1.0)
    assert await wait_for_perf(client, uri, 1, timeout=2) == []  # nothing to compare yet
    save(client, uri, AFTER, 3)  # compared with the last version that parsed: BEFORE
    (hint,) = await wait_for_perf(client, uri, 1)
    assert "slower" in hint.message and hint.data["function"] == "common"


async def test_with_perf_measure_the_functions_are_timed_in_the_sandbox(
        client: LanguageClient, tmp_path: Path) -> None:
    home = Path(server_env()["TAILOR_HOME"])
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"tailor": {"backend": "torch", "perf": {"measure": True}}}))
    path = tmp_path / "measured.py"
    uri = path.as_uri()
    open_before(client, uri)
    save(client, uri, AFTER, 2)
    loop = asyncio.get_running_loop()
    end = loop.time() + 120
    while loop.time() < end:
        hints = await wait_for_perf(client, uri, 1)
        if hints and "measuredRatio" in hints[0].data:
            break
        await asyncio.sleep(0.2)
    (hint,) = await wait_for_perf(client, uri, 1)
    assert "measured" in hint.message, hint.message
    # The nested scan of a 200-element list against a set lookup: clearly slower, for real.
    assert hint.data["measuredRatio"] > 3, hint.data
    assert (home / "perf" / "measured.jsonl").read_text().count("\n") >= 1


async def test_hints_can_be_switched_off(client: LanguageClient, tmp_path: Path) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"tailor": {"backend": "torch", "perf": {"enable": False}}}))
    path = tmp_path / "sets.py"
    uri = path.as_uri()
    open_before(client, uri)
    save(client, uri, AFTER, 2)
    await asyncio.sleep(2.0)
    assert await wait_for_perf(client, uri, 1, timeout=1) == []


async def test_tailor_perf_compares_with_a_git_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo)
    (repo / "sets.py").write_text(BEFORE)
    git(repo, "add", "sets.py")
    git(repo, "commit", "-q", "-m", "sets")
    (repo / "sets.py").write_text(AFTER)
    run = subprocess.run([sys.executable, "-m", "server.cli", "perf", str(repo / "sets.py"),
                          "--json"], capture_output=True, text=True, timeout=120,
                         env=server_env(), check=False)
    assert run.returncode == 0, run.stderr
    functions = json.loads(run.stdout)["functions"]
    assert [f["name"] for f in functions] == ["common"]
    assert functions[0]["predicted_ratio"] >= 1.5 and functions[0]["reasons"]
    plain = subprocess.run([sys.executable, "-X", "importtime", "-m", "server.cli", "perf",
                            str(repo / "sets.py"), "--against", "HEAD"], capture_output=True,
                           text=True, timeout=120, env=server_env(), check=False)
    assert "sets.py:1: common: predicted" in plain.stdout, plain.stdout
    # the command never waits for torch (a second or more at start): onnxruntime predicts
    imported = [line.rsplit("|", 1)[-1].strip() for line in plain.stderr.splitlines()
                if line.startswith("import time:")]
    assert "onnxruntime" in imported and "torch" not in imported
    (repo / "sets.py").write_text(AFTER + "\ndef broken(:\n")
    unparsable = subprocess.run([sys.executable, "-m", "server.cli", "perf",
                                 str(repo / "sets.py")], capture_output=True, text=True,
                                timeout=120, env=server_env(), check=False)
    assert unparsable.returncode == 1 and "sets.py does not parse (line" in unparsable.stderr
    outside = tmp_path / "loose.py"
    outside.write_text(AFTER)
    missing = subprocess.run([sys.executable, "-m", "server.cli", "perf", str(outside)],
                             capture_output=True, text=True, timeout=120, env=server_env(),
                             check=False)
    assert missing.returncode == 2 and "not in git" in missing.stderr
