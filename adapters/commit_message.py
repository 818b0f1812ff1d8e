"""A commit message for the staged changes, in the repository's own style.

The prompt is the training layout (`dataset.commit_prompt`): the packed diff as a file,
the message as the next. With an adapter the repository's style is in the weights; without
one, a few recent commits (their file lists and messages) go first as examples. Whatever
the model writes is then held to git's conventions: a subject of at most 72 characters, a
blank line, an optional body, and nothing copied from the diff or the prompt.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.dataset import commit_prompt
from adapters.dataset_files import SPECIAL_MARKERS
from adapters.dataset_history import DiffSection, _DiffParser, read_history
from adapters.diff_pack import PackedDiff, file_list, pack_diff, split_section
from adapters.engine import Engine, Generation, Timing

SUBJECT_MAX = 72
BODY_MAX_LINES = 12
EXAMPLES = 4
_DIFF_CAP = 200_000  # characters kept per file while reading a diff
_GIT_TIMEOUT = 30.0
_DIFF_LINE = re.compile(r"^(diff --git |index [0-9a-f]+\.\.|@@ |\+\+\+ |--- a/|--- /dev/null)")


PROMPT_TTL_S = 5.0


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


class CommitMessageError(Exception):
    """Nothing can be written (not a repository, nothing changed); the text says why."""


@dataclass
class Changes:
    root: Path
    packed: PackedDiff
    diff: str  # "staged" | "unstaged"
    notice: str | None = None


@dataclass
class CommitMessage:
    message: str
    diff: str
    notice: str | None
    files: int
    source: str  # "model" | "fallback" (the model wrote nothing usable)
    adapter: str | None = None
    timing: Timing = field(default_factory=Timing)
    raw: str = ""

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def body(self) -> str:
        parts = self.message.split("\n\n", 1)
        return parts[1] if len(parts) > 1 else ""

    def to_dict(self) -> dict[str, object]:
        return {"message": self.message, "subject": self.subject, "body": self.body,
                "diff": self.diff, "notice": self.notice, "files": self.files,
                "source": self.source, "adapter": self.adapter,
                "timing": self.timing.to_dict()}


def repo_root_of(path: Path) -> Path:
    """The work tree that `path` belongs to, also from inside `.git` (COMMIT_EDITMSG)."""
    path = path if path.is_dir() else path.parent
    parts = path.parts
    if ".git" in parts:  # .git/ or .git/worktrees/<name>/
        git_dir = Path(*parts[:parts.index(".git") + 1])
        gitdir_file = path / "gitdir"
        if "worktrees" in parts and gitdir_file.is_file():
            return Path(gitdir_file.read_text().strip()).parent
        return git_dir.parent
    try:
        out = _git(path, "rev-parse", "--show-toplevel")
    except CommitMessageError:
        raise CommitMessageError(f"{path} is not inside a git repository.") from None
    return Path(out.strip())


def _git(root: Path, *args: str) -> str:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "-c", "core.quotePath=false", *args],
            capture_output=True, timeout=_GIT_TIMEOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError) as exc:
        raise CommitMessageError(f"git failed in {root}: {exc}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CommitMessageError(f"git {args[0]} failed in {root}: "
                                 f"{err[-1] if err else proc.returncode}")
    return proc.stdout.decode("utf-8", "replace")


def _read_diff(root: Path, staged: bool) -> list[DiffSection]:
    """The diff's sections, streamed (a huge staged file must not be held whole)."""
    cmd = ["git", "-C", str(root), "-c", "core.quotePath=false", "-c", "diff.noprefix=false",
           "-c", "diff.mnemonicPrefix=false", "diff", "--no-color", "--no-ext-diff",
           "--no-textconv", "-M"]
    if staged:
        cmd.append("--cached")
    parser = _DiffParser(_DIFF_CAP)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env) as proc:
            assert proc.stdout is not None
            for raw in proc.stdout:
                parser.feed(raw.decode("utf-8", "replace").rstrip("\n"))
            stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
            code = proc.wait(timeout=_GIT_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        raise CommitMessageError(f"git diff failed in {root}: {exc}") from None
    if code != 0:
        raise CommitMessageError(f"git diff failed in {root}: {stderr.strip() or code}")
    return parser.sections


def read_changes(root: Path, budget: int, cost: Callable[[str], int] = len) -> Changes:
    """The staged diff packed into `budget`; the unstaged one, with a notice, when nothing
    is staged."""
    if not (root / ".git").exists():
        raise CommitMessageError(f"{root} is not a git repository.")
    sections = _read_diff(root, staged=True)
    diff, notice = "staged", None
    if not sections:
        sections = _read_diff(root, staged=False)
        diff = "unstaged"
        notice = ("Nothing is staged: this message describes the unstaged changes "
                  "(stage them with `git add` before committing).")
    if not sections:
        raise CommitMessageError("Nothing to describe: there are no staged or unstaged "
                                 f"changes in {root}.")
    return Changes(root=root, packed=pack_diff(sections, budget, cost), diff=diff,
                   notice=notice)


def recent_examples(root: Path, count: int = EXAMPLES) -> list[tuple[str, str]]:
    """(file list, message) of the latest commits, for a model without an adapter."""
    try:
        commits, _ = read_history(root, count, 4000)
    except (OSError, subprocess.SubprocessError):
        return []
    examples = []
    for commit in commits:
        message = commit.message.strip()
        if not message or SPECIAL_MARKERS.search(message):
            continue
        lines = message.splitlines()
        short = "\n".join(lines[:4])[:400].rstrip()
        files = [split_section(s, i, set()) for i, s in enumerate(commit.sections)]
        examples.append(("\n".join(file_list(files)[:8]), short))
    return examples


def build_prompt(repo_name: str, packed: PackedDiff, examples: list[tuple[str, str]]) -> str:
    """Examples (oldest first, so the newest sits nearest) and then the change itself."""
    shots = "".join(f"<file_sep>changes.diff\n{files}\n<file_sep>COMMIT_EDITMSG\n{message}\n"
                    for files, message in reversed(examples))
    prompt = commit_prompt(repo_name, packed.text)
    if not shots:
        return prompt
    head = f"<repo_name>{repo_name}"
    return head + shots + prompt[len(head):]


def stop_rule(text: str) -> int | None:
    """Stop at diff text, a line said twice, or a runaway body (`clean_message` trims)."""
    lines = text.split("\n")
    seen: set[str] = set()
    for i, line in enumerate(lines[:-1]):  # complete lines only
        key = line.strip()
        if _DIFF_LINE.match(line) or (key and key in seen):
            return sum(len(x) + 1 for x in lines[:i])
        seen.add(key)
    if len(lines) > BODY_MAX_LINES + 3:
        return sum(len(x) + 1 for x in lines[:BODY_MAX_LINES + 2])
    return None


def _wrap(line: str) -> list[str]:
    if len(line) <= SUBJECT_MAX:
        return [line]
    bullet = re.match(r"^(\s*(?:[-*]|\d+\.)\s+)", line)
    indent = " " * len(bullet.group(1)) if bullet else ""
    return textwrap.wrap(line, SUBJECT_MAX, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False) or [line]


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _copies_an_example(subject: str, prompt_text: str) -> bool:
    """The subject is (nearly) one of the example messages' subjects."""
    mine = _normal(subject)
    for example in _EXAMPLE.findall(prompt_text):
        theirs = _normal(example.split("\n", 1)[0])
        if mine and theirs and difflib.SequenceMatcher(None, mine, theirs).ratio() >= 0.85:
            return True
    return False


def _drop_repeated_sentences(line: str, seen: set[str]) -> str:
    """A line without the sentences already said (a small model loops inside a line too)."""
    parts = re.split(r"(?<=[.!?])\s+", line)
    if len(parts) < 2:
        return line
    kept = []
    for part in parts:
        key = part.strip().lower()
        if key and key not in seen:
            seen.add(key)
            kept.append(part)
    return " ".join(kept)


def clean_message(raw: str, prompt_text: str) -> str:
    """The model's text held to the conventions; "" when nothing usable is left."""
    quoted = {ln.strip().lstrip("+-").strip() for ln in prompt_text.splitlines()}
    said = {q.lower() for q in quoted if q}
    quoted = {q for q in quoted if len(q) >= 12}
    lines: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(raw.replace("\r\n", "\n").strip("\n").split("\n")):
        line = line.rstrip()
        stripped = line.strip()
        if number == 0 and (stripped.lower().rstrip(".") in said
                            or _copies_an_example(stripped, prompt_text)):
            return ""  # a subject copied from an example: the rest is not worth keeping
        if not stripped:
            lines.append("")
            continue
        if (stripped.startswith(("#", "+")) or _DIFF_LINE.match(stripped)
                or _FILE_LIST_LINE.match(line) or re.match(r"^-(?! \S)", stripped)
                # code or configuration: the diff has it, a message describes it
                or _CODE_LINE.search(line) or _KEY_LINE.match(line)
                # the prompt copied, a model repeating itself, a stray character
                or SPECIAL_MARKERS.search(line) or stripped.lstrip("+-").strip() in quoted
                or stripped in seen or not re.search(r"[A-Za-z]{2,}", stripped)):
            if number == 0:
                return ""  # the subject is what the model writes first; without it, nothing
            continue
        seen.add(stripped)
        lines.append(_drop_repeated_sentences(line, seen))
    if not lines:
        return ""
    subject = re.sub(r"\s+", " ", lines[0].strip()).rstrip(".")
    if len(subject.split()) < 2:
        return ""  # one word ("fix:", "pre-commit") says nothing about the change
    rest = [ln for ln in lines[1:]]
    if len(subject) > SUBJECT_MAX:
        cut = subject.rfind(" ", 0, SUBJECT_MAX + 1)
        cut = cut if cut > 20 else SUBJECT_MAX
        rest = [subject[cut:].strip(), *rest]
        subject = subject[:cut].rstrip(" ,;:-")
    body: list[str] = []
    for line in rest:
        body.extend(_wrap(line) if line.strip() else [""])
    text = "\n".join(body).strip("\n")
    text = re.sub(r"\n{3,}", "\n\n", text)
    body_lines = text.split("\n")[:BODY_MAX_LINES] if text else []
    return subject + ("\n\n" + "\n".join(body_lines).rstrip() if body_lines else "")


def fallback_message(packed: PackedDiff) -> str:
    """A plain subject from the file list, for when the model writes nothing usable."""
    verbs = {"A": "Add", "D": "Remove", "R": "Rename", "M": "Update"}
    files = packed.files
    if not files:
        return "Update files"
    kinds = {f.status for f in files}
    verb = verbs[kinds.pop()] if len(kinds) == 1 else "Update"
    names = [Path(f.path).name for f in files]
    subject = f"{verb} {names[0]}" if len(names) == 1 else (
        f"{verb} {names[0]} and {names[1]}" if len(names) == 2
        else f"{verb} {names[0]}, {names[1]} and {len(names) - 2} more files")
    return subject[:SUBJECT_MAX]


# What a message line never starts with: diff and prompt text. The subject starts with a
# word (a small model otherwise goes on writing the diff or the file list).
_LINE_BANNED = ("+", "@@", "diff", "#", "<", "```", "index ", " M ", " A ", " D ", " R ")
_SUBJECT_START = re.compile(r"^[A-Za-z]{2,}")
_KEY_LINE = re.compile(r"^\s*[\w.-]+:\s*$")  # `jobs:`, a configuration key on its own
_EXAMPLE = re.compile(r"<file_sep>COMMIT_EDITMSG\n(.+?)(?=<file_sep>|\Z)", re.DOTALL)
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |return\b|elif |else:|try:|except\b|@\w|"
    r"print\(|self\.|(?:if|for|while|with) .*:$)|[;{}]\s*$|^\s*[\w.\[\]]+\s*[-+*/]?=\s*\S|"
    r"^\s{4,}\S")
_FILE_LIST_LINE = re.compile(r"^\s*(?:[AMDR] \S.*\(\+\d+|\d+ files? changed)")


class CommitWriter:
    """Writes messages with one engine (the caller picks the adapter beforehand)."""

    def __init__(self, engine: Engine, max_prompt_tokens: int = 1536,
                 max_new_tokens: int = 96) -> None:
        self.engine = engine
        self.max_prompt_tokens = max_prompt_tokens
        self.max_new_tokens = max_new_tokens
        self._banned: tuple[list[int], list[int]] | None = None
        self._prompts: dict[tuple[object, ...], tuple[float, str, Changes]] = {}

    def ban(self, text: str) -> list[int]:
        """Token ids that may not start the next line (see `_LINE_BANNED`)."""
        if text and not text.endswith("\n"):
            return []
        if self._banned is None:
            pieces = dict(self.engine.pieces())
            words = [i for i, t in pieces.items() if _SUBJECT_START.match(t)]
            if not words:  # a character-level vocabulary: any letter may start
                words = [i for i, t in pieces.items() if t[:1].isascii() and t[:1].isalpha()]
            allowed = set(words)  # not an end marker either: an empty message is no message
            self._banned = ([i for i in pieces if i not in allowed],
                            [i for i, t in pieces.items() if t.startswith(_LINE_BANNED)
                             and i not in self.engine.end_ids])
        return self._banned[0] if not text.strip() else self._banned[1]

    def _tokens(self, text: str) -> int:
        return len(self.engine.encode(text))

    def prompt(self, root: Path, use_examples: bool, fresh: bool = False
               ) -> tuple[str, Changes]:
        """The prompt for `root`'s changes; reused for a few seconds while the index and
        HEAD stay the same (completion in a commit buffer asks on every keystroke)."""
        key = (root, use_examples, self.max_prompt_tokens, _mtime(root / ".git" / "index"),
               _mtime(root / ".git" / "HEAD"))
        hit = self._prompts.get(key)
        if not fresh and hit is not None and time.monotonic() - hit[0] < PROMPT_TTL_S:
            return hit[1], hit[2]
        text, changes = self._build_prompt(root, use_examples)
        self._prompts = {key: (time.monotonic(), text, changes)}
        return text, changes

    def _build_prompt(self, root: Path, use_examples: bool) -> tuple[str, Changes]:
        examples = recent_examples(root) if use_examples else []
        shots = sum(self._tokens(f + m) + 12 for f, m in examples)
        while examples and shots > self.max_prompt_tokens // 4:
            examples.pop()  # keep the newest within a quarter of the budget
            shots = sum(self._tokens(f + m) + 12 for f, m in examples)
        overhead = self._tokens(build_prompt(root.name, PackedDiff("", []), [])) + shots
        changes = read_changes(root, self.max_prompt_tokens - overhead, self._tokens)
        return build_prompt(root.name, changes.packed, examples), changes

    def _message(self, text: str, cancel: threading.Event | None, deadline: float | None
                 ) -> tuple[str, Generation]:
        """Generate and clean; a subject copied from an example is tried once more with
        that first token banned (a small model copies the nearest example)."""
        ids = self.engine.encode(text)
        extra: list[int] = []

        def ban(done: str) -> list[int]:
            banned = self.ban(done)
            return banned + extra if not done else banned

        generation = self.engine.generate(ids, max_new_tokens=self.max_new_tokens,
                                          stop=stop_rule, cancel=cancel, deadline=deadline,
                                          ban=ban)
        message = clean_message(generation.text, text)
        if not message and generation.token_ids and generation.finish not in (
                "cancelled", "timeout"):
            extra.append(generation.token_ids[0])
            generation = self.engine.generate(ids, max_new_tokens=self.max_new_tokens,
                                              stop=stop_rule, cancel=cancel,
                                              deadline=deadline, ban=ban)
            message = clean_message(generation.text, text)
        return message, generation

    def write(self, root: Path, *, adapter: str | None = None,
              cancel: threading.Event | None = None, deadline: float | None = None
              ) -> CommitMessage:
        text, changes = self.prompt(root, use_examples=adapter is None, fresh=True)
        message, generation = self._message(text, cancel, deadline)
        if generation.finish == "cancelled":
            raise CommitMessageError("cancelled")
        source = "model"
        if not message:
            message, source = fallback_message(changes.packed), "fallback"
        return CommitMessage(message=message, diff=changes.diff, notice=changes.notice,
                             files=len(changes.packed.files), source=source, adapter=adapter,
                             timing=generation.timing, raw=generation.text)

    def continue_message(self, root: Path, typed: str, *, adapter: str | None = None,
                         cancel: threading.Event | None = None,
                         deadline: float | None = None, max_new_tokens: int = 48) -> str:
        """What to add after `typed` (the message so far) in a commit-message editor: the
        rest of the line, or the whole message (as `write` gives it) when nothing is typed
        yet."""
        if not typed.strip():
            try:
                result = self.write(root, adapter=adapter, cancel=cancel, deadline=deadline)
            except CommitMessageError:
                return ""
            return result.message
        text, _ = self.prompt(root, use_examples=adapter is None)
        generation = self.engine.generate(
            self.engine.encode(text + typed), max_new_tokens=max_new_tokens,
            stop=lambda t: t.find("\n") if "\n" in t else None, cancel=cancel,
            deadline=deadline)
        if generation.finish in ("cancelled", "timeout"):
            return ""
        return generation.text.rstrip()
