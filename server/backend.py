"""Building the onnxruntime export in the background, then switching the engine to it.

Exporting, quantising and measuring a model takes minutes of both cores, so it runs as a
child process at low priority (`python -m adapters.onnx_cache SPEC`), once per base model:
at once when the user chose `backend: "onnxruntime"`, and only when the server has been
idle for `selector.idleSeconds` (no request, no training) under `"auto"`, so it never
competes with the user's typing. PyTorch serves meanwhile; when the child succeeds the
next request runs on onnxruntime. A failure is recorded (no retry loop) and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from server.app import TailorServer

log = logging.getLogger(__name__)
_POLL_SECONDS = 2.0


@dataclass
class ExportJob:
    model: str
    state: str = "running"  # running | done | failed | cancelled
    fraction: float = 0.0
    message: str = "starting"
    process: asyncio.subprocess.Process | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "export", "model": self.model, "state": self.state,
                "fraction": round(self.fraction, 3), "message": self.message}


def _due(ls: TailorServer) -> bool:
    runtime = ls.runtime
    backend = runtime.backend
    if runtime.state != "ready" or backend is None or not backend.wants_export:
        return False
    if ls.export_job is not None and (ls.export_job.state == "running" or
                                      ls.export_job.model == runtime.spec):
        return False  # one export at a time, and one try per model and server
    if ls.settings.backend == "onnxruntime":
        return True
    training = any(j.state in ("starting", "running") for j in ls.jobs.values())
    idle = time.monotonic() - runtime.last_request >= ls.settings.selector.idle_seconds
    return idle and not training


async def watch(ls: TailorServer) -> None:
    """Poll for a due export for as long as the server runs."""
    while True:
        await asyncio.sleep(_POLL_SECONDS)
        try:
            if _due(ls):
                await export_and_switch(ls)
        except asyncio.CancelledError:
            raise
        except Exception:  # the server never dies because a background job failed
            log.exception("background export failed")


async def export_and_switch(ls: TailorServer) -> None:
    runtime = ls.runtime
    spec = runtime.spec
    assert spec is not None
    job = ls.export_job = ExportJob(model=spec)
    token = f"tailor-export-{int(time.time())}"
    caps = ls.client_capabilities.window
    shown = False
    if caps is not None and caps.work_done_progress:
        with contextlib.suppress(Exception):
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                title="Tailor: exporting the model for onnxruntime", percentage=0,
                message="once per model; PyTorch serves meanwhile"))
            shown = True
    ls.publish_status()
    job.process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.onnx_cache", spec, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
        preexec_fn=lambda: os.nice(10))
    assert job.process.stderr is not None and job.process.stdout is not None
    stdout_task = asyncio.ensure_future(job.process.stdout.read())
    tail: list[str] = []
    async for raw in job.process.stderr:
        line = raw.decode("utf-8", "replace").rstrip()
        if line.startswith("progress "):
            _, pct, message = ([*line.split(" ", 2), ""])[:3]
            with contextlib.suppress(ValueError):
                job.fraction = int(pct) / 100
            job.message = message
            if shown:
                ls.work_done_progress.report(token, types.WorkDoneProgressReport(
                    message=message, percentage=int(job.fraction * 100)))
            ls.publish_status()
        elif line:
            tail = ([*tail, line])[-20:]
    code = await job.process.wait()
    await stdout_task
    if job.state == "cancelled":
        summary = "export cancelled"
    elif code == 0:
        summary = await runtime.switch_to_onnx()
        job.state = "done" if runtime.backend and runtime.backend.name == "onnxruntime" \
            else "failed"
    else:
        job.state = "failed"
        errors = [t for t in tail if "Error" in t or "error" in t] or tail or [f"exit {code}"]
        summary = f"the onnxruntime export failed: {errors[-1][:300]}; PyTorch keeps running"
        runtime.export_failed(summary)
    job.message, job.fraction = summary, 1.0 if job.state == "done" else job.fraction
    if shown:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=summary))
    if job.state != "cancelled":
        kind = types.MessageType.Info if job.state == "done" else types.MessageType.Warning
        ls.notify_user(summary, kind)
    ls.publish_status()


def cancel(ls: TailorServer) -> None:
    job = ls.export_job
    if job is not None and job.process is not None and job.process.returncode is None:
        job.state = "cancelled"
        with contextlib.suppress(ProcessLookupError):
            job.process.kill()  # the child writes into staging directories only
