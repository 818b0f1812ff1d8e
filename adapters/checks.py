"""The checkers Tailor can run on Python source: its own syntax check, pyflakes, and ruff,
mypy or pyright when they are installed.

They serve two purposes: Tailor's own diagnostics (syntax and pyflakes, when the user turns
them on) and the check of every repair candidate before it is offered. Each runs on text,
never on the user's file: ruff reads stdin, mypy gets the text as a shadow file, pyright a
copy in a temporary folder. None of them runs the user's code.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHECK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Finding:
    checker: str  # syntax | pyflakes | ruff | mypy | pyright
    code: str  # the checker's rule code ("" when it has none)
    message: str
    line: int  # 0-based
    column: int = 0

    def key(self) -> tuple[str, str, str]:
        """What identifies a finding wherever its line moved to."""
        return (self.checker, self.code, self.message)


def run_syntax(text: str, path: Path, root: Path | None = None) -> list[Finding]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for odd escapes is not an error
            compile(text, str(path), "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None) or 1
        column = getattr(exc, "offset", None) or 1
        message = getattr(exc, "msg", None) or str(exc)
        return [Finding("syntax", "syntax-error", str(message), line - 1, max(column - 1, 0))]
    return []


def run_pyflakes(text: str, path: Path, root: Path | None = None) -> list[Finding]:
    from pyflakes import api

    found: list[Finding] = []

    class Reporter:
        def unexpectedError(self, filename: str, message: str) -> None:
            found.append(Finding("pyflakes", "error", str(message), 0))

        def syntaxError(self, filename: str, message: str, lineno: int, offset: int | None,
                        text: str | None) -> None:
            found.append(Finding("pyflakes", "syntax-error", str(message),
                                 (lineno or 1) - 1, max((offset or 1) - 1, 0)))

        def flake(self, message: object) -> None:
            text_ = getattr(message, "message", "%s") % getattr(message, "message_args", ())
            found.append(Finding("pyflakes", type(message).__name__, text_,
                                 getattr(message, "lineno", 1) - 1,
                                 getattr(message, "col", 0)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api.check(text, str(path), Reporter())
    return found


def _tool(name: str) -> str | None:
    """An executable next to this Python (the venv) first, then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def _run(cmd: list[str], cwd: Path | None, stdin: str | None = None
         ) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=cwd,
                              timeout=CHECK_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None


def run_ruff(text: str, path: Path, root: Path | None = None) -> list[Finding] | None:
    ruff = _tool("ruff")
    if ruff is None:
        return None
    proc = _run([ruff, "check", "--output-format", "json", "--no-cache", "--exit-zero",
                 "--stdin-filename", str(path), "-"], root or path.parent, text)
    if proc is None or proc.returncode != 0:
        return None
    try:
        items = json.loads(proc.stdout or "[]")
    except ValueError:
        return None
    return [Finding("ruff", item.get("code") or "syntax-error", item.get("message", ""),
                    item.get("location", {}).get("row", 1) - 1,
                    item.get("location", {}).get("column", 1) - 1) for item in items]


_MYPY_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?:(?P<col>\d+):)? error: "
                        r"(?P<message>.*?)(?:\s+\[(?P<code>[\w-]+)\])?$")


def run_mypy(text: str, path: Path, root: Path | None = None) -> list[Finding] | None:
    if _tool("mypy") is None:
        return None
    with tempfile.TemporaryDirectory(prefix="tailor-mypy-") as tmp:
        shadow = Path(tmp) / path.name
        shadow.write_text(text, encoding="utf-8")
        proc = _run([sys.executable, "-m", "mypy", "--shadow-file", str(path), str(shadow),
                     "--show-column-numbers", "--no-error-summary", "--no-color-output",
                     "--hide-error-context", "--cache-dir", str(Path(tmp) / "cache"),
                     "--follow-imports", "silent", str(path)], root or path.parent)
    if proc is None or proc.returncode not in (0, 1):
        return None
    found = []
    for line in proc.stdout.splitlines():
        m = _MYPY_LINE.match(line)
        if m:
            found.append(Finding("mypy", m.group("code") or "", m.group("message"),
                                 int(m.group("line")) - 1, int(m.group("col") or 1) - 1))
    return found


def run_pyright(text: str, path: Path, root: Path | None = None) -> list[Finding] | None:
    pyright = _tool("pyright")
    if pyright is None:
        return None
    with tempfile.TemporaryDirectory(prefix="tailor-pyright-") as tmp:
        copy = Path(tmp) / path.name
        copy.write_text(text, encoding="utf-8")
        proc = _run([pyright, "--outputjson", str(copy)], root or path.parent)
    if proc is None:
        return None
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        return None
    return [Finding("pyright", d.get("rule", ""), d.get("message", ""),
                    d.get("range", {}).get("start", {}).get("line", 0),
                    d.get("range", {}).get("start", {}).get("character", 0))
            for d in report.get("generalDiagnostics", []) if d.get("severity") == "error"]


Checker = Callable[[str, Path, "Path | None"], "list[Finding] | None"]
CHECKERS: dict[str, Checker] = {"syntax": run_syntax, "pyflakes": run_pyflakes,
                                "ruff": run_ruff, "mypy": run_mypy, "pyright": run_pyright}
# The cheap ones run on every candidate; mypy and pyright only for their own diagnostics.
ALWAYS = ("syntax", "pyflakes", "ruff")
_SOURCES = {"syntax": "syntax", "python": "syntax", "tailor": "pyflakes", "pyflakes": "pyflakes",
            "flake8": "pyflakes", "ruff": "ruff", "mypy": "mypy", "pyright": "pyright",
            "basedpyright": "pyright"}


def checker_for(source: str | None, data: object = None) -> str | None:
    """Which checker reproduces a diagnostic from its `source` (None: none Tailor knows)."""
    if isinstance(data, dict) and data.get("checker") in CHECKERS:
        return str(data["checker"])
    return _SOURCES.get((source or "").strip().lower())


def available(name: str) -> bool:
    if name in ("syntax", "pyflakes"):
        return True
    return _tool({"ruff": "ruff", "mypy": "mypy", "pyright": "pyright"}[name]) is not None
