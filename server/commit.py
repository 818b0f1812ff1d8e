"""`tailor.commitMessage` and completion inside a commit-message buffer.

Both describe the staged diff of the repository the request names; the writing itself is
`adapters.commit_message`. The model runs on the inference thread like completion does,
with the repository's adapter selected first, so the message is in the repository's style.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.uris import to_fs_path

from adapters.commit_message import CommitMessage, CommitMessageError, CommitWriter, repo_root_of
from adapters.completion import CompletionResult
from server.app import TailorServer
from server.progress import busy

log = logging.getLogger(__name__)

COMMIT_FILES = frozenset({"COMMIT_EDITMSG", "MERGE_MSG", "SQUASH_MSG"})
COMMIT_LANGUAGES = frozenset({"gitcommit", "git-commit"})


def failed(message: str) -> JsonRpcException:
    return JsonRpcException(code=types.LSPErrorCodes.RequestFailed, message=message)


def is_commit_buffer(path: Path, language_id: str | None) -> bool:
    return path.name in COMMIT_FILES or (language_id or "") in COMMIT_LANGUAGES


def message_area(text: str) -> str:
    """The part of a commit buffer git keeps: everything before its comment block."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("#"):
            return "\n".join(lines[:i])
    return text


def _writer(ls: TailorServer) -> CommitWriter:
    completer = ls.runtime.completer
    assert completer is not None
    settings = ls.settings.commit
    writer = ls.commit_writer
    if not isinstance(writer, CommitWriter) or writer.engine is not completer.engine:
        writer = ls.commit_writer = CommitWriter(completer.engine)
    writer.max_prompt_tokens = settings.max_prompt_tokens
    writer.max_new_tokens = settings.max_new_tokens
    return writer


def _use_adapter(ls: TailorServer, root: Path) -> str | None:
    """Select the repository's adapter on the inference thread; its key, or None."""
    selector = ls.runtime.selector
    if selector is None:
        return None
    before = selector.last
    choice = selector.select(root / "COMMIT_EDITMSG", ls.settings.adapters.enable)
    if choice != before:
        ls.publish_status()
    return choice.key


async def write_message(ls: TailorServer, uri: str) -> CommitMessage:
    fs_path = to_fs_path(uri) if uri.startswith("file:") else None
    if not fs_path:
        raise failed(f"tailor.commitMessage: {uri!r} is not a file URI inside a repository.")
    try:
        root = repo_root_of(Path(fs_path))
    except CommitMessageError as exc:
        raise failed(str(exc)) from None
    if not await ls.runtime.wait_loaded() or ls.runtime.completer is None:
        raise failed(f"The model is not loaded: {ls.runtime.error or 'still loading'}")
    writer = _writer(ls)
    timeout = ls.settings.commit.timeout_ms / 1000

    def job(cancel: threading.Event) -> CommitMessage:
        adapter = _use_adapter(ls, root)
        return writer.write(root, adapter=adapter, cancel=cancel,
                            deadline=time.monotonic() + timeout)

    async with busy(ls, "Tailor: writing a commit message", root.name):
        try:
            result = await ls.runtime.run(f"commit:{root}", job)
        except CommitMessageError as exc:
            raise failed(str(exc)) from None
    log.info("commit message for %s (%s, %s files, %s): %r", root, result.diff, result.files,
             result.source, result.subject)
    return result


async def suggest_in_commit_buffer(ls: TailorServer, uri: str, path: Path, source: str,
                                   offset: int) -> CompletionResult | None:
    """Ghost text in COMMIT_EDITMSG: the whole message in an empty buffer, else the rest of
    the line being typed (only at its end)."""
    prefix, suffix = source[:offset], source[offset:]
    typed = message_area(prefix)
    if len(typed) != len(prefix) or suffix.split("\n", 1)[0].strip():
        return None  # in the comment block, or in the middle of a line
    try:
        root = repo_root_of(path)
    except CommitMessageError:
        return None
    if not await ls.runtime.wait_loaded() or ls.runtime.completer is None:
        return None
    writer = _writer(ls)
    timeout = ls.settings.completion.timeout_ms / 1000

    def job(cancel: threading.Event) -> str:
        adapter = _use_adapter(ls, root)
        try:
            return writer.continue_message(root, typed, adapter=adapter, cancel=cancel,
                                           deadline=time.monotonic() + timeout)
        except CommitMessageError as exc:
            log.info("no commit-message completion for %s: %s", root, exc)
            return ""

    text = await ls.runtime.run(uri, job)
    mode = "block" if not typed.strip() else "line"
    return CompletionResult(text=text, mode=mode, finish="commit") if text else None


def setup(server: TailorServer) -> None:
    @server.command("tailor.commitMessage")
    async def commit_message(ls: TailorServer, *args: Any) -> dict[str, Any]:
        arg = args[0] if args and isinstance(args[0], dict) else {}
        uri = arg.get("uri")
        if not isinstance(uri, str):
            folders = list(ls.workspace.folders.values())
            if not folders:
                raise failed("tailor.commitMessage: give {uri} of a file or folder in the "
                             "repository (there is no workspace folder to use).")
            uri = folders[0].uri
        result = await write_message(ls, uri)
        return result.to_dict()  # the client shows `notice`
