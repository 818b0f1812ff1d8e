"""Which of a repository's files may become training data, and why the others may not.

An adapter memorises what it is trained on, and its completions can repeat it verbatim, so
the filters lean towards skipping: anything that looks like a secret, a vendored copy of
someone else's code, or machine output is left out, and every skip is counted so that the
user can see what the adapter was (not) taught. The same path rules serve the history
builder, so a file skipped here cannot slip back in through a diff.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from adapters.repo_context import MAX_FILE_BYTES, language_of, looks_generated

MINIFIED_LINE_CHARS = 1000
_GIT_TIMEOUT = 60

VENDORED_DIRS = frozenset({"vendor", "vendored", "third_party", "third-party", "3rdparty",
                           "node_modules", "bower_components", "site-packages"})
# Folders a walk outside git never enters (git repositories ignore them through .gitignore).
_WALK_IGNORED = frozenset({"venv", ".venv", "__pycache__"})
_WALK_GENERATED = frozenset({"dist", "build"})

LOCK_FILES = frozenset({"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
                        "poetry.lock", "Pipfile.lock", "uv.lock", "Cargo.lock", "Gemfile.lock",
                        "composer.lock", "go.sum", "mix.lock", "pubspec.lock", "flake.lock",
                        "bun.lockb", "packages.lock.json"})
_GENERATED_NAME = re.compile(
    r"(_pb2(_grpc)?\.pyi?|\.pb\.go|\.generated\.\w+|\.g\.dart|\.designer\.cs)$")
_MINIFIED_NAME = re.compile(r"[.-]min\.(js|css|mjs)$|\.bundle\.js$")
_SECRET_NAME = re.compile(
    r"^(\.env(\..*)?|.*\.env|.*\.(pem|key|p12|pfx|crt|cer|der|jks|keystore|gpg|asc|ovpn)"
    r"|id_(rsa|dsa|ecdsa|ed25519).*|credentials.*|secrets?\..*|\.netrc|\.npmrc|\.pypirc"
    r"|\.htpasswd|.*\.tfvars|\.git-credentials)$", re.IGNORECASE)
SECRET_CONTENT = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"
    r"|\b(AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"
    r"|\bsk-[A-Za-z0-9_-]{20,}"
    r"""|(?i:(api[_-]?key|secret|token|passw(or)?d)\w*["']?\s*[:=]\s*["'][^"']{16,}["'])""")
# SmolLM2's special tokens: text holding one would be tokenised as the marker itself and
# break the prompt layout or the fill-in-the-middle sentinels.
SPECIAL_MARKERS = re.compile(
    r"<\|(endoftext|im_start|im_end)\|>|<(repo_name|reponame|file_sep|filename|gh_stars"
    r"|issue_start|issue_comment|issue_closed|jupyter_start|jupyter_text|jupyter_code"
    r"|jupyter_output|jupyter_script|empty_output)>")


@dataclass
class FileScan:
    """The files kept (path, text), in path order, and the counted reasons for the rest."""

    files: list[tuple[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_paths: set[str] = field(default_factory=set)
    error: str | None = None  # why git could not list the files (the walk was used instead)


def git(root: Path, *args: str, timeout: float = _GIT_TIMEOUT) -> bytes:
    """Run git with settings that make its output parseable whatever the user's config."""
    return subprocess.run(
        ["git", "-C", str(root), "-c", "core.quotePath=false", "-c", "diff.noprefix=false",
         "-c", "diff.mnemonicPrefix=false", "-c", "log.showSignature=false", *args],
        capture_output=True, timeout=timeout, check=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}).stdout


def path_skip_reason(path: str) -> str | None:
    """Why a path is skipped from its name alone (also used for diff sections)."""
    parts = path.split("/")
    name = parts[-1]
    if any(p in VENDORED_DIRS for p in parts[:-1]):
        return "vendored"
    if _SECRET_NAME.match(name):
        return "secret"
    if name in LOCK_FILES or _GENERATED_NAME.search(name):
        return "generated"
    if _MINIFIED_NAME.search(name):
        return "minified"
    return None


def text_skip_reason(text: str) -> str | None:
    """Why a text is skipped from its content (minified, generated or holding a secret)."""
    if any(len(line) > MINIFIED_LINE_CHARS for line in text.splitlines()):
        return "minified"
    if looks_generated(text):
        return "generated"
    if SECRET_CONTENT.search(text):
        return "secret"
    return None


def _listed(root: Path, *args: str) -> list[str]:
    out = git(root, "ls-files", "-z", *args)
    return sorted({f for f in out.decode("utf-8", "replace").split("\0") if f})


def _git_candidates(root: Path, scan: FileScan) -> list[str]:
    """Git's view of the files: tracked or new, minus what .gitignore excludes (a tracked
    file that .gitignore now names counts as ignored too)."""
    listed = _listed(root, "--cached", "--others", "--exclude-standard")
    tracked_ignored = set(_listed(root, "--cached", "--ignored", "--exclude-standard"))
    scan.skipped["ignored"] += len(tracked_ignored)
    scan.skipped_paths |= tracked_ignored  # their history stays out too
    # --directory reports an ignored folder (node_modules, .venv) as one entry, unwalked.
    scan.skipped["ignored"] += len(_listed(root, "--others", "--ignored", "--exclude-standard",
                                      "--directory"))
    return [f for f in listed if f not in tracked_ignored]


def _walk_candidates(root: Path, skipped: Counter[str]) -> list[str]:
    """Outside git there is no .gitignore to honour: leave out the usual tool folders."""
    found: list[str] = []
    for current, dirs, names in os.walk(root):
        keep = []
        for d in sorted(dirs):
            if d.startswith(".") or d in _WALK_IGNORED:
                skipped["ignored"] += 1
            elif d in VENDORED_DIRS:
                skipped["vendored"] += 1
            elif d in _WALK_GENERATED:
                skipped["generated"] += 1
            else:
                keep.append(d)
        dirs[:] = keep
        rel_dir = Path(current).relative_to(root)
        found.extend((rel_dir / n).as_posix() for n in names)
    return sorted(found)


def _file_skip_reason(root: Path, rel: str) -> tuple[str | None, str]:
    reason = path_skip_reason(rel)
    if reason:
        return reason, ""
    path = root / rel
    try:
        if path.is_symlink():
            return "symlink", ""  # may point outside the repository (~/.ssh/...)
        if not path.is_file():
            return "missing", ""
        if path.stat().st_size > MAX_FILE_BYTES:
            return "huge", ""
        data = path.read_bytes()
    except OSError:
        return "unreadable", ""
    if b"\0" in data[:8192]:
        return "binary", ""
    if language_of(Path(rel)) is None:
        return "not_source", ""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    if not text.strip():
        return "empty", ""
    return text_skip_reason(text), text


def scan_files(root: Path, in_git: bool) -> FileScan:
    """The repository's usable source files, from git's view when there is one."""
    scan = FileScan()
    candidates: list[str] | None = None
    if in_git:
        try:
            candidates = _git_candidates(root, scan)
        except (OSError, subprocess.SubprocessError) as exc:
            scan.error = error_text(exc)
            scan.skipped.clear()
            scan.skipped_paths.clear()
    if candidates is None:
        candidates = _walk_candidates(root, scan.skipped)
    for rel in candidates:
        reason, text = _file_skip_reason(root, rel)
        if reason:
            scan.skipped[reason] += 1
            scan.skipped_paths.add(rel)
        else:
            scan.files.append((rel, text))
    return scan


def error_text(exc: BaseException) -> str:
    """git's own complaint when there is one (it names the real problem), else the error."""
    stderr = getattr(exc, "stderr", None)
    if isinstance(stderr, bytes) and stderr.strip():
        return stderr.decode("utf-8", "replace").strip().splitlines()[-1]
    return str(exc)


def split_chunks(text: str, max_chars: int) -> list[str]:
    """Pieces of at most `max_chars`, cut at line ends (a longer line is cut inside)."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > max_chars:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:max_chars])
            line = line[max_chars:]
        if len(current) + len(line) > max_chars:
            chunks.append(current)
            current = ""
        current += line
    if current:
        chunks.append(current)
    return [c for c in chunks if c.strip()]
