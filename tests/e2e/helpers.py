"""Helpers for end-to-end tests: real git repositories and a real `tailor serve`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from lsprotocol import types

SERVER_COMMAND = [sys.executable, "-m", "server.cli", "serve"]


def server_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TAILOR_HOME": os.environ["TAILOR_TEST_SESSION_HOME"], **extra}


def private_home(tmp_path: Path) -> Path:
    """A data directory of the test's own that shares the session's converted models (so
    nothing is converted twice) and nothing else."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(Path(os.environ["TAILOR_TEST_SESSION_HOME"]) / "models")
    return home


# An editor that shows inline completions and progress bars.
INLINE_CAPS = types.ClientCapabilities(
    window=types.WindowClientCapabilities(work_done_progress=True),
    text_document=types.TextDocumentClientCapabilities(
        inline_completion=types.InlineCompletionClientCapabilities()))


async def start_server(home: Path, options: dict[str, Any], *, root: Path | None = None,
                       asked: list[str] | None = None, **env: str) -> Any:
    """A real `tailor serve` on its own data directory, initialised with `options`;
    `asked` collects the messages of `window/showMessageRequest` (answered with nothing)."""
    from pytest_lsp import ClientServerConfig

    config = ClientServerConfig(server_command=SERVER_COMMAND,
                                server_env=server_env(TAILOR_HOME=str(home), **env))
    client = await config.start()
    if asked is not None:
        @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def show_message_request(params: types.ShowMessageRequestParams) -> None:
            asked.append(params.message)

    await client.initialize_session(types.InitializeParams(
        capabilities=INLINE_CAPS, root_uri=root.as_uri() if root else None,
        initialization_options=options))
    return client


# A real module (trimmed from a small task-queue library) so the model sees ordinary code.
APP_PY = textwrap.dedent('''\
    """A small in-memory task queue with retries."""

    import heapq
    import time
    from dataclasses import dataclass, field

    from .util import clamp


    @dataclass(order=True)
    class Task:
        priority: int
        name: str = field(compare=False)
        attempts: int = field(default=0, compare=False)


    class TaskQueue:
        def __init__(self, max_attempts=3):
            self._heap = []
            self.max_attempts = max_attempts

        def push(self, name, priority=0):
            heapq.heappush(self._heap, Task(clamp(priority, 0, 10), name))

        def pop(self):
            if not self._heap:
                return None
            return heapq.heappop(self._heap)

        def __len__(self):
            return len(self._heap)

        def retry(self, task):
            task.attempts += 1
            if task.attempts >= self.max_attempts:
                return False
            self.push(task.name, task.priority + 1)
            return True

        def drain(self):
            names = []
            while self._heap:
                names.append(self.pop().name)
            return names


    def run(queue, handler, delay=0.0):
        done = 0
        while len(queue):
            task = queue.pop()
            try:
                handler(task.name)
                done += 1
            except Exception:
                queue.retry(task)
            time.sleep(delay)
        return done
    ''')

UTIL_PY = textwrap.dedent('''\
    def clamp(value, low, high):
        """Limit value to the closed range [low, high]."""
        return max(low, min(high, value))
    ''')


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.email=test@example.com",
                    "-c", "user.name=Test", *args], check=True, capture_output=True)


def make_repo(root: Path, name: str = "") -> Path:
    """A git repository with a package `queue_app` holding two real modules (`name` makes
    its root commit, hence its identity, differ from other such repositories)."""
    pkg = root / "queue_app"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "app.py").write_text(APP_PY)
    (pkg / "util.py").write_text(UTIL_PY)
    (root / ".gitignore").write_text("secrets/\n")
    (root / "README.md").write_text(f"# queue_app {name}\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "Add task queue")
    return pkg / "app.py"


def position_of(text: str, needle: str, *, after: bool = True) -> types.Position:
    """The position at the end (or start) of the first occurrence of `needle`."""
    offset = text.index(needle) + (len(needle) if after else 0)
    line = text.count("\n", 0, offset)
    character = offset - (text.rfind("\n", 0, offset) + 1)
    return types.Position(line=line, character=character)


async def status(client: Any) -> dict[str, Any]:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tailor.status", arguments=[{}]))
    return dict(result)


async def wait_ready(client: Any, timeout: float = 300.0) -> dict[str, Any]:
    """Poll `tailor.status` until the model finished loading (first run converts it)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        current = await status(client)
        if current["state"] in ("ready", "error") or loop.time() > end:
            return current
        await asyncio.sleep(0.5)


def open_doc(client: Any, path: Path, text: str | None = None, language: str = "python",
             version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=language, version=version,
                                             text=path.read_text() if text is None else text)))
    return uri


def inline_params(uri: str, position: types.Position) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position,
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic))
