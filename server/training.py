"""`tailor.trainAdapter`: train the repository's adapter in a child process.

Training takes minutes of both cores, so it runs as `tailor train --progress-jsonl` in a
child process at low priority: the server keeps answering completions, a crash there cannot
take the server down, and cancelling is a signal. Progress goes to the editor as
`window/workDoneProgress` (cancellable); when the child finishes the server re-reads the
repository's active adapter, so the next completion uses the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from adapters.dataset import repo_identity
from adapters.repo_context import find_repo_root
from adapters.train import Budget
from server.app import TailorServer

log = logging.getLogger(__name__)
_ids = itertools.count(1)
_KEEP_FINISHED = 5


@dataclass
class Job:
    id: str
    repo: str
    budget: str
    state: str = "starting"  # starting | running | done | failed | cancelled
    fraction: float = 0.0
    message: str = ""
    result: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)
    token: str = ""
    process: asyncio.subprocess.Process | None = None
    cancel_requested: bool = False
    killer: asyncio.Future[None] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": "train", "repo": self.repo, "budget": self.budget,
                "state": self.state, "fraction": round(self.fraction, 3),
                "message": self.message, "result": self.result}


def _repo_root(ls: TailorServer, uri: str | None) -> Path:
    if uri:
        fs_path = to_fs_path(uri)
        if fs_path is None:
            raise JsonRpcInvalidParams(f"tailor.trainAdapter: {uri} is not a file URI")
        path = Path(fs_path)
        start = path if path.is_dir() else path.parent
    else:
        folders = ls.workspace.folders
        root_uri = next(iter(folders.values())).uri if folders else ls.workspace.root_uri
        fs_path = to_fs_path(root_uri) if root_uri else None
        if fs_path is None:
            raise JsonRpcInvalidParams("tailor.trainAdapter: give {uri} of a file in the "
                                       "repository (no workspace folder is open)")
        start = Path(fs_path)
    if not start.is_dir():
        raise JsonRpcInvalidParams(f"tailor.trainAdapter: {start} is not a directory")
    return find_repo_root(start) or start


def _describe(result: dict[str, Any]) -> str:
    def fmt(value: Any, pattern: str) -> str:
        return "n/a" if value is None else pattern.format(value)

    scores = (f"held-out loss {fmt(result.get('heldout_loss_before'), '{:.3f}')} -> "
              f"{fmt(result.get('heldout_loss_after'), '{:.3f}')}, next-line exact match "
              f"{fmt(result.get('exact_match_before'), '{:.0%}')} -> "
              f"{fmt(result.get('exact_match_after'), '{:.0%}')}")
    if result.get("activated"):
        return f"adapter trained and active ({scores})"
    return f"adapter stored but not used: not better than the base model ({scores})"


async def _run(ls: TailorServer, job: Job, model: str, progress: bool) -> None:
    def report(message: str, fraction: float | None = None) -> None:
        job.message = message
        if fraction is not None:
            job.fraction = fraction
        if progress:
            ls.work_done_progress.report(job.token, types.WorkDoneProgressReport(
                message=message, percentage=int(job.fraction * 100), cancellable=True))
        ls.publish_status()

    if progress:
        try:
            await ls.work_done_progress.create_async(job.token)
        except Exception:  # the client refused: train anyway, without a progress bar
            progress = False
    if progress:
        ls.work_done_progress.begin(job.token, types.WorkDoneProgressBegin(
            title="Tailor: training adapter", message=Path(job.repo).name, percentage=0,
            cancellable=True))
    if job.cancel_requested:  # cancelled before the child existed
        job.state = "cancelled"
        if progress:
            ls.work_done_progress.end(job.token, types.WorkDoneProgressEnd(
                message="training cancelled; nothing saved"))
        ls.publish_status()
        return
    command = [sys.executable, "-m", "server.cli", "--log-level", "warning", "train", job.repo,
               "--budget", job.budget, "--model", model, "--progress-jsonl"]
    job.process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL, preexec_fn=lambda: os.nice(10))
    job.state = "running"
    if job.cancel_requested:  # cancelled while the child was starting
        _cancel(job)
    ls.publish_status()
    assert job.process.stdout is not None and job.process.stderr is not None
    stderr_task = asyncio.ensure_future(job.process.stderr.read())
    async for raw in job.process.stdout:
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if event.get("event") == "progress":
            fraction = event.get("fraction")
            loss = event.get("loss")
            text = event.get("message") or (f"{event.get('tokens', 0) / 1000:.1f}k tokens"
                                             + (f", loss {loss:.3f}" if loss else ""))
            report(text, float(fraction) if fraction is not None else None)
        elif event.get("event") in ("done", "error"):
            job.result = event
    code = await job.process.wait()
    errors = (await stderr_task).decode("utf-8", "replace").strip()
    result = job.result or {}
    if job.state == "cancelled" or result.get("cancelled"):
        job.state, summary = "cancelled", "training cancelled; nothing saved"
    elif code == 0 and result.get("event") == "done":
        job.state, job.fraction, summary = "done", 1.0, _describe(result)
    else:
        job.state = "failed"
        reason = result.get("message") or (errors.splitlines()[-1] if errors else f"exit {code}")
        summary = f"training failed: {reason}"
    job.message = summary
    if progress:
        ls.work_done_progress.end(job.token, types.WorkDoneProgressEnd(message=summary))
    if ls.runtime.selector is not None:
        ls.runtime.selector.invalidate(repo_identity(Path(job.repo)))
    kind = types.MessageType.Error if job.state == "failed" else types.MessageType.Info
    ls.notify_user(f"{Path(job.repo).name}: {summary}", kind)
    ls.publish_status()


def _cancel(job: Job) -> None:
    job.cancel_requested = True
    if job.process is not None and job.process.returncode is None:
        job.state = "cancelled"
        job.process.terminate()  # the child stops at its next step and saves nothing

        async def kill_later(process: asyncio.subprocess.Process) -> None:
            await asyncio.sleep(15)
            if process.returncode is None:
                process.kill()

        job.killer = asyncio.ensure_future(kill_later(job.process))


def setup(server: TailorServer) -> None:
    @server.command("tailor.trainAdapter")
    async def train_adapter(ls: TailorServer, *args: Any) -> dict[str, Any]:
        arg = args[0] if args and isinstance(args[0], dict) else {}
        root = _repo_root(ls, arg.get("uri"))
        budget = arg.get("budget") or ls.settings.training.budget
        try:
            Budget.parse(str(budget))
        except ValueError as exc:
            raise JsonRpcInvalidParams(f"tailor.trainAdapter: {exc}") from exc
        running = [j for j in ls.jobs.values() if j.repo == str(root)
                   and j.state in ("starting", "running")]
        if running:
            return {"jobId": running[0].id}
        job = Job(id=f"train-{next(_ids)}", repo=str(root), budget=str(budget))
        job.token = f"tailor-{job.id}-{int(job.started)}"
        ls.jobs[job.id] = job
        finished = [k for k, j in ls.jobs.items() if j.state in ("done", "failed", "cancelled")]
        for old in finished[:-_KEEP_FINISHED]:  # the status keeps a few recent results
            del ls.jobs[old]
        caps = ls.client_capabilities.window
        progress = bool(caps and caps.work_done_progress)
        task = asyncio.ensure_future(_run(ls, job, ls.settings.model, progress))
        task.add_done_callback(lambda t: _job_crashed(ls, job, t))
        return {"jobId": job.id}

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def cancel_progress(ls: TailorServer, params: types.WorkDoneProgressCancelParams) -> None:
        for job in ls.jobs.values():
            if job.token == params.token:
                _cancel(job)


def cancel_all(ls: TailorServer) -> None:
    for job in ls.jobs.values():
        with contextlib.suppress(ProcessLookupError):
            _cancel(job)


def _job_crashed(ls: TailorServer, job: Job, task: asyncio.Future[None]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    log.error("training job %s crashed", job.id, exc_info=task.exception())
    job.state, job.message = "failed", f"training failed: {task.exception()}"
    ls.publish_status()
