"""A tiny, deterministic stand-in for `tailor serve`, used by the fast client tests.

It speaks the same LSP surface as the real server (see DESIGN.md, Contracts) but
answers from a fixed table instead of a model, so that editor-side behaviour
(ghost text, typing through, accept word/line, dismiss, status, settings) can be
tested in well under a second per case.

Completion rules: the text before the cursor on the current line is matched
against RULES (longest key that the prefix ends with wins).  A prefix ending in
"slow" sleeps 5 s (cancellable) and returns []; FAKE_TAILOR_DELAY_MS delays every answer.

Extra commands for tests (not part of the contract):
  fake.log  -> {"accepted": [...], "initOptions": {...}, "settings": [...],
                "requests": n, "cancelled": n}
  fake.bumpStatus -> sends a new tailor/status notification with adapterState "training"
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

RULES: dict[str, str] = {
    "def greet": '(name):\n    return "Hello, " + name',
    "total = compute": "_total(values, scale=2)",
    "print(": '"hello world")',
    "import o": "s",
    "fibonacci(": "n - 2)",
}

DELAY_S = float(os.environ.get("FAKE_TAILOR_DELAY_MS", "0")) / 1000

STATUS: dict[str, Any] = {
    "model": "fake-model",
    "backend": "fake",
    "adapter": None,
    "adapterState": "loading",
    "jobs": [],
    "ranking": [],
}

server = LanguageServer("tailor-fake", "0.0.1")
LOG: dict[str, Any] = {
    "accepted": [],
    "initOptions": None,
    "settings": [],
    "requests": 0,
    "cancelled": 0,
}
_counter = 0


def _send_status() -> None:
    server.protocol.notify("tailor/status", dict(STATUS))


@server.feature(types.INITIALIZE)
def on_initialize(ls: LanguageServer, params: types.InitializeParams) -> None:
    LOG["initOptions"] = params.initialization_options


@server.feature(types.INITIALIZED)
def on_initialized(ls: LanguageServer, params: types.InitializedParams) -> None:
    STATUS["adapterState"] = "base"
    _send_status()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def on_config(ls: LanguageServer, params: types.DidChangeConfigurationParams) -> None:
    LOG["settings"].append(params.settings)


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(
    ls: LanguageServer, params: types.InlineCompletionParams
) -> list[types.InlineCompletionItem]:
    global _counter
    LOG["requests"] += 1
    doc = ls.workspace.get_text_document(params.text_document.uri)
    lines = doc.lines
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    line = line.rstrip("\r\n")
    prefix = line[: params.position.character]
    delay = 5.0 if prefix.endswith("slow") else DELAY_S
    if delay:
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            LOG["cancelled"] += 1
            raise
    if prefix.endswith("slow"):
        return []
    best = ""
    for key in RULES:
        if prefix.endswith(key) and len(key) > len(best):
            best = key
    if not best:
        return []
    _counter += 1
    pos = params.position
    return [
        types.InlineCompletionItem(
            insert_text=RULES[best],
            range=types.Range(start=pos, end=pos),
            command=types.Command(
                title="Tailor: accepted",
                command="tailor.accepted",
                arguments=[{"id": f"fake-{_counter}"}],
            ),
        )
    ]


@server.command("tailor.status")
def cmd_status(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    return dict(STATUS)


@server.command("tailor.accepted")
def cmd_accepted(ls: LanguageServer, *args: Any) -> None:
    LOG["accepted"].append(args[0] if args else None)
    return None


@server.command("fake.log")
def cmd_log(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    return LOG


@server.command("fake.bumpStatus")
def cmd_bump(ls: LanguageServer, *args: Any) -> None:
    STATUS["adapterState"] = "training"
    STATUS["jobs"] = [{"id": "job-1", "kind": "train"}]
    _send_status()
    return None


def main() -> None:
    server.start_io()


if __name__ == "__main__":
    main()
