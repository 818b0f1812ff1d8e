"""The model selector in the server: background ranking, `tailor.selectModel`, switching.

Ranking measures every candidate and fine-tunes a few, so it runs as a low-priority child
process (`python -m selector.ranking.job`) only when the server has been idle for
`selector.idleSeconds`, at most once per `RECHECK_SECONDS`, and only when there is a
choice to make (two or more candidates available). The child returns the cached ranking
in a second while the repository has not drifted. When a new ranking prefers another
model, the user is asked (once per pick) whether to switch, or it switches by itself
with `selector.autoSwitch`. A switch is remembered per workspace for as long as the
configured `model` stays what it was when the switch was made: configuration wins.

Live acceptance (`selector.ranking.telemetry`) is folded in whenever the ranking is read,
so it reflects what was accepted since the ranking was computed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from adapters.paths import data_dir
from adapters.repo_context import find_repo_root
from selector.ranking.catalogue import Catalogue, catalogue
from selector.ranking.telemetry import Telemetry, apply_live
from server.app import TailorServer

log = logging.getLogger(__name__)

RECHECK_SECONDS = 600.0  # between idle checks of a ranking (drift is checked in the child)
_POLL_SECONDS = 2.0
_OFFERED_ITEMS = 512  # suggestion ids remembered for attributing acceptances


@dataclass
class Selection:
    state: str = "none"  # none | running | ready | error
    message: str = "no ranking yet"
    fraction: float | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    computed_at: str | None = None
    last_check: float = float("-inf")
    offered: str | None = None  # the pick the user was last asked about
    model_id: str | None = None  # the catalogue id in use, when switched by the selector
    root: Path | None = None  # the repository the ranking is for
    process: asyncio.subprocess.Process | None = None
    watcher: asyncio.Future[None] | None = None
    telemetry: Telemetry | None = None
    items: OrderedDict[str, tuple[str, str, str | None]] = field(default_factory=OrderedDict)


def state(ls: TailorServer) -> Selection:
    if ls.selection is None:
        ls.selection = Selection()
    selection: Selection = ls.selection
    return selection


def workspace_root(ls: TailorServer) -> Path | None:
    with contextlib.suppress(Exception):
        root = ls.workspace.root_path
        if root:
            path = Path(root).resolve()
            return find_repo_root(path) or path
    return None


def repository_of(ls: TailorServer, uri: object) -> Path | None:
    """The repository a command is about: that of `uri` (any file or folder in it), else
    the workspace's."""
    if isinstance(uri, str) and uri:
        path = to_fs_path(uri)
        if path:
            resolved = Path(path).resolve()
            folder = resolved if resolved.is_dir() else resolved.parent
            return find_repo_root(folder) or folder
    return workspace_root(ls)


def _catalogue(ls: TailorServer) -> Catalogue:
    return catalogue(ls.settings.selector.candidates)


def current_model(ls: TailorServer) -> str:
    """The catalogue id of the model in use (the configured one unless switched)."""
    return state(ls).model_id or ls.settings.model


# --- the remembered switch -------------------------------------------------------------

def _choices_path() -> Path:
    return data_dir() / "selector" / "choice.json"


def _read_choices() -> dict[str, Any]:
    try:
        data = json.loads(_choices_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _remember(root: Path, configured: str, model_id: str) -> None:
    choices = _read_choices()
    choices[str(root)] = {"model": model_id, "configured": configured}
    path = _choices_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(choices, indent=1))
        tmp.replace(path)
    except OSError as exc:  # the switch still happens; it is only not remembered
        log.warning("could not remember the model choice: %s", exc)


def startup_spec(ls: TailorServer) -> str:
    """What to load: the remembered switch for this workspace if the configured model is
    still the one it replaced and the switched-to model is still there, else the setting."""
    selection = state(ls)
    selection.model_id = None
    root = workspace_root(ls)
    choice = _read_choices().get(str(root)) if root else None
    if not isinstance(choice, dict) or choice.get("configured") != ls.settings.model:
        return ls.settings.model
    model_id = str(choice.get("model"))
    if model_id == ls.settings.model:
        return ls.settings.model
    try:
        spec = _catalogue(ls).get(model_id)
    except KeyError:
        return ls.settings.model
    if not spec.available():
        log.warning("the model chosen earlier (%s) is gone; using %s", model_id,
                    ls.settings.model)
        return ls.settings.model
    selection.model_id = model_id
    return spec.load_spec()


# --- telemetry --------------------------------------------------------------------------

def _telemetry(ls: TailorServer) -> Telemetry | None:
    if not ls.settings.telemetry.enable:
        return None
    selection = state(ls)
    if selection.telemetry is None:
        selection.telemetry = Telemetry()
    return selection.telemetry


def record_shown(ls: TailorServer, item_id: str, path: Path) -> None:
    """A suggestion was shown: count it for the model and adapter that made it."""
    telemetry = _telemetry(ls)
    if telemetry is None:
        return
    root = find_repo_root(path) or path.parent
    choice = ls.runtime.selector.last if ls.runtime.selector else None
    key = (str(root), current_model(ls), choice.key if choice else None)
    items = state(ls).items
    items[item_id] = key
    while len(items) > _OFFERED_ITEMS:
        items.popitem(last=False)
    telemetry.shown(*key)


def record_accepted(ls: TailorServer, item_id: str | None, chars: int) -> None:
    telemetry = _telemetry(ls)
    key = state(ls).items.pop(item_id, None) if item_id else None
    if telemetry is not None and key is not None:
        telemetry.accepted(*key, chars=chars)


# --- the ranking --------------------------------------------------------------------------

def result(ls: TailorServer, root: Path | None = None) -> dict[str, Any]:
    """`tailor.selectModel`'s answer (the contract the editor clients rely on); `ranking`
    and `candidates` are the same list (DESIGN.md names it `ranking`)."""
    selection = state(ls)
    root = root or selection.root or workspace_root(ls)
    if selection.root is not None and root != selection.root:
        return {"state": "none", "message": "no ranking for this repository yet",
                "current": current_model(ls), "pick": None, "fraction": None,
                "computedAt": None, "candidates": [], "ranking": [], "predictor": None,
                "root": str(root) if root else None}
    candidates = selection.candidates
    telemetry = _telemetry(ls)
    if candidates and telemetry is not None and root is not None:
        candidates = apply_live(candidates, telemetry.by_model(str(root)))
    pick = next((c["model"] for c in candidates if c.get("available", True)
                 and c.get("within_latency_budget") is not False), None)
    disabled = not ls.settings.selector.enable and selection.state != "running"
    return {"state": "disabled" if disabled else selection.state,
            "message": ("the selector is off (selector.enable)" if disabled
                        else selection.message),
            "current": current_model(ls), "pick": pick, "fraction": selection.fraction,
            "computedAt": selection.computed_at, "candidates": candidates,
            "ranking": candidates, "predictor": selection.meta.get("predictor"),
            "root": str(root) if root else None}


def status(ls: TailorServer) -> dict[str, Any] | None:
    if ls.selection is None:
        return None
    answer = result(ls)
    return {k: answer[k] for k in ("state", "message", "current", "pick", "fraction")}


def _available_count(ls: TailorServer) -> int:
    return len(_catalogue(ls).available())


def _due(ls: TailorServer) -> bool:
    selection = state(ls)
    runtime = ls.runtime
    if not ls.settings.selector.enable or selection.state == "running":
        return False
    if runtime.state != "ready" or time.monotonic() - selection.last_check < RECHECK_SECONDS:
        return False
    if time.monotonic() - runtime.last_request < ls.settings.selector.idle_seconds:
        return False
    if any(j.state in ("starting", "running") for j in ls.jobs.values()):
        return False
    if ls.export_job is not None and ls.export_job.state == "running":
        return False
    if workspace_root(ls) is None:
        return False
    selection.last_check = time.monotonic()  # checked now, whatever the answer
    return _available_count(ls) >= 2


async def watch(ls: TailorServer) -> None:
    while True:
        await asyncio.sleep(_POLL_SECONDS)
        try:
            if _due(ls):
                await rank(ls)
        except asyncio.CancelledError:
            raise
        except Exception:  # the server never dies because a background job failed
            log.exception("background ranking failed")


def _job_args(ls: TailorServer, root: Path, refresh: bool) -> list[str]:
    s = ls.settings.selector
    args = [sys.executable, "-m", "selector.ranking.job", str(root),
            "--current", current_model(ls), "--budget", str(s.fine_tunes),
            "--finalists", str(s.finalists),
            "--train-budget", s.train_budget, "--latency-budget-ms", str(s.latency_budget_ms)]
    for spec in s.candidates:
        args += ["--candidate", spec]
    return [*args, "--refresh"] if refresh else args


async def rank(ls: TailorServer, *, refresh: bool = False, root: Path | None = None) -> None:
    """Run the ranking child to the end and take in its result."""
    selection = state(ls)
    root = root or workspace_root(ls)
    if root is None:
        selection.state, selection.message = "error", "no workspace folder to rank models for"
        return
    if root != selection.root:
        selection.candidates, selection.meta, selection.computed_at = [], {}, None
    selection.root = root
    selection.state, selection.message, selection.fraction = "running", "starting", 0.0
    selection.last_check = time.monotonic()
    progress = await _progress_begin(ls)
    ls.publish_status()
    try:
        await _run_child(ls, selection, root, refresh, progress)
    except Exception as exc:  # e.g. the child could not be started
        log.exception("the ranking could not run")
        selection.state, selection.message = "error", f"the ranking could not run: {exc}"
        ls.publish_status()
    finally:
        _progress_end(ls, progress, selection.message)
    if selection.state == "ready":
        await _offer(ls)


async def _progress_begin(ls: TailorServer) -> str | None:
    caps = ls.client_capabilities.window
    if caps is None or not caps.work_done_progress:
        return None
    token = f"tailor-ranking-{int(time.time() * 1000)}"
    try:
        await ls.work_done_progress.create_async(token)
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title="Tailor: ranking candidate models", percentage=0,
            message="in the background, at low priority"))
    except Exception:  # progress is a courtesy; the ranking goes on without it
        return None
    return token


def _progress_end(ls: TailorServer, token: str | None, message: str) -> None:
    if token is not None:
        with contextlib.suppress(Exception):
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))


async def _run_child(ls: TailorServer, selection: Selection, root: Path, refresh: bool,
                     token: str | None) -> None:
    process = selection.process = await asyncio.create_subprocess_exec(
        *_job_args(ls, root, refresh), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
        preexec_fn=lambda: os.nice(10))
    assert process.stdout is not None and process.stderr is not None
    stdout_task = asyncio.ensure_future(process.stdout.read())
    tail: list[str] = []
    async for raw in process.stderr:
        line = raw.decode("utf-8", "replace").rstrip()
        if line.startswith("progress "):
            _, pct, message = ([*line.split(" ", 2), ""])[:3]
            with contextlib.suppress(ValueError):
                selection.fraction = int(pct) / 100
            selection.message = f"ranking: {message}"
            if token is not None:
                with contextlib.suppress(Exception):
                    ls.work_done_progress.report(token, types.WorkDoneProgressReport(
                        message=message, percentage=int((selection.fraction or 0) * 100)))
            ls.publish_status()
        elif line:
            tail = ([*tail, line])[-20:]
    code = await process.wait()
    out = await stdout_task
    selection.process = None
    if code != 0:
        errors = [t for t in tail if t.startswith("error:") or "Error" in t] or tail
        selection.state = "error"
        selection.message = (errors[-1][:300] if errors else f"the ranking exited with {code}")
        ls.publish_status()
        return
    try:
        data = json.loads(out)
        candidates, meta = list(data["candidates"]), dict(data["meta"])
    except (ValueError, KeyError, TypeError) as exc:
        selection.state, selection.message = "error", f"unreadable ranking: {exc}"
        ls.publish_status()
        return
    selection.state, selection.fraction = "ready", 1.0
    selection.candidates, selection.meta = candidates, meta
    selection.computed_at = datetime.now(UTC).isoformat(timespec="seconds")
    selection.message = ("ranking computed" if data.get("refreshed")
                         else "ranking unchanged (the repository has not drifted)")
    ls.publish_status()


async def _offer(ls: TailorServer) -> None:
    """Offer the pick if it is not the model in use (once per pick), or switch to it."""
    selection = state(ls)
    pick = result(ls)["pick"]
    if pick is None or pick == current_model(ls) or pick == selection.offered:
        return
    selection.offered = pick
    if ls.settings.selector.auto_switch:
        await apply(ls, pick)
        return
    row = next(c for c in selection.candidates if c["model"] == pick)
    answer = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
        type=types.MessageType.Info,
        message=(f"Tailor: {pick} is predicted to suit this repository better than "
                 f"{current_model(ls)} (latency {row.get('latency_ms') or 0:.0f} ms). Switch?"),
        actions=[types.MessageActionItem(title="Switch"),
                 types.MessageActionItem(title="Not now")]))
    if answer is not None and answer.title == "Switch":
        await apply(ls, pick)


async def apply(ls: TailorServer, model_id: str) -> dict[str, Any]:
    """Switch the base model to a candidate; it loads in the background as at start-up."""
    try:
        spec = _catalogue(ls).get(model_id)
    except KeyError:
        raise JsonRpcInvalidParams(f"unknown model {model_id!r}; tailor.selectModel lists "
                                   "the candidates") from None
    if not spec.available():
        raise JsonRpcInvalidParams(f"{model_id} is not available here"
                                   + (f" (tailor zoo build --only {model_id})"
                                      if spec.kind in ("derived", "zoo") else ""))
    selection = state(ls)
    selection.model_id = None if model_id == ls.settings.model else model_id
    root = workspace_root(ls)
    if root is not None:
        _remember(root, ls.settings.model, model_id)
    ls.runtime.start_loading(spec.load_spec(), ls.settings.backend)
    ls.notify_user(f"switching the base model to {model_id}", types.MessageType.Info)
    ls.publish_status()
    return {**result(ls), "applied": model_id}


def cancel(ls: TailorServer) -> None:
    selection = ls.selection
    if selection is None:
        return
    if selection.watcher is not None:
        selection.watcher.cancel()
    if selection.process is not None and selection.process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            selection.process.kill()
    if selection.telemetry is not None:
        selection.telemetry.close()


def start(ls: TailorServer) -> None:
    state(ls).watcher = asyncio.ensure_future(watch(ls))


def setup(server: TailorServer) -> None:
    @server.command("tailor.selectModel")
    async def select_model(ls: TailorServer, *args: Any) -> dict[str, Any]:
        arg = args[0] if args and isinstance(args[0], dict) else {}
        root = repository_of(ls, arg.get("uri"))
        if isinstance(arg.get("apply"), str):
            return await apply(ls, arg["apply"])
        if arg.get("refresh"):
            if not ls.settings.selector.enable:
                return result(ls, root)
            if state(ls).state != "running":
                task = asyncio.ensure_future(rank(ls, refresh=True, root=root))
                task.add_done_callback(_log_failure)
                await asyncio.sleep(0)  # let it mark itself running
        return result(ls, root)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("ranking failed", exc_info=task.exception())
