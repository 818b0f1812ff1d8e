"""Performance hints for an edit: old source + new source -> one hint per changed function.

This is what the server calls on `textDocument/didSave` (against the text at the last save)
and what `tailor perf FILE [--against REV]` prints. It only parses and predicts: the user's
code is never run here.

A function is matched between the versions by its qualified name (`Class.method`,
`outer.inner`); it is "changed" when its AST (positions aside) differs. New and deleted
functions have nothing to compare with and get no hint. Each hint carries the range of the
function's name in the new source (0-based lines, UTF-16 columns, as LSP counts them), the
predicted ratio of runtimes after / before, and the reasons from `attribution`.
"""

from __future__ import annotations

import ast
import math
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from selector.perf.attribution import Predictor, ablate, reasons
from selector.perf.features import FunctionFeatures, extract_function, iter_functions, walk_own


@dataclass
class NameRange:
    """0-based LSP range of a function's name (character offsets in UTF-16 code units)."""

    start_line: int
    start_character: int
    end_line: int
    end_character: int


@dataclass
class FunctionHint:
    name: str
    qualname: str
    range: NameRange
    predicted_ratio: float  # runtime after / before
    reasons: list[str] = field(default_factory=list)

    def message(self) -> str:
        return format_message(self.predicted_ratio, self.reasons)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["message"] = self.message()
        return data


DISPLAY_CAP = 20.0


def format_message(ratio: float, why: list[str]) -> str:
    """The diagnostic text: "predicted ~3x slower than before: <reasons>" (with a
    multiplication sign).

    The displayed factor is capped at `DISPLAY_CAP` ("20x or more slower"): the predictor
    is trained on log-runtimes of small generated programs and its ratios for large
    structural edits extrapolate (a list scan moved into a nested loop can come out at
    hundreds), so the magnitude beyond the cap is not worth showing; the direction is kept.
    `predicted_ratio` in the json stays the raw prediction."""
    factor = ratio if ratio >= 1 else 1 / ratio
    word = "slower" if ratio >= 1 else "faster"
    if factor >= DISPLAY_CAP:
        text = f"predicted {DISPLAY_CAP:.0f}\u00d7 or more {word} than before"
    else:
        amount = f"{factor:.0f}" if factor >= 2.95 else f"{factor:.1f}"
        text = f"predicted ~{amount}\u00d7 {word} than before"
    return f"{text}: {'; '.join(why)}" if why else text


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def name_range(source_lines: list[str], fn: ast.FunctionDef | ast.AsyncFunctionDef,
               ) -> NameRange:
    """Where the name after `def` is (the def line, not a decorator)."""
    line_no = fn.lineno - 1
    line = source_lines[line_no] if line_no < len(source_lines) else ""
    match = re.search(r"\bdef\s+(" + re.escape(fn.name) + r")\b", line)
    if match is None:  # `def` and the name on different lines: fall back to the def token
        start = len(line) - len(line.lstrip())
        return NameRange(line_no, _utf16(line[:start]), line_no, _utf16(line[:start]) + 3)
    return NameRange(line_no, _utf16(line[:match.start(1)]), line_no,
                     _utf16(line[:match.end(1)]))


def _text(lines: list[str], fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    first = min([fn.lineno, *(d.lineno for d in fn.decorator_list)])
    return "\n".join(lines[first - 1:fn.end_lineno or fn.lineno])


def changed_functions(old_source: str, new_source: str,
                      ) -> list[tuple[FunctionFeatures, FunctionFeatures]]:
    """(old, new) features of each function present in both versions whose body changed.

    Only the changed functions are featurised: a save in a long module usually touches
    one or two of its hundreds. Same text means unchanged (the cheap test that settles
    most); different text is compared as ASTs, so a moved or re-indented function, or a
    comment, is not a change, and neither is, for its parent, an edit inside a nested
    function. Raises SyntaxError (or ValueError, for a null byte) when the new source does
    not parse; an old source that does not parse has nothing to compare with: no pairs."""
    new_tree = ast.parse(new_source)
    try:
        old_tree = ast.parse(old_source)
    except (SyntaxError, ValueError, RecursionError):
        return []
    old_lines, new_lines = old_source.splitlines(), new_source.splitlines()
    by_name: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    for qual, fn in iter_functions(old_tree):
        by_name.setdefault(qual, []).append(fn)
    pairs = []
    for qual, fn in iter_functions(new_tree):
        candidates = by_name.get(qual)
        if not candidates:
            continue
        before = candidates.pop(0)
        if _text(old_lines, before) == _text(new_lines, fn):
            continue
        if _own_dump(before) != _own_dump(fn):
            pairs.append((extract_function(before, qual), extract_function(fn, qual)))
    return pairs


def _own_dump(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The function's AST without the bodies of the functions nested in it: an edit inside
    a nested function is that function's change (it gets the hint), not its parent's too,
    although the parent's features count the nested body where it calls it. (The bodies
    are set aside for the dump and put back.)"""
    nested = [node for node in walk_own(fn)
              if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    bodies = [node.body for node in nested]
    try:
        for node in nested:
            node.body = []
        return ast.dump(fn)
    finally:
        for node, body in zip(nested, bodies, strict=True):
            node.body = body


def function_hints(old_source: str, new_source: str, *, predictor: Predictor | None = None,
                   threshold: float | None = None, max_reasons: int = 3) -> list[FunctionHint]:
    """Hints for the functions changed between two versions of a module.

    `threshold` (e.g. 1.5) keeps only predicted ratios at least that far from 1 in either
    direction; None keeps every changed function. A version that does not parse gives no
    hints. `predictor` defaults to the shipped onnxruntime model."""
    try:
        pairs = changed_functions(old_source, new_source)
    except (SyntaxError, ValueError, RecursionError):
        return []
    return hints_for(pairs, new_source, predictor=predictor, threshold=threshold,
                     max_reasons=max_reasons)


def hints_for(pairs: list[tuple[FunctionFeatures, FunctionFeatures]], new_source: str, *,
              predictor: Predictor | None = None, threshold: float | None = None,
              max_reasons: int = 3) -> list[FunctionHint]:
    """`function_hints` for pairs already found by `changed_functions`."""
    if not pairs:
        return []
    if predictor is None:
        from selector.perf.export import shipped_predictor

        predictor = shipped_predictor()
    lines = new_source.splitlines()
    hints = []
    for before, after in pairs:
        total, contributions = ablate(predictor, before.vector, after.vector)
        ratio = math.exp(total)
        if threshold is not None and abs(total) < math.log(threshold):
            continue
        why = reasons(total, contributions, before, after, limit=max_reasons)
        hints.append(FunctionHint(after.name, after.qualname, name_range(lines, after.node),
                                  round(ratio, 4), why))
    return hints


def source_at_revision(path: Path, rev: str = "HEAD") -> str | None:
    """The file's text at a git revision (`git show REV:./name`); None if not there."""
    path = Path(path).resolve()
    try:
        proc = subprocess.run(["git", "show", f"{rev}:./{path.name}"], cwd=path.parent,
                              capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", errors="replace")


def hints_against_revision(path: Path, rev: str = "HEAD", new_source: str | None = None, *,
                           predictor: Predictor | None = None, threshold: float | None = None,
                           ) -> list[FunctionHint]:
    """Hints for `path` (its current text, or `new_source`) against its version at `rev`.

    No hints when the file is not in git or not at that revision."""
    old = source_at_revision(path, rev)
    if old is None:
        return []
    new = new_source if new_source is not None else Path(path).read_text(encoding="utf-8")
    return function_hints(old, new, predictor=predictor, threshold=threshold)
