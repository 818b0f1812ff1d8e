"""Repair: the model rewrites the function around a problem, and only checked rewrites are
offered.

The prompt is the training layout of fix commits (`dataset.fix_prompt`): the function as
it is, then the same file "(fixed)". Decoding drafts from the function's own tokens
(prompt-lookup), since a repair mostly copies its input. The first candidate is greedy,
the others sampled with fixed seeds. A candidate is offered only when the new file parses,
every runnable checker that reported the problem no longer reports it in the function, and
the checks Tailor always runs (syntax, pyflakes, ruff when installed) find nothing new.
"""

from __future__ import annotations

import ast
import logging
import re
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.checks import ALWAYS, CHECKERS, Finding, available, checker_for, run_syntax
from adapters.dataset import fix_prompt
from adapters.dataset_history import _functions
from adapters.engine import Engine, Sampling

log = logging.getLogger(__name__)
MAX_REGION_LINES = 200
_DEF = re.compile(r"^(\s*)(?:async\s+def|def|class)\s")
# Decorators and the `def` line up to the function's name.
_DEF_HEADER = re.compile(r"^(?:[ \t]*@[^\n]*\n)*[ \t]*(?:async[ \t]+)?def[ \t]+\w+")


@dataclass(frozen=True)
class Problem:
    message: str
    line: int  # 0-based
    end_line: int
    source: str | None = None
    code: str | None = None
    checker: str | None = None  # which checker reproduces it (None: none Tailor can run)
    column: int = 0

    @property
    def label(self) -> str:
        return self.source or "the client"


@dataclass(frozen=True)
class Region:
    start: int  # first line, 0-based
    end: int  # one past the last line
    name: str | None  # the function's name, when it is one

    def text(self, lines: list[str]) -> str:
        return "".join(lines[self.start:self.end])


@dataclass
class Fix:
    replacement: str
    region: Region
    fixes: list[Problem]
    not_rechecked: list[str] = field(default_factory=list)  # sources Tailor cannot run


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    fixes: list[Problem] = field(default_factory=list)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def enclosing_region(text: str, first: int, last: int) -> Region:
    """The innermost function around lines [first, last]; from the syntax tree when the
    file parses, else from indentation (a file with a syntax error does not parse)."""
    lines = text.splitlines(keepends=True)
    try:
        functions = _functions(text)
    except (SyntaxError, ValueError):
        functions = None
    if functions is not None:
        around = [f for f in functions if f[1] <= first and last < f[2]]
        if around:
            name, start, end = min(around, key=lambda f: f[2] - f[1])
            return Region(start, end, name.rsplit(".", 1)[-1])
    # Indentation: the nearest `def` above whose body holds the lines.
    for start in range(min(first, len(lines) - 1), -1, -1):
        m = _DEF.match(lines[start])
        if not m or m.group(0).strip().startswith("class"):
            continue
        depth = len(m.group(1))
        end = start + 1
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > depth
                                    or lines[end].lstrip().startswith(("#", ")", "]", "}"))):
            end += 1
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        if end > last:
            while start > 0 and lines[start - 1].lstrip().startswith("@"):
                start -= 1
            found = re.search(r"def\s+(\w+)", "".join(lines[start:start + 3]))
            return Region(start, end, found.group(1) if found else None)
    # Module-level code: the paragraph around the lines.
    start, end = first, last + 1
    while start > 0 and lines[start - 1].strip():
        start -= 1
    while end < len(lines) and lines[end].strip():
        end += 1
    return Region(start, min(end, len(lines)), None)


def function_end(text: str) -> int | None:
    """Where generated text leaves the function it started (None: it has not yet)."""
    lines = text.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()
                  and not ln.lstrip().startswith(("@", "#"))), None)
    if first is None:
        return None
    depth = _indent(lines[first])
    for i in range(first + 1, len(lines) - 1):  # complete lines only
        line = lines[i]
        if line.strip() and _indent(line) <= depth and not line.lstrip().startswith(
                (")", "]", "}", "#")):
            return sum(len(x) + 1 for x in lines[:i])
    return None


def replace_region(lines: list[str], region: Region, replacement: str) -> str:
    return "".join(lines[:region.start]) + replacement + "".join(lines[region.end:])


def _new_findings(before: list[Finding], after: list[Finding], old: Region, new: Region,
                  original_parses: bool) -> list[Finding]:
    """Findings of the new file that the old one did not have (compared by rule and message,
    inside and outside the function separately, since lines move)."""
    def split(found: Iterable[Finding], region: Region) -> tuple[Counter, Counter]:
        inside: Counter = Counter()
        outside: Counter = Counter()
        for f in found:
            (inside if region.start <= f.line < region.end else outside)[f.key()] += 1
        return inside, outside

    in_before, out_before = split(before, old)
    in_after, out_after = split(after, new)
    fresh = list((in_after - in_before).elements())
    if original_parses:  # otherwise the old file's findings outside are unknown
        fresh += list((out_after - out_before).elements())
    return [f for f in after if f.key() in set(fresh)]


def _still_reported(problem: Problem, after: list[Finding], new: Region) -> bool:
    for f in after:
        if f.checker != problem.checker or not new.start <= f.line < new.end:
            continue
        if problem.code and f.code and problem.code == f.code:
            return True
        if problem.checker == "syntax" or _same_words(problem.message, f.message):
            return True
    return False


def _code_of(text: str) -> str | None:
    """The syntax tree of a function without its docstrings (None: it does not parse)."""
    try:
        tree = ast.parse(textwrap.dedent(text))
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def _same_code(old: str, new: str) -> bool:
    before = _code_of(old)
    return before is not None and before == _code_of(new)


def _same_words(a: str, b: str) -> bool:
    def words(s: str) -> set[str]:
        return set(re.findall(r"\w+", s.lower()))
    wa, wb = words(a), words(b)
    return bool(wa) and len(wa & wb) / len(wa | wb) >= 0.6


class Checker:
    """Checks candidates of one file; the original's findings are computed once."""

    def __init__(self, path: Path, root: Path | None, text: str, problems: list[Problem],
                 run: Callable[[str, str], list[Finding] | None] | None = None) -> None:
        self.path, self.root, self.text = path, root, text
        self.lines = text.splitlines(keepends=True)
        self.problems = problems
        self._run = run or (lambda name, source: CHECKERS[name](source, path, root))
        wanted = [c for c in ALWAYS if available(c)]
        wanted += [p.checker for p in problems if p.checker and p.checker not in wanted
                   and available(p.checker)]
        self.names: list[str] = []
        self.before: dict[str, list[Finding]] = {}
        for name in wanted:
            found = self._run(name, text)
            if found is not None:
                self.names.append(name)
                self.before[name] = found
        self.original_parses = not run_syntax(text, path)

    def not_rechecked(self) -> list[str]:
        return sorted({p.label for p in self.problems if p.checker not in self.names})

    def check(self, region: Region, replacement: str) -> Verdict:
        if replacement == region.text(self.lines):
            return Verdict(False, "unchanged")
        if region.name is not None:
            m = re.search(r"^\s*(?:async\s+)?def\s+(\w+)", replacement, re.MULTILINE)
            if m is None or m.group(1) != region.name:
                return Verdict(False, f"does not define {region.name} any more")
        new_text = replace_region(self.lines, region, replacement)
        new = Region(region.start, region.start + len(replacement.splitlines()), region.name)
        if run_syntax(new_text, self.path):
            return Verdict(False, "does not parse")
        if _same_code(region.text(self.lines), replacement):
            return Verdict(False, "changes only docstrings, comments or layout")
        fixed: list[Problem] = []
        for name in self.names:
            after = self._run(name, new_text)
            if after is None:
                return Verdict(False, f"{name} could not check it")
            fresh = _new_findings(self.before[name], after, region, new, self.original_parses)
            if fresh:
                return Verdict(False, f"{name}: new {fresh[0].code} {fresh[0].message}")
            for problem in self.problems:
                if problem.checker == name and _still_reported(problem, after, new):
                    return Verdict(False, f"{name} still reports {problem.message!r}")
        for problem in self.problems:
            if problem.checker in self.names or problem.checker == "syntax":
                fixed.append(problem)
        return Verdict(True, fixes=fixed)


def problems_in(problems: list[Problem], region: Region) -> list[Problem]:
    return [p for p in problems if region.start <= p.line < region.end]


class Repairer:
    """Generates candidates with the engine and returns the ones that pass the checks."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _diverge_at(self, region_text: str, offset: int, prefix: str
                    ) -> Callable[[str], list[int]]:
        """A ban rule: the copy of the original may not reach past the word at the problem
        (left to itself the model copies the function unchanged, problem included)."""
        engine = self.engine
        while offset < len(region_text) and region_text[offset] in " \t":
            offset += 1  # a problem at the start of a line is about its code, not indent
        word = re.match(r"\w+", region_text[offset:])
        end = offset + (len(word.group(0)) if word else 1)

        def ban(generated: str) -> list[int]:
            done = prefix + generated
            reach = end - len(done)  # a token this long or longer would complete the copy
            if reach <= 0 or reach > 64 or not region_text.startswith(done):
                return []
            rest = region_text[len(done):]
            return [i for i, piece in engine.pieces_starting_with(rest[:1])
                    if len(piece) >= reach and rest.startswith(piece)]

        return ban

    def candidates(self, *, repo_name: str, rel_path: str, region_text: str,
                   count: int, deadline: float | None = None,
                   cancel: threading.Event | None = None,
                   problem_at: int | None = None) -> list[str]:
        """Up to `count` distinct rewrites of `region_text`; `problem_at` is the offset
        in it where the copy must change."""
        # The problem is not named in the prompt: the fix-commit layout the adapter learnt
        # has no place for it, and naming it made the base model write prose. The answer
        # starts with the original's header up to the function's name, so it is that
        # function again (not prose, a code fence or another function).
        header = _DEF_HEADER.match(region_text)
        prefix = header.group(0) if header else ""
        ids = self.engine.encode(fix_prompt(repo_name, rel_path, region_text) + prefix)
        ban = (self._diverge_at(region_text, problem_at, prefix)
               if problem_at is not None and problem_at >= len(prefix) else None)
        source = self.engine.encode(region_text)
        limit = len(source) + 48

        def stop(text: str) -> int | None:
            cut = function_end(prefix + text)
            return None if cut is None else max(cut - len(prefix), 0)

        found: list[str] = []
        for i in range(count):
            if cancel is not None and cancel.is_set():
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            sampling = None if i == 0 else Sampling(temperature=0.8, top_p=0.95, seed=i)
            out = self.engine.generate(ids, max_new_tokens=limit, stop=stop,
                                       cancel=cancel, deadline=deadline, sampling=sampling,
                                       draft_from=source, ban=ban if i == 0 else None)
            if out.finish in ("cancelled", "timeout"):
                break
            if out.finish == "length":
                continue  # never finished the function
            text = prefix + out.text if prefix else out.text.lstrip("\n")
            text = text.rstrip("\n") + "\n"
            if region_text and not region_text.endswith("\n"):
                text = text.rstrip("\n")
            if text.strip() and text not in found:
                found.append(text)
        return found

    def repair(self, *, path: Path, root: Path | None, text: str, first: int, last: int,
               problems: list[Problem], count: int = 3, deadline: float | None = None,
               cancel: threading.Event | None = None) -> list[Fix]:
        """Checked fixes of the function around lines [first, last] (both steps at once;
        the server runs them on different threads)."""
        job = plan(path, root, text, first, last, problems)
        if job is None:
            return []
        generated = self.candidates(repo_name=job.repo_name, rel_path=job.rel_path,
                                    region_text=job.region_text, count=count,
                                    deadline=deadline, cancel=cancel,
                                    problem_at=problem_offset(job))
        return check_all(job, generated)


@dataclass
class RepairJob:
    path: Path
    root: Path | None
    text: str
    region: Region
    problems: list[Problem]  # those inside the region
    repo_name: str
    rel_path: str

    @property
    def region_text(self) -> str:
        return self.region.text(self.text.splitlines(keepends=True))


def plan(path: Path, root: Path | None, text: str, first: int, last: int,
         problems: list[Problem]) -> RepairJob | None:
    """What to rewrite for lines [first, last]; None when the function is too long."""
    region = enclosing_region(text, first, last)
    if region.end - region.start > MAX_REGION_LINES or region.end <= region.start:
        return None
    rel = path.relative_to(root).as_posix() if root and path.is_relative_to(root) \
        else path.name
    return RepairJob(path=path, root=root, text=text, region=region,
                     problems=problems_in(problems, region),
                     repo_name=root.name if root else path.parent.name, rel_path=rel)


def check_all(job: RepairJob, generated: list[str], checker: Checker | None = None
              ) -> list[Fix]:
    """The candidates that pass the checks, as fixes."""
    checker = checker or Checker(job.path, job.root, job.text, job.problems)
    fixes = []
    for replacement in generated:
        verdict = checker.check(job.region, replacement)
        log.info("repair candidate for %s:%s: %s %s", job.path.name, job.region.name,
                 "ok" if verdict.ok else "rejected", verdict.reason)
        if verdict.ok:
            fixes.append(Fix(replacement, job.region, verdict.fixes, checker.not_rechecked()))
    return fixes


def parse_problem(message: str, line: int, end_line: int, source: str | None,
                  code: object, data: object = None, column: int = 0) -> Problem:
    code_text = str(code) if isinstance(code, (str, int)) else None
    return Problem(message=message, line=line, end_line=end_line, source=source,
                   code=code_text, checker=checker_for(source, data), column=column)


def offset_in_region(job: RepairJob, line: int, column: int) -> int:
    """The offset in the function's text of a (line, column) of the file."""
    lines = job.text.splitlines(keepends=True)
    line = min(max(line, job.region.start), job.region.end - 1)
    before = "".join(lines[job.region.start:line])
    here = lines[line] if line < len(lines) else ""
    return len(before) + min(max(column, 0), len(here.rstrip("\r\n")))


def problem_offset(job: RepairJob) -> int | None:
    """Where in the function text the first problem sits (None: no problem inside)."""
    if not job.problems:
        return None
    first = min(job.problems, key=lambda p: (p.line, p.column))
    return offset_in_region(job, first.line, first.column)


def selection_offset(job: RepairJob, first: tuple[int, int], last: tuple[int, int]
                     ) -> int | None:
    """A selection inside the function points at the code to change (None when it covers
    the whole function, which points at nothing in particular)."""
    if first[0] <= job.region.start and last[0] >= job.region.end - 1:
        return None
    return offset_in_region(job, *first)
