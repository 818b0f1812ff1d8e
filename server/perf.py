"""On-save performance hints: for each function changed since the last save, the predicted
ratio of its runtime after / before, as a diagnostic on the function's name.

The prediction (`selector.perf`) parses and predicts; it never runs the user's code. The
baseline of a document is its text at the last save (at first, its text when opened: what
was on disk); a save that does not parse leaves the baseline where it was, so the edit
before the typo is still compared once it is fixed. A hint stays while its function is
unchanged since the save that produced it, and is recomputed when the function changes; a
function brought back under the threshold loses its hint. With `perf.measure` (off by
default) each hinted top-level function is also timed, before and after, on generated
inputs in the sandbox (`selector.perf.sandbox`: a subprocess with time and memory limits);
the measurement is shown and refines later predictions (`selector.perf.calibration`).
Prediction runs on a worker thread (parsing a large module takes a while); saves of one
document are handled in order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from selector.perf.check import MEASURE_SIZE, compute, measure
from server import diagnostics, documents
from server.app import TailorServer

log = logging.getLogger(__name__)
PART = "perf"
_MAX_CHARS = 1_000_000


@dataclass
class PerfState:
    baseline: dict[str, str] = field(default_factory=dict)  # uri -> text at the last save
    hints: dict[str, dict[str, types.Diagnostic]] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    tasks: set[asyncio.Future[None]] = field(default_factory=set)
    broken: str | None = None  # why the predictor cannot run (reported once)
    calibration: Any = None  # selector.perf.calibration.Calibration, loaded on first use


def _state(ls: TailorServer) -> PerfState:
    if not isinstance(ls.perf_state, PerfState):
        ls.perf_state = PerfState()
    return ls.perf_state


def is_python(uri: str, language_id: str | None) -> bool:
    path = to_fs_path(uri) or ""
    return language_id == "python" or Path(path).suffix in (".py", ".pyi")


def to_diagnostic(hint: Any, measured: float | None = None) -> types.Diagnostic:
    r = hint.range
    slower = hint.predicted_ratio >= 1
    message = hint.message()
    data = {"predictedRatio": hint.predicted_ratio, "reasons": hint.reasons,
            "function": hint.qualname}
    if measured is not None:
        factor, word = (measured, "slower") if measured >= 1 else (1 / measured, "faster")
        message += (f" (measured {factor:.1f}\u00d7 {word} on generated inputs of "
                    f"{MEASURE_SIZE} elements)")
        data["measuredRatio"] = round(measured, 4)
    return types.Diagnostic(
        range=types.Range(start=types.Position(r.start_line, r.start_character),
                          end=types.Position(r.end_line, r.end_character)),
        message=message, source="tailor-perf", code="perf-slower" if slower
        else "perf-faster",
        severity=types.DiagnosticSeverity.Information if slower
        else types.DiagnosticSeverity.Hint,
        data=data)


def calibration(state: PerfState) -> Any:
    from adapters.paths import data_dir
    from selector.perf.calibration import Calibration

    if state.calibration is None:
        state.calibration = Calibration(data_dir() / "perf" / "measured.jsonl")
    return state.calibration


async def on_save(ls: TailorServer, uri: str) -> None:
    """Saves of one document are handled in order: each compares with the one before."""
    state = _state(ls)
    async with state.locks.setdefault(uri, asyncio.Lock()):
        await _on_save(ls, state, uri)


async def _on_save(ls: TailorServer, state: PerfState, uri: str) -> None:
    document = ls.workspace.text_documents.get(uri)
    if document is None or state.broken:
        return
    if not ls.settings.perf.enable:
        if state.hints.pop(uri, None):
            diagnostics.update(ls, uri, PART, [], document.version)
        return
    if not is_python(uri, document.language_id):
        return
    new, version = document.source, document.version
    old = state.baseline.get(uri)
    if old is None or old == new or len(new) > _MAX_CHARS or "\0" in new:
        state.baseline[uri] = new
        return
    try:
        result = await asyncio.to_thread(compute, old, new, ls.settings.perf.threshold,
                                         calibration(state))
    except Exception as exc:  # e.g. a predictor that cannot load: say so once, stop trying
        state.baseline[uri] = new
        state.broken = f"{type(exc).__name__}: {exc}"
        log.exception("performance hints are off")
        ls.notify_user(f"performance hints are off: {state.broken}",
                       types.MessageType.Warning)
        return
    if result is None:
        return  # the baseline stays: the edit saved before the typo still gets its hint
    state.baseline[uri] = new
    hints, changed = result
    current = state.hints.setdefault(uri, {})
    for name in changed:
        current.pop(name, None)
    for name, (hint, _) in hints.items():
        current[name] = to_diagnostic(hint)
    log.info("perf %s: %d changed function(s), %d hint(s)", Path(to_fs_path(uri) or uri).name,
             len(changed), len(hints))
    diagnostics.update(ls, uri, PART, list(current.values()), version)
    if not ls.settings.perf.measure:
        return  # the user's code is never run unless they turned this on
    measured_any = False
    for name, (hint, raw) in hints.items():
        if hint.qualname != hint.name:
            continue  # methods and nested functions need their class or closure
        ratio = await asyncio.to_thread(measure, old, new, hint.name)
        if ratio is not None and current.get(name) is not None:
            calibration(state).add(raw, ratio)
            current[name] = to_diagnostic(hint, ratio)
            measured_any = True
    if measured_any:
        diagnostics.update(ls, uri, PART, list(current.values()), version)


def _schedule(ls: TailorServer, uri: str) -> None:
    tasks = _state(ls).tasks
    task = asyncio.ensure_future(on_save(ls, uri))
    tasks.add(task)  # keep a reference until it ends
    task.add_done_callback(tasks.discard)


def setup(server: TailorServer) -> None:
    def did_open(ls: TailorServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        if is_python(item.uri, item.language_id):
            _state(ls).baseline.setdefault(item.uri, item.text)

    def did_save(ls: TailorServer, params: types.DidSaveTextDocumentParams) -> None:
        _schedule(ls, params.text_document.uri)

    def did_close(ls: TailorServer, params: types.DidCloseTextDocumentParams) -> None:
        state = _state(ls)
        uri = params.text_document.uri
        state.baseline.pop(uri, None)
        state.hints.pop(uri, None)
        state.locks.pop(uri, None)
        diagnostics.forget(ls, uri)

    documents.on(server, "open", did_open)
    documents.on(server, "save", did_save)
    documents.on(server, "close", did_close)
