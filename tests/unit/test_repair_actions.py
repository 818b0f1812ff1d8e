"""The code action handler: what is offered, when the model runs, and the edits it returns
(the model step is replaced by fixed candidates; the checks are the real ones)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

import server.repair as repair_feature
from adapters.repair import RepairJob, check_all
from server.app import TailorServer, create_server

AREA = ('import math\n\n\ndef area(radius):\n    """Area of a circle."""\n'
        '    return math.pi * raduis ** 2\n\n\ndef double(x):\n    return 2 * x')
GOOD = 'def area(radius):\n    """Area of a circle."""\n    return math.pi * radius ** 2\n'
BAD = 'def area(radius):\n    """Area of a circle."""\n    return math.pi * radius ** two\n'
DOUBLE_FIXED = "def double(x):\n    return x + x"


@pytest.fixture
def ls() -> TailorServer:
    server = create_server()
    caps = types.ClientCapabilities(workspace=types.WorkspaceClientCapabilities(
        workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)))
    for _ in server.protocol.lsp_initialize(types.InitializeParams(capabilities=caps)):
        pass
    return server


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[RepairJob]:
    """Replace the model step: every request gets GOOD and BAD (or DOUBLE_FIXED)."""
    jobs: list[RepairJob] = []

    async def compute(ls: TailorServer, uri: str, path: Path, job: RepairJob,
                      problem_at: int | None) -> list:
        jobs.append(job)
        job.problem_at = problem_at  # type: ignore[attr-defined]
        candidates = [DOUBLE_FIXED] if job.region.name == "double" else [BAD, GOOD]
        return check_all(job, candidates)

    monkeypatch.setattr(repair_feature, "_compute", compute)
    return jobs


def open_doc(ls: TailorServer, tmp_path: Path, text: str, name: str = "geometry.py",
             version: int = 1, language: str = "python") -> str:
    uri = (tmp_path / name).as_uri()
    ls.workspace.put_text_document(types.TextDocumentItem(uri=uri, language_id=language,
                                                          version=version, text=text))
    return uri


UNDEFINED = types.Diagnostic(
    range=types.Range(start=types.Position(line=5, character=22),
                      end=types.Position(line=5, character=28)),
    message="Undefined name `raduis`", source="Ruff", code="F821")


def params(uri: str, diagnostics: list[types.Diagnostic], *, line: int = 5,
           end: types.Position | None = None,
           trigger: types.CodeActionTriggerKind = types.CodeActionTriggerKind.Invoked
           ) -> types.CodeActionParams:
    start = types.Position(line=line, character=0)
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=start, end=end or start),
        context=types.CodeActionContext(diagnostics=diagnostics, trigger_kind=trigger))


def apply(text: str, action: types.CodeAction) -> str:
    assert action.edit is not None and action.edit.document_changes
    change = action.edit.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit)
    (edit,) = change.edits
    assert isinstance(edit, types.TextEdit)
    lines = text.splitlines(keepends=True)
    start = sum(map(len, lines[:edit.range.start.line])) + edit.range.start.character
    end = sum(map(len, lines[:edit.range.end.line])) + edit.range.end.character
    return text[:start] + edit.new_text + text[end:]


async def test_only_the_candidate_that_passes_is_offered(ls: TailorServer, tmp_path: Path,
                                                         computed: list) -> None:
    uri = open_doc(ls, tmp_path, AREA)
    actions = await repair_feature.code_actions(ls, params(uri, [UNDEFINED]))
    assert [a.title for a in actions] == ['Tailor: fix "Undefined name `raduis`"']
    (action,) = actions
    assert action.kind == types.CodeActionKind.QuickFix and action.is_preferred
    assert action.diagnostics == [UNDEFINED]
    change = action.edit.document_changes[0]  # type: ignore[union-attr]
    assert change.text_document.version == 1  # type: ignore[union-attr]
    assert apply(AREA, action) == AREA.replace("raduis", "radius")


async def test_cursor_moves_never_start_the_model(ls: TailorServer, tmp_path: Path,
                                                  computed: list) -> None:
    uri = open_doc(ls, tmp_path, AREA)
    automatic = params(uri, [UNDEFINED], trigger=types.CodeActionTriggerKind.Automatic)
    assert await repair_feature.code_actions(ls, automatic) == [] and computed == []
    first = await repair_feature.code_actions(ls, params(uri, [UNDEFINED]))
    again = await repair_feature.code_actions(ls, automatic)
    assert [a.title for a in again] == [a.title for a in first] and len(computed) == 1
    open_doc(ls, tmp_path, AREA + "\n", version=2)  # an edit: the fixes are stale
    assert await repair_feature.code_actions(ls, automatic) == [] and len(computed) == 1


async def test_fix_this_function_on_a_selection_at_the_end_of_the_file(
        ls: TailorServer, tmp_path: Path, computed: list) -> None:
    uri = open_doc(ls, tmp_path, AREA)
    nothing = await repair_feature.code_actions(ls, params(uri, [], line=9))
    assert nothing == [] and computed == []  # no diagnostic, no selection: nothing asked
    selection = params(uri, [], line=8, end=types.Position(line=9, character=5))
    (action,) = await repair_feature.code_actions(ls, selection)
    assert computed[-1].problem_at is None  # the whole function: no place in particular
    assert action.title == "Tailor: fix this function (double)"
    assert action.kind == types.CodeActionKind.RefactorRewrite and not action.diagnostics
    # The file has no final newline; the edit must not add or eat one.
    assert apply(AREA, action) == AREA.replace("2 * x", "x + x")


async def test_a_diagnostic_tailor_cannot_run_is_named_in_the_title(
        ls: TailorServer, tmp_path: Path, computed: list) -> None:
    uri = open_doc(ls, tmp_path, AREA)
    pylance = types.Diagnostic(range=UNDEFINED.range, message='"raduis" is not defined',
                               source="Pylance", code="reportUndefinedVariable")
    (action,) = await repair_feature.code_actions(ls, params(uri, [pylance]))
    assert action.title.endswith("— not re-checked by Pylance") and not action.is_preferred


async def test_unknown_other_language_and_binary_documents_get_nothing(
        ls: TailorServer, tmp_path: Path, computed: list) -> None:
    missing = (tmp_path / "never_opened.py").as_uri()
    assert await repair_feature.code_actions(ls, params(missing, [UNDEFINED])) == []
    text_uri = open_doc(ls, tmp_path, "raduis\n", name="notes.txt", language="plaintext")
    assert await repair_feature.code_actions(ls, params(text_uri, [UNDEFINED], line=0)) == []
    binary = open_doc(ls, tmp_path, "x = 1\0\n", name="blob.py")
    assert await repair_feature.code_actions(ls, params(binary, [UNDEFINED], line=0)) == []
    assert computed == []


async def test_a_selection_inside_the_function_points_at_the_code_to_change(
        ls: TailorServer, tmp_path: Path, computed: list) -> None:
    uri = open_doc(ls, tmp_path, AREA)
    selected = types.CodeActionParams(  # "2 * x" in double()
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=9, character=11),
                          end=types.Position(line=9, character=16)),
        context=types.CodeActionContext(diagnostics=[]))
    await repair_feature.code_actions(ls, selected)
    job = computed[-1]
    assert job.region_text[job.problem_at:].startswith("2 * x")


def test_own_diagnostics_name_their_checker() -> None:
    found = repair_feature.own_diagnostics(Path("geometry.py"), AREA)
    assert [(d.message, d.source, d.data) for d in found] == [
        ("undefined name 'raduis'", "tailor", {"checker": "pyflakes"})]
    (syntax,) = repair_feature.own_diagnostics(Path("x.py"), "def f(:\n")
    assert syntax.data == {"checker": "syntax"}
    assert syntax.severity == types.DiagnosticSeverity.Error
