"""Training pairs from git history: (diff -> commit message) and (before -> after) of fixes.

History is read in one streamed `git log -p` rather than a `git show` per commit (thousands
of subprocesses on a long history), and each diff is kept only up to what a prompt can use,
so memory stays bounded however large the commits were. Diff sections of files the file
scan would skip (secrets, vendored, lock, binary, minified) are dropped with the same rules,
so nothing the scan keeps out comes back through the history.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from adapters.dataset_files import (
    SPECIAL_MARKERS,
    git,
    path_skip_reason,
    text_skip_reason,
)
from adapters.repo_context import MAX_FILE_BYTES, language_of

FIX_MESSAGE = re.compile(r"\b(fix|fixes|fixed|bug|repair|correct|typo|patch)\b", re.IGNORECASE)
FIX_MAX_FILES = 3
FIX_MAX_CHANGED_LINES = 40
FIX_CONTEXT_LINES = 10
_COMMIT_MARK = "\x1eCOMMIT "
_MESSAGE_END = "\x1f"
_LOG_DEADLINE_S = 300.0


@dataclass
class DiffSection:
    """One file's part of a diff; `lines` is capped, the counters are not."""

    paths: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    chars: int = 0
    added: int = 0
    removed: int = 0
    binary: bool = False
    new_file: bool = False
    deleted: bool = False
    old_path: str | None = None
    new_path: str | None = None


@dataclass
class Commit:
    sha: str
    parents: list[str]
    message: str
    sections: list[DiffSection] = field(default_factory=list)


def _header_path(line: str) -> str:
    """`diff --git a/X b/Y` -> Y (paths may hold spaces; X == Y unless renamed)."""
    rest = line[len("diff --git "):]
    n = (len(rest) - 5) // 2
    if rest.startswith("a/") and rest[2:2 + n] == rest[5 + n:] and rest[2 + n:5 + n] == " b/":
        return rest[5 + n:]
    i = rest.rfind(" b/")
    return rest[i + 3:] if i >= 0 else rest


class _DiffParser:
    """Feeds diff lines into sections, storing at most `cap` characters per section."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.sections: list[DiffSection] = []
        self.in_hunk = False

    def feed(self, line: str) -> None:
        if line.startswith("diff --git "):
            path = _header_path(line)
            self.sections.append(DiffSection(paths=[path], old_path=path, new_path=path))
            self.in_hunk = False
        if not self.sections:
            return
        s = self.sections[-1]
        s.chars += len(line) + 1
        if s.chars <= self.cap:
            s.lines.append(line)
        if line.startswith("@@"):
            self.in_hunk = True
        elif self.in_hunk:
            # Inside a hunk "--- x" is a removed line "-- x", never a header.
            if line.startswith("+"):
                s.added += 1
            elif line.startswith("-"):
                s.removed += 1
        elif line.startswith(("+++ ", "--- ")):
            target = line[4:].rstrip("\t")
            if target != "/dev/null":
                path = target[2:] if target[:2] in ("a/", "b/") else target
                s.paths.append(path)
                if line.startswith("---"):
                    s.old_path = path
                else:
                    s.new_path = path
        elif line.startswith(("rename from ", "copy from ")):
            s.old_path = line.split(" from ", 1)[1]
            s.paths.append(s.old_path)
        elif line.startswith(("rename to ", "copy to ")):
            s.new_path = line.split(" to ", 1)[1]
            s.paths.append(s.new_path)
        elif line.startswith("new file mode"):
            s.new_file = True
        elif line.startswith("deleted file mode"):
            s.deleted = True
        elif line.startswith(("Binary files ", "GIT binary patch")):
            s.binary = True


def parse_diff(text: str, cap: int = MAX_FILE_BYTES) -> list[DiffSection]:
    """A unified diff (`git diff`, `git show`) split into per-file sections."""
    parser = _DiffParser(cap)
    for line in text.split("\n"):
        parser.feed(line)
    return parser.sections


def section_skip_reason(section: DiffSection, skipped_paths: set[str]) -> str | None:
    """Why a diff section must not reach a prompt (None: it may)."""
    for path in section.paths:
        if path in skipped_paths:
            return "skipped_file"
        reason = path_skip_reason(path)
        if reason:
            return reason
    if section.binary:
        return "binary"
    if section.chars > MAX_FILE_BYTES:
        return "huge"
    body = "\n".join(section.lines)
    if SPECIAL_MARKERS.search(body):
        return "special_tokens"
    return text_skip_reason(body)


def read_history(root: Path, max_commits: int, cap: int) -> tuple[list[Commit], bool]:
    """Non-merge first-parent commits, newest first, each diff section capped at `cap`
    characters; and whether the walk finished before its deadline."""
    cmd = ["git", "-C", str(root), "-c", "core.quotePath=false", "-c", "diff.noprefix=false",
           "-c", "diff.mnemonicPrefix=false", "-c", "log.showSignature=false", "log",
           "--first-parent", "--no-merges", "--root", "-p", "-M", "--no-color", "--no-ext-diff",
           "--no-textconv", f"-n{max_commits}", f"--format={_COMMIT_MARK}%H %P%n%B{_MESSAGE_END}"]
    commits: list[Commit] = []
    parser: _DiffParser | None = None
    message: list[str] | None = None
    complete = True
    deadline = time.monotonic() + _LOG_DEADLINE_S
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith(_COMMIT_MARK):
                sha, *parents = line[len(_COMMIT_MARK):].split()
                parser = _DiffParser(cap)
                commits.append(Commit(sha=sha, parents=parents, message=""))
                commits[-1].sections = parser.sections
                message = []
            elif message is not None:
                if line.endswith(_MESSAGE_END):
                    message.append(line[:-1])
                    commits[-1].message = "\n".join(message).strip()
                    message = None
                else:
                    message.append(line)
            elif parser is not None:
                parser.feed(line)
            if time.monotonic() > deadline:
                proc.kill()
                complete = False
                break
        _, stderr = proc.communicate()
        if complete and proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, cmd, stderr=stderr)
    return commits, complete


def _functions(text: str) -> list[tuple[str, int, int]]:
    """(qualified name, first line, end line) of each function, 0-based, end exclusive."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{scope}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                    found.append((name, first - 1, child.end_lineno or child.lineno))
                visit(child, name + ".")
            else:
                visit(child, scope)

    visit(ast.parse(text), "")
    return found


def _enclosing(functions: list[tuple[str, int, int]], start: int, end: int
               ) -> tuple[str, int, int] | None:
    """The innermost function holding lines [start, end) (an insertion has start == end)."""
    end = max(end, start + 1)
    inside = [f for f in functions if f[1] <= start and end <= f[2]]
    return min(inside, key=lambda f: f[2] - f[1]) if inside else None


def fix_regions(path: str, before: str, after: str) -> list[tuple[str, str]]:
    """(before, after) around each change: the enclosing Python function when both versions
    parse and the change stays inside one, else the changed lines with some context."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    funcs_a = funcs_b = None
    if path.endswith(".py"):
        with contextlib.suppress(SyntaxError, ValueError):
            funcs_a, funcs_b = _functions(before), _functions(after)
    regions: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(FIX_CONTEXT_LINES):
        changed = [op for op in group if op[0] != "equal"]
        if not changed:
            continue
        region = (a[group[0][1]:group[-1][2]], b[group[0][3]:group[-1][4]])
        if funcs_a is not None and funcs_b is not None:
            old = _enclosing(funcs_a, changed[0][1], changed[-1][2])
            new = _enclosing(funcs_b, changed[0][3], changed[-1][4])
            if old and new and old[0] == new[0]:
                region = (a[old[1]:old[2]], b[new[1]:new[2]])
        pair = ("".join(region[0]), "".join(region[1]))
        if pair[0] != pair[1] and pair not in regions:
            regions.append(pair)
    return regions


def is_fix_candidate(commit: Commit, skipped_paths: set[str]) -> list[DiffSection]:
    """The source sections of a small fix commit, or [] when it is not one."""
    if not commit.parents or not FIX_MESSAGE.search(commit.message):
        return []
    source = [s for s in commit.sections
              if s.new_path and language_of(Path(s.new_path)) is not None]
    if not 1 <= len(source) <= FIX_MAX_FILES:
        return []
    if sum(s.added + s.removed for s in source) > FIX_MAX_CHANGED_LINES:
        return []
    return [s for s in source if not (s.new_file or s.deleted or s.binary)
            and section_skip_reason(s, skipped_paths) is None]


def fix_pairs(root: Path, commit: Commit, skipped_paths: set[str], max_chars: int
              ) -> list[tuple[str, str, str]]:
    """(path, before, after) for each changed region of a small fix commit."""
    pairs: list[tuple[str, str, str]] = []
    for section in is_fix_candidate(commit, skipped_paths):
        assert section.old_path and section.new_path
        try:
            before = git(root, "show", f"{commit.parents[0]}:{section.old_path}")
            after = git(root, "show", f"{commit.sha}:{section.new_path}")
        except (OSError, subprocess.SubprocessError):
            continue
        if b"\0" in before[:8192] or b"\0" in after[:8192]:
            continue
        old = before.decode("utf-8", "replace").replace("\r\n", "\n")
        new = after.decode("utf-8", "replace").replace("\r\n", "\n")
        for region_before, region_after in fix_regions(section.new_path, old, new):
            if max(len(region_before), len(region_after)) > max_chars:
                continue
            both = region_before + region_after
            if SPECIAL_MARKERS.search(both) or text_skip_reason(both) == "secret":
                continue
            pairs.append((section.new_path, region_before, region_after))
    return pairs
