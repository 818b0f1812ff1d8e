"""One server, several repositories, each with its own adapter for the real default model."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import pytest_lsp
import torch
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from adapters.dataset import repo_identity
from tests.e2e.helpers import (
    SERVER_COMMAND,
    git,
    inline_params,
    make_repo,
    open_doc,
    server_env,
    status,
    wait_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]
MODEL = "smollm2-135m-instruct"
HOME = Path(server_env()["TAILOR_HOME"])


def store_random_adapter(repo_id: str, seed: int) -> str:
    """An adapter in the store, made the way training makes one (same recipe), with random
    LoRA weights: enough to tell which adapter served a request. Returns its version."""
    from adapters.lora import attach
    from adapters.models import load
    from adapters.store import AdapterStore

    with mock.patch.dict(os.environ, {"TAILOR_HOME": str(HOME)}):
        loaded = load(MODEL)  # the converted copy the servers use
    peft_model = attach(loaded.model)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.01)
    info = AdapterStore(HOME / "adapters").commit_version(
        repo_id, MODEL, peft_model, {"note": "test adapter"}, activate=True)
    return info.version


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three repositories: two with adapters, one without."""
    found = {}
    for name in ("alpha", "beta", "gamma"):
        found[name] = make_repo(tmp_path_factory.mktemp(name), name)
    return found


@pytest.fixture(scope="module")
def versions(repos: dict[str, Path]) -> dict[str, str]:
    ids = {name: repo_identity(path.parent.parent) for name, path in repos.items()}
    assert len(set(ids.values())) == 3
    return {name: f"{ids[name]}/{store_random_adapter(ids[name], seed)}"
            for seed, name in enumerate(("alpha", "beta"), start=1)} | {"gamma": ""}


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=SERVER_COMMAND,
                                                              server_env=server_env()))
async def client(lsp_client: LanguageClient, versions: dict[str, str]):  # type: ignore[no-untyped-def]
    caps = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities()),
        window=types.WindowClientCapabilities(work_done_progress=True))
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=caps, initialization_options={"completion": {"maxNewTokens": 8,
                                                                   "timeoutMs": 30000}}))
    assert (await wait_ready(lsp_client))["state"] == "ready"
    yield
    await lsp_client.shutdown_session()


async def test_each_repository_uses_its_own_adapter(client: LanguageClient,
                                                    repos: dict[str, Path],
                                                    versions: dict[str, str]) -> None:
    uris = {name: open_doc(client, path) for name, path in repos.items()}
    seen = []
    for name in ("alpha", "beta", "alpha", "gamma", "beta", "gamma", "alpha"):
        await client.text_document_inline_completion_async(
            inline_params(uris[name], types.Position(line=20, character=0)))
        current = await status(client)
        expected = versions[name] or None
        assert current["adapter"] == expected, (name, current)
        assert current["adapterState"] == ("active" if expected else "none")
        seen.append(current["lastCompletion"]["finish"])
    # Each adapter generated its own answer; back on alpha, alpha's answer is still cached
    # (the cache is keyed by adapter).
    assert seen[0] != "cache" and seen[1] != "cache" and seen[2] == "cache", seen


async def test_corrupt_adapter_falls_back_to_the_base_model(client: LanguageClient,
                                                             tmp_path: Path) -> None:
    source = make_repo(tmp_path / "delta", "delta")
    repo_id = repo_identity(source.parent.parent)
    version = store_random_adapter(repo_id, seed=9)
    weights = HOME / "adapters" / repo_id / MODEL / version / "adapter_model.safetensors"
    weights.write_bytes(b"truncated")
    uri = open_doc(client, source)
    result = await client.text_document_inline_completion_async(
        inline_params(uri, types.Position(line=20, character=0)))
    assert isinstance(result, types.InlineCompletionList)
    current = await status(client)
    assert current["adapter"] is None
    assert current["adapterState"] in ("corrupt", "not-better")


SMALL_PY = textwrap.dedent('''\
    def area(width, height):
        return width * height


    def perimeter(width, height):
        return 2 * (width + height)
    ''')


def small_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    for i in range(4):
        (root / f"shape{i}.py").write_text(SMALL_PY.replace("area", f"area{i}"))
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "Add shapes")
    (root / "shape0.py").write_text(SMALL_PY.replace("2 *", "2.0 *"))
    git(root, "commit", "-qam", "Fix perimeter for floats")
    return root


async def wait_job(client: LanguageClient, job_id: str, timeout: float = 600) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        job = next(j for j in (await status(client))["jobs"] if j["id"] == job_id)
        if job["state"] in ("done", "failed", "cancelled"):
            return dict(job)
        await asyncio.sleep(1)
    raise AssertionError(f"job {job_id} did not finish")


async def test_train_adapter_reports_progress_and_stores_the_result(
        client: LanguageClient, tmp_path: Path) -> None:
    root = small_repo(tmp_path / "shapes")
    uri = open_doc(client, root / "shape1.py")
    reply = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="tailor.trainAdapter", arguments=[{"uri": uri, "budget": "90s"}]))
    job_id = reply["jobId"]
    # The server keeps answering completions while the child process trains.
    result = await client.text_document_inline_completion_async(
        inline_params(uri, types.Position(line=1, character=0)))
    assert isinstance(result, types.InlineCompletionList)
    job = await wait_job(client, job_id)
    assert job["state"] == "done", job
    outcome = job["result"]
    assert outcome["tokens"] > 0 and outcome["adapter_path"]
    assert Path(outcome["adapter_path"], "adapter_model.safetensors").is_file()
    kinds = [p.kind for reports in client.progress_reports.values() for p in reports]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    listed = subprocess.run([sys.executable, "-m", "server.cli", "adapters", "list", "--json"],
                            env={**os.environ, "TAILOR_HOME": str(HOME)},
                            capture_output=True, text=True, check=True)
    assert outcome["adapter_path"] in listed.stdout


async def test_training_can_be_cancelled_from_the_progress_bar(
        client: LanguageClient, tmp_path: Path) -> None:
    root = small_repo(tmp_path / "shapes2")
    before = set(client.progress_reports)
    reply = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="tailor.trainAdapter", arguments=[{"uri": root.as_uri(), "budget": "10m"}]))
    loop = asyncio.get_running_loop()
    end = loop.time() + 120
    while not set(client.progress_reports) - before and loop.time() < end:
        await asyncio.sleep(0.2)
    (token,) = set(client.progress_reports) - before
    await asyncio.sleep(2)
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    job = await wait_job(client, reply["jobId"], timeout=120)
    assert job["state"] == "cancelled"
    assert not (HOME / "adapters" / repo_identity(root)).exists()
