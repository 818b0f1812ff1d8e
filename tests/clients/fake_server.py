"""A tiny, deterministic stand-in for `tailor serve`, used by the fast client tests.

It speaks the same LSP surface as the real server (see DESIGN.md, Contracts) but
answers from a fixed table instead of a model, so that editor-side behaviour
(ghost text, typing through, accept word/line, dismiss, status, settings) can be
tested in well under a second per case.

Completion rules: the text before the cursor on the current line is matched
against RULES (longest key that the prefix ends with wins).  A prefix ending in
"slow" sleeps 5 s (cancellable) and returns []; FAKE_TAILOR_DELAY_MS delays every answer.

tailor.trainAdapter starts a fake job: when the client advertised window.workDoneProgress,
window/workDoneProgress/create, then $/progress begin / report (every
FAKE_TAILOR_TRAIN_STEP_MS, default 150) / end, then window/showMessage with the summary, and
tailor/status with the job on every step, as the real server does. A budget in seconds
("30s") takes 4 steps; anything else (minutes, tokens, the default "10m") takes 200 steps,
long enough to cancel (window/workDoneProgress/cancel). A budget of "fail" fails at once.

tailor.commitMessage {uri} answers with a message derived from the repository that holds the
URI (its folder name: "Update <repo>"), after a non-cancellable work done progress when the
client supports it. fake.commitMode {mode, delayMs?} changes later answers: "ok" (default),
"notice" (nothing staged: the unstaged diff was used, with a notice), "error" (a JSON-RPC
error "not a git repository: <path>"); delayMs delays each answer.

tailor.selectModel answers from a canned ranking of three candidates, best first:
smollm2-360m-instruct (the pick), smollm2-135m-instruct (the model in use, with live
acceptance counts) and qwen2.5-coder-1.5b (not available, over the latency budget).
Arguments: [] (or [{}]) returns the ranking; [{"refresh": true}] flips the state to "running"
(fraction 0, it stays there); [{"apply": id}] switches the current model (the status's
model too) and answers {..., "applied": id}; an id not in the ranking or not available is a
JSON-RPC error. fake.selectMode {state?, applyError?} sets the state ("none" answers no
candidates, "disabled" and "error" a message; "error" keeps the older candidates) and makes
later applies fail with applyError (a string; null/"" clears it).

Extra commands for tests (not part of the contract):
  fake.log  -> {"accepted": [...], "initOptions": {...}, "settings": [...],
                "requests": n, "cancelled": n, "workDoneProgress": bool,
                "train": [arguments...], "progressCancelled": [tokens...],
                "commit": [arguments...], "select": [[arguments...]...],
                "applied": [model ids...]}
  fake.bumpStatus -> sends a new tailor/status notification with an active adapter and a
                running (non-training) job
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

RULES: dict[str, str] = {
    "def greet": '(name):\n    return "Hello, " + name',
    "total = compute": "_total(values, scale=2)",
    "print(": '"hello world")',
    "import o": "s",
    "fibonacci(": "n - 2)",
}

DELAY_S = float(os.environ.get("FAKE_TAILOR_DELAY_MS", "0")) / 1000
TRAIN_STEP_S = float(os.environ.get("FAKE_TAILOR_TRAIN_STEP_MS", "150")) / 1000
BUDGET = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h)|(\d+(?:\.\d+)?)\s*([km]?)[-\s]?tokens")
TRAINED = (
    "adapter trained and active (held-out loss 2.000 -> 1.500, next-line exact match 10% -> 20%)"
)

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
    "workDoneProgress": None,
    "train": [],
    "progressCancelled": [],
    "commit": [],
    "select": [],
    "applied": [],
}
COMMIT_MODE: dict[str, Any] = {"mode": "ok", "delayMs": 0}
_commit_tokens = itertools.count(1)
_counter = 0
_train_ids = itertools.count(1)
_cancel_requested: set[str] = set()
_tasks: set[asyncio.Future[None]] = set()


def _status() -> dict[str, Any]:
    return {**STATUS, "jobs": [dict(j) for j in STATUS["jobs"]]}


def _send_status() -> None:
    server.protocol.notify("tailor/status", _status())


@server.feature(types.INITIALIZE)
def on_initialize(ls: LanguageServer, params: types.InitializeParams) -> None:
    LOG["initOptions"] = params.initialization_options
    window = params.capabilities.window
    LOG["workDoneProgress"] = bool(window and window.work_done_progress)


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
    return _status()


@server.command("tailor.trainAdapter")
async def cmd_train(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    arg = args[0] if args and isinstance(args[0], dict) else {}
    LOG["train"].append(arg)
    budget = str(arg.get("budget") or "10m")
    if budget != "fail" and not BUDGET.fullmatch(budget.strip().lower()):
        raise JsonRpcInvalidParams(f"tailor.trainAdapter: bad training budget {budget!r}")
    uri = arg.get("uri")
    repo = Path(to_fs_path(uri) or ".").parent if uri else Path.cwd()
    for job in STATUS["jobs"]:
        if job["repo"] == str(repo) and job["state"] in ("starting", "running"):
            return {"jobId": job["id"]}
    job = {
        "id": f"train-{next(_train_ids)}",
        "kind": "train",
        "repo": str(repo),
        "budget": budget,
        "state": "starting",
        "fraction": 0.0,
        "message": "",
        "result": None,
    }
    STATUS["jobs"].append(job)
    window = ls.client_capabilities.window
    progress = bool(window and window.work_done_progress)
    task = asyncio.ensure_future(_train(ls, job, f"fake-{job['id']}", progress))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return {"jobId": job["id"]}


async def _train(ls: LanguageServer, job: dict[str, Any], token: str, progress: bool) -> None:
    name = Path(job["repo"]).name
    if progress:
        await ls.work_done_progress.create_async(token)
        ls.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(
                title="Tailor: training adapter", message=name, percentage=0, cancellable=True
            ),
        )
    job["state"] = "running"
    _send_status()
    steps = 0 if job["budget"] == "fail" else 4 if job["budget"].strip().endswith("s") else 200
    for step in range(1, steps + 1):
        await asyncio.sleep(TRAIN_STEP_S)
        if token in _cancel_requested:
            break
        job["fraction"] = step / steps
        job["message"] = f"{step * 0.5:.1f}k tokens, loss {2.0 - step / steps / 2:.3f}"
        if progress:
            ls.work_done_progress.report(
                token,
                types.WorkDoneProgressReport(
                    message=job["message"], percentage=int(job["fraction"] * 100), cancellable=True
                ),
            )
        _send_status()
    if token in _cancel_requested:
        job["state"], summary = "cancelled", "training cancelled; nothing saved"
    elif steps == 0:
        job["state"], summary = "failed", "training failed: the fake was asked to fail"
    else:
        job["state"], job["fraction"], summary = "done", 1.0, TRAINED
        job["result"] = {"activated": True, "heldout_loss_before": 2.0, "heldout_loss_after": 1.5}
    job["message"] = summary
    if progress:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=summary))
    kind = types.MessageType.Error if job["state"] == "failed" else types.MessageType.Info
    ls.window_show_message(types.ShowMessageParams(type=kind, message=f"Tailor: {name}: {summary}"))
    _send_status()


def _repo_of(path: Path) -> Path | None:
    """The repository that holds path (a file, a folder, or .git/COMMIT_EDITMSG)."""
    for d in [path, *path.parents]:
        if d.name == ".git":
            return d.parent
        if (d / ".git").exists():
            return d
    return None


def commit_message_for(repo: Path, notice: bool) -> dict[str, Any]:
    """The fake's answer for a repository (the tests check it)."""
    subject = f"Update {repo.name}"
    body = f"Describe the {'unstaged' if notice else 'staged'} changes of {repo.name}."
    return {
        "message": f"{subject}\n\n{body}",
        "subject": subject,
        "body": body,
        "diff": "unstaged" if notice else "staged",
        "notice": "nothing is staged: described the unstaged changes" if notice else None,
        "adapter": None,
        "files": 1,
        "source": "model",
        "timing": {"prompt_tokens": 0, "new_tokens": 0, "total_ms": 0.0},
    }


@server.command("tailor.commitMessage")
async def cmd_commit_message(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    arg = args[0] if args and isinstance(args[0], dict) else {}
    LOG["commit"].append(arg)
    uri = arg.get("uri")
    path = to_fs_path(uri) if isinstance(uri, str) and uri.startswith("file:") else None
    if not path:
        raise JsonRpcInvalidParams(
            "tailor.commitMessage: give {uri} of a file or folder in a git repository"
        )
    window = ls.client_capabilities.window
    token = f"fake-commit-{next(_commit_tokens)}"
    progress = bool(window and window.work_done_progress)
    if progress:
        await ls.work_done_progress.create_async(token)
        begin = types.WorkDoneProgressBegin(title="Tailor: writing a commit message")
        ls.work_done_progress.begin(token, begin)
    try:
        if COMMIT_MODE["delayMs"]:
            await asyncio.sleep(COMMIT_MODE["delayMs"] / 1000)
        repo = _repo_of(Path(path))
        if COMMIT_MODE["mode"] == "error" or repo is None:
            raise JsonRpcException(message=f"not a git repository: {path}", code=-32803)
        return commit_message_for(repo, notice=COMMIT_MODE["mode"] == "notice")
    finally:
        if progress:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd())


@server.command("fake.commitMode")
def cmd_commit_mode(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    arg = args[0] if args and isinstance(args[0], dict) else {}
    COMMIT_MODE["mode"] = str(arg.get("mode") or "ok")
    COMMIT_MODE["delayMs"] = int(arg.get("delayMs") or 0)
    return dict(COMMIT_MODE)


RANKING: list[dict[str, Any]] = [
    {
        "model": "smollm2-360m-instruct",
        "kind": "llama",
        "parameters": 361_821_120,
        "predicted_score": 0.412,
        "measured_score": 0.398,
        "latency_ms": 310.0,
        "within_latency_budget": True,
        "available": True,
        "skipped": None,
        "live": None,
    },
    {
        "model": "smollm2-135m-instruct",
        "kind": "llama",
        "parameters": 134_515_008,
        "predicted_score": 0.301,
        "measured_score": None,
        "latency_ms": 120.0,
        "within_latency_budget": True,
        "available": True,
        "skipped": None,
        "live": {"shown": 40, "accepted": 12, "rate": 0.3},
    },
    {
        "model": "qwen2.5-coder-1.5b",
        "kind": "qwen2",
        "parameters": 1_543_714_304,
        "predicted_score": 0.55,
        "measured_score": None,
        "latency_ms": 1900.0,
        "within_latency_budget": False,
        "available": False,
        "skipped": "not downloaded (no network)",
        "live": None,
    },
]
SELECT: dict[str, Any] = {
    "state": "ready",
    "current": "smollm2-135m-instruct",
    "fraction": None,
    "message": "",
    "applyError": None,
}
SELECT_MESSAGES = {
    "none": "no ranking yet",
    "running": "ranking 3 candidate models (0 of 3 done)",
    "ready": "3 candidates ranked",
    "error": "the fake was asked to fail",
    "disabled": "model selection is off (selector.enable is false)",
}


def select_result() -> dict[str, Any]:
    """The fake's tailor.selectModel answer for the current state (the tests check it)."""
    state = SELECT["state"]
    candidates = [] if state in ("none", "disabled") else [dict(c) for c in RANKING]
    ready = bool(candidates)
    return {
        "state": state,
        "message": SELECT["message"] or SELECT_MESSAGES.get(state, ""),
        "current": SELECT["current"],
        "pick": RANKING[0]["model"] if ready else None,
        "fraction": SELECT["fraction"] if state == "running" else None,
        "computedAt": "2025-01-01T12:00:00+00:00" if ready else None,
        "candidates": candidates,
    }


@server.command("tailor.selectModel")
def cmd_select_model(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    LOG["select"].append(list(args))
    arg = args[0] if args and isinstance(args[0], dict) else {}
    if arg.get("refresh") and SELECT["state"] != "disabled":
        SELECT.update(state="running", fraction=0.0, message="")
        return select_result()
    model = arg.get("apply")
    if model is None:
        return select_result()
    found = next((c for c in RANKING if c["model"] == model), None)
    if found is None:
        raise JsonRpcInvalidParams(f"tailor.selectModel: unknown model {model!r}")
    if not found["available"]:
        raise JsonRpcInvalidParams(
            f"tailor.selectModel: model {model!r} is not available: {found['skipped']}"
        )
    if SELECT["applyError"]:
        raise JsonRpcException(message=str(SELECT["applyError"]), code=-32803)
    LOG["applied"].append(model)
    SELECT["current"] = model
    STATUS["model"] = model
    _send_status()
    return {**select_result(), "applied": model}


@server.command("fake.selectMode")
def cmd_select_mode(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    arg = args[0] if args and isinstance(args[0], dict) else {}
    if "state" in arg:
        SELECT.update(state=str(arg["state"]), message="")
        SELECT["fraction"] = float(arg.get("fraction") or 0.0)
    if "applyError" in arg:
        SELECT["applyError"] = arg["applyError"] or None
    return dict(SELECT)


@server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
def on_progress_cancel(ls: LanguageServer, params: types.WorkDoneProgressCancelParams) -> None:
    LOG["progressCancelled"].append(params.token)
    _cancel_requested.add(str(params.token))


@server.command("tailor.accepted")
def cmd_accepted(ls: LanguageServer, *args: Any) -> None:
    LOG["accepted"].append(args[0] if args else None)
    return None


@server.command("fake.log")
def cmd_log(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    return LOG


@server.command("fake.bumpStatus")
def cmd_bump(ls: LanguageServer, *args: Any) -> None:
    STATUS["adapter"] = "v1"
    STATUS["adapterState"] = "active"
    STATUS["jobs"] = [{"id": "job-1", "kind": "rank", "state": "running"}]
    _send_status()
    return None


def main() -> None:
    server.start_io()


if __name__ == "__main__":
    main()
