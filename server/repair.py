"""Code actions that repair a function, and Tailor's own diagnostics (off by default).

A code action request asks for fixes of the diagnostics the client sends (whatever their
source) and, on a selection, offers "fix this function". Candidates are generated on the
inference thread and checked on another (checkers are subprocesses); only fixes that pass
are returned. Requests the client makes on its own (cursor moves, `triggerKind`
Automatic) get only fixes already computed for that document version: the model runs when
the user asks.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from adapters.checks import run_pyflakes, run_syntax
from adapters.repair import (
    Fix,
    Problem,
    Repairer,
    check_all,
    parse_problem,
    plan,
    problem_offset,
    selection_offset,
)
from adapters.repo_context import find_repo_root, language_of
from server import diagnostics as diagnostics_part
from server import documents
from server.app import TailorServer
from server.progress import busy

log = logging.getLogger(__name__)
_CACHE_SIZE = 32
_DEBOUNCE_S = 0.4


def is_python(path: Path, language_id: str | None) -> bool:
    return language_of(path, language_id) == "python"


def _problems(params: types.CodeActionParams) -> list[tuple[Problem, types.Diagnostic]]:
    found = []
    for d in params.context.diagnostics:
        problem = parse_problem(d.message, d.range.start.line, d.range.end.line, d.source,
                                d.code, d.data, d.range.start.character)
        found.append((problem, d))
    return found


def _title(fix: Fix, option: int, total: int) -> str:
    if len(fix.fixes) == 1:
        text = fix.fixes[0].message.splitlines()[0]
        title = f'Tailor: fix "{text[:60]}{"…" if len(text) > 60 else ""}"'
    else:
        title = f"Tailor: fix this function ({fix.region.name or 'block'})"
    if total > 1:
        title += f" (option {option})"
    if fix.not_rechecked:
        title += f" — not re-checked by {', '.join(fix.not_rechecked)}"
    return title


def _edit(ls: TailorServer, uri: str, version: int | None, lines: list[str], fix: Fix
          ) -> types.WorkspaceEdit:
    region, text = fix.region, fix.replacement
    if region.end < len(lines):
        end = types.Position(line=region.end, character=0)
    else:  # up to the end of the last line, leaving its newline (if any) where it is
        last = lines[region.end - 1]
        end = types.Position(line=region.end - 1, character=len(last.rstrip("\r\n")))
        text = text[:-1] if text.endswith("\n") else text
    edit = types.TextEdit(range=types.Range(start=types.Position(line=region.start,
                                                                 character=0), end=end),
                          new_text=text)
    caps = ls.client_capabilities.workspace
    if caps and caps.workspace_edit and caps.workspace_edit.document_changes:
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri,
                                                                        version=version),
            edits=[edit])])
    return types.WorkspaceEdit(changes={uri: [edit]})


class RepairState:
    """Fixes computed per (document version, region, problems), newest last."""

    def __init__(self) -> None:
        self.cache: dict[tuple[Any, ...], list[Fix]] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.tasks: set[asyncio.Future[None]] = set()

    def get(self, key: tuple[Any, ...]) -> list[Fix] | None:
        return self.cache.get(key)

    def put(self, key: tuple[Any, ...], fixes: list[Fix]) -> None:
        self.cache[key] = fixes
        while len(self.cache) > _CACHE_SIZE:
            self.cache.pop(next(iter(self.cache)))


def _state(ls: TailorServer) -> RepairState:
    if not isinstance(ls.repair_state, RepairState):
        ls.repair_state = RepairState()
    return ls.repair_state


async def code_actions(ls: TailorServer, params: types.CodeActionParams
                       ) -> list[types.CodeAction]:
    uri = params.text_document.uri
    document = ls.workspace.text_documents.get(uri)
    fs_path = to_fs_path(uri) if document is not None else None
    if document is None or not fs_path:
        log.info("code actions for a document that is not open: %s", uri)
        return []
    path = Path(fs_path)
    source = document.source
    if not is_python(path, document.language_id) or "\0" in source:
        return []
    pairs = _problems(params)
    selection = params.range.start != params.range.end
    only = params.context.only or []
    asked = selection or any(str(k).startswith(("refactor", "quickfix")) for k in only)
    if not pairs and not asked:
        return []
    first = min([params.range.start.line, *(p.line for p, _ in pairs)])
    last = max([params.range.end.line, *(p.end_line for p, _ in pairs)])
    root = find_repo_root(path.parent)
    job = await asyncio.to_thread(plan, path, root, source, first, last,
                                  [p for p, _ in pairs])  # a syntax tree of a large file
    if job is None:
        return []
    key = (uri, document.version, job.region, tuple(job.problems))
    state = _state(ls)
    fixes = state.get(key)
    automatic = params.context.trigger_kind == types.CodeActionTriggerKind.Automatic
    if fixes is None and automatic:
        return []  # the model runs when the user asks for actions, not on every cursor move
    if fixes is None:
        at = problem_offset(job)
        if at is None and selection:
            at = selection_offset(job, (params.range.start.line, params.range.start.character),
                                  (params.range.end.line, params.range.end.character))
        fixes = await _compute(ls, uri, path, job, at)
        state.put(key, fixes)
    lines = source.splitlines(keepends=True)
    by_problem = {p: d for p, d in pairs}
    actions = []
    for i, fix in enumerate(fixes, 1):
        diagnostics = [by_problem[p] for p in fix.fixes if p in by_problem]
        kind = (types.CodeActionKind.QuickFix if job.problems
                else types.CodeActionKind.RefactorRewrite)
        actions.append(types.CodeAction(
            title=_title(fix, i, len(fixes)), kind=kind, diagnostics=diagnostics or None,
            is_preferred=i == 1 and bool(job.problems) and not fix.not_rechecked,
            edit=_edit(ls, uri, document.version, lines, fix)))
    return actions


async def _compute(ls: TailorServer, uri: str, path: Path, job: Any, problem_at: int | None
                   ) -> list[Fix]:
    if not await ls.runtime.wait_loaded() or ls.runtime.completer is None:
        return []
    engine = ls.runtime.completer.engine
    selector = ls.runtime.selector
    settings = ls.settings.repair
    deadline = time.monotonic() + settings.timeout_ms / 1000

    def generate(cancel: threading.Event) -> list[str]:
        if selector is not None:
            selector.select(path, ls.settings.adapters.enable)  # the fix commits' adapter
        return Repairer(engine).candidates(
            repo_name=job.repo_name, rel_path=job.rel_path, region_text=job.region_text,
            count=settings.candidates, deadline=deadline, cancel=cancel,
            problem_at=problem_at)

    async with busy(ls, "Tailor: looking for a fix", job.region.name or path.name) as report:
        generated = await ls.runtime.run(f"repair:{uri}", generate)
        report(f"checking {len(generated)} candidate(s)")
        fixes = await asyncio.to_thread(check_all, job, generated)
    log.info("repair %s:%s: %d candidate(s), %d passed the checks", path.name,
             job.region.name, len(generated), len(fixes))
    return fixes


def own_diagnostics(path: Path, text: str) -> list[types.Diagnostic]:
    """Syntax errors, else what pyflakes reports (source "tailor")."""
    found = run_syntax(text, path) or run_pyflakes(text, path)
    out = []
    for f in found:
        severity = (types.DiagnosticSeverity.Error if f.code == "syntax-error"
                    or f.code == "UndefinedName" else types.DiagnosticSeverity.Warning)
        position = types.Position(line=max(f.line, 0), character=max(f.column, 0))
        out.append(types.Diagnostic(
            range=types.Range(start=position, end=types.Position(line=position.line,
                                                                 character=position.character
                                                                 + 1)),
            message=f.message, severity=severity, source="tailor", code=f.code,
            data={"checker": f.checker}))
    return out


async def publish(ls: TailorServer, uri: str) -> None:
    """Tailor's diagnostics for a document (none when they are off); pyflakes runs on a
    worker thread, since a large file takes it a while."""
    document = ls.workspace.text_documents.get(uri)
    fs_path = to_fs_path(uri) if document is not None else None
    if document is None or not fs_path or not is_python(Path(fs_path), document.language_id):
        return
    version, source = document.version, document.source
    diagnostics: list[types.Diagnostic] = []
    if ls.settings.diagnostics.enable and "\0" not in source:
        try:
            diagnostics = await asyncio.to_thread(own_diagnostics, Path(fs_path), source)
        except Exception:  # a checker crash must not take the server with it
            log.exception("diagnostics failed for %s", uri)
    current = ls.workspace.text_documents.get(uri)
    if current is None or current.version != version:
        return  # edited meanwhile: the next run publishes
    diagnostics_part.update(ls, uri, "checks", diagnostics, version)


def publish_soon(ls: TailorServer, uri: str) -> None:
    """Start `publish` as a task, keeping a reference until it ends."""
    tasks = _state(ls).tasks
    task = asyncio.ensure_future(publish(ls, uri))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def _schedule(ls: TailorServer, uri: str, delay: float) -> None:
    if not ls.settings.diagnostics.enable or ls.loop is None:
        return
    pending = _state(ls).pending
    if uri in pending:
        pending[uri].cancel()

    def run() -> None:
        pending.pop(uri, None)
        publish_soon(ls, uri)

    pending[uri] = ls.loop.call_later(delay, run)


def setup(server: TailorServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix,
                           types.CodeActionKind.RefactorRewrite]))
    async def code_action(ls: TailorServer, params: types.CodeActionParams
                          ) -> list[types.CodeAction]:
        return await code_actions(ls, params)

    def did_open(ls: TailorServer, params: types.DidOpenTextDocumentParams) -> None:
        _schedule(ls, params.text_document.uri, 0)

    def did_change(ls: TailorServer, params: types.DidChangeTextDocumentParams) -> None:
        _schedule(ls, params.text_document.uri, _DEBOUNCE_S)

    def did_save(ls: TailorServer, params: types.DidSaveTextDocumentParams) -> None:
        _schedule(ls, params.text_document.uri, 0)

    documents.on(server, "open", did_open)
    documents.on(server, "change", did_change)
    documents.on(server, "save", did_save)
