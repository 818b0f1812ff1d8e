"""A repository turned into training data for its LoRA adapter, and held-out data to judge it.

Prompts use the layout SmolLM2 was pre-trained on and the completion engine uses at
inference (`<repo_name>repo<file_sep>path\\ncode`), so the adapter learns the repository
rather than a new format. Fill-in-the-middle reuses special tokens that code never holds
(SmolLM2's Jupyter markers) as sentinels: they already have embeddings, so LoRA can teach
their meaning without trained embeddings and the adapter stays plain LoRA.

Everything is deterministic for a given repository state and seed (random choices are
seeded per file from a CRC of its path, never from `hash()`), so two builds can be compared
and the held-out set does not move between training runs.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.dataset_files import (
    SPECIAL_MARKERS,
    error_text,
    git,
    scan_files,
    split_chunks,
)
from adapters.dataset_history import Commit, fix_pairs, read_history
from adapters.diff_pack import pack_diff
from adapters.repo_context import find_repo_root

FIM_PREFIX = "<jupyter_text>"
FIM_SUFFIX = "<jupyter_code>"
FIM_MIDDLE = "<jupyter_output>"
END = "<|endoftext|>"
KINDS = ("completion", "fim", "commit", "fix")

NEXTLINE_PER_FILE = 20
NEXTLINE_TOTAL = 200
_PROBE_PREFIX_CHARS = 1200  # fits the evaluation's 512-token context with a suffix
_FIM_MAX_LINES = 10


@dataclass(frozen=True)
class Example:
    kind: str  # "completion" | "fim" | "commit" | "fix"
    prompt: str  # context the loss is not taken on
    target: str  # text the loss is taken on (ends with END for fim/commit/fix)
    source: str  # repository-relative path or commit sha


@dataclass
class TrainingData:
    train: list[Example]
    heldout: list[Example]
    nextline: list[tuple[str, str]]  # held-out (prompt, expected next line)
    summary: dict[str, Any]
    # Held-out (prefix-only prompt, fill-in-the-middle prompt, expected line) at the same
    # cursors, the prefix trimmed alike: what the text after the cursor adds.
    fim_probes: list[tuple[str, str, str]] = field(default_factory=list)


def completion_prompt(repo_name: str, path: str, prefix: str) -> str:
    return f"<repo_name>{repo_name}<file_sep>{path}\n{prefix}"


def fim_prompt(repo_name: str, path: str, prefix: str, suffix: str) -> str:
    """Suffix-prefix-middle order: the model reads both sides, then writes the middle.

    The suffix goes first because it does not change while the user types at the cursor:
    each keystroke then only appends to the prompt, and the engine's KV cache is reused
    (prefix-first order would recompute the whole suffix on every keystroke)."""
    return (f"<repo_name>{repo_name}<file_sep>{path}\n"
            f"{FIM_SUFFIX}{suffix}{FIM_PREFIX}{prefix}{FIM_MIDDLE}")


def commit_prompt(repo_name: str, diff: str) -> str:
    """The diff as one file of the repository and the message as the next, the layout the
    model already knows; the message starts where the prompt ends."""
    return (f"<repo_name>{repo_name}<file_sep>changes.diff\n{diff.rstrip()}\n"
            "<file_sep>COMMIT_EDITMSG\n")


def fix_prompt(repo_name: str, path: str, before: str) -> str:
    """The broken code as the file, then the same file again, fixed, from where it ends."""
    body = before if before.endswith("\n") or not before else before + "\n"
    return f"<repo_name>{repo_name}<file_sep>{path}\n{body}<file_sep>{path} (fixed)\n"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def repo_identity(root: Path) -> str:
    """The root commits survive moves, second clones and forks; outside git (or before the
    first commit) the absolute path is all there is."""
    try:
        out = git(root, "rev-list", "--max-parents=0", "HEAD", timeout=30)
        roots = sorted(out.decode().split())
    except (OSError, subprocess.SubprocessError):
        roots = []
    if roots:
        return _short_hash("\n".join(roots))
    return _short_hash(str(root.resolve()))


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(seed * 0x1_0000_0000 + zlib.crc32(key.encode("utf-8")))


def _fim_example(repo: str, path: str, chunk: str, rng: random.Random) -> Example:
    """A middle of whole lines, or part of one line (the cursor inside a line)."""
    lines = chunk.splitlines(keepends=True)
    starts = [sum(len(x) for x in lines[:i]) for i in range(len(lines) + 1)]
    partial = [i for i, line in enumerate(lines) if len(line.rstrip("\n")) >= 2]
    if partial and rng.random() < 0.5:
        i = rng.choice(partial)
        width = len(lines[i].rstrip("\n"))
        a = rng.randrange(0, width - 1)
        begin, end = starts[i] + a, starts[i] + rng.randrange(a + 1, width + 1)
    else:
        first = rng.randrange(len(lines))
        count = rng.randint(1, min(_FIM_MAX_LINES, len(lines) - first))
        begin, end = starts[first], starts[first + count]
    prefix, middle, suffix = chunk[:begin], chunk[begin:end], chunk[end:]
    return Example("fim", fim_prompt(repo, path, prefix, suffix), middle + END, path)


def _file_examples(repo: str, path: str, text: str, *, seed: int, max_chars: int,
                   fim_rate: float, dropped: Counter[str]) -> list[Example]:
    rng = _rng(seed, path)
    examples: list[Example] = []
    for chunk in split_chunks(text, max_chars):
        use_fim = rng.random() < fim_rate
        if SPECIAL_MARKERS.search(chunk):
            dropped["special_tokens"] += 1  # it would be read as a marker, not as code
            continue
        if use_fim:
            examples.append(_fim_example(repo, path, chunk, rng))
        else:
            examples.append(Example("completion", completion_prompt(repo, path, ""), chunk,
                                    path))
    return examples


def _probe_cursors(text: str, key: str, keep: Callable[[list[str], int], bool]
                   ) -> list[tuple[list[str], int, str]]:
    """Deterministically chosen line starts: (the file's lines, the line's index, the text
    before it, cut at a line start to `_PROBE_PREFIX_CHARS`)."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    candidates = [i for i in range(1, len(lines)) if lines[i].strip() and keep(lines, i)]
    chosen = sorted(_rng(0, key).sample(candidates, min(NEXTLINE_PER_FILE, len(candidates))))
    cursors = []
    for i in chosen:
        prefix = text[:starts[i]]
        if len(prefix) > _PROBE_PREFIX_CHARS:
            cut = prefix.find("\n", len(prefix) - _PROBE_PREFIX_CHARS)
            prefix = prefix[cut + 1:] if cut >= 0 else prefix[-_PROBE_PREFIX_CHARS:]
        cursors.append((lines, i, prefix))
    return cursors


def _nextline_pairs(repo: str, path: str, text: str) -> list[tuple[str, str]]:
    """Exact-match probes at line starts: prefix up to the line, the line itself."""
    return [(completion_prompt(repo, path, prefix), lines[i].rstrip())
            for lines, i, prefix in _probe_cursors(
                text, "nextline:" + path, lambda ls, i: not SPECIAL_MARKERS.search(ls[i]))
            if not SPECIAL_MARKERS.search(prefix)]


FIM_PROBE_SUFFIX_LINES = 8


def _fim_probes(repo: str, path: str, text: str) -> list[tuple[str, str, str]]:
    """Cursors at line starts with code after them: the line is the middle to write."""
    def has_code_after(lines: list[str], i: int) -> bool:
        return any(x.strip() for x in lines[i + 1:i + 1 + FIM_PROBE_SUFFIX_LINES])

    probes = []
    for lines, i, prefix in _probe_cursors(text, "fim:" + path, has_code_after):
        suffix = "".join(lines[i + 1:i + 1 + FIM_PROBE_SUFFIX_LINES])
        if SPECIAL_MARKERS.search(prefix + suffix + lines[i]):
            continue
        probes.append((completion_prompt(repo, path, prefix),
                       fim_prompt(repo, path, prefix, suffix), lines[i].rstrip()))
    return probes


def heldout_paths(paths: list[str], fraction: float) -> set[str]:
    """The files with the smallest CRC of their path: stable across runs and seeds, so
    adapters trained at different times are judged on the same files."""
    count = round(len(paths) * fraction)
    if len(paths) >= 3:
        count = max(count, 1)
    ranked = sorted(paths, key=lambda p: (zlib.crc32(p.encode("utf-8")), p))
    return set(ranked[:count])


def _git_state(root: Path) -> tuple[bool, bool, str | None, str]:
    """(inside git, has commits, note, path prefix of root inside the repository)."""
    try:
        git(root, "rev-parse", "--is-inside-work-tree", timeout=30)
    except FileNotFoundError:
        return False, False, "git is not installed: no history", ""
    except (OSError, subprocess.SubprocessError) as exc:
        if find_repo_root(root.resolve()) is None:
            return False, False, "not a git repository: no history", ""
        return False, False, f"git failed ({error_text(exc)}): no history", ""
    try:
        prefix = git(root, "rev-parse", "--show-prefix", timeout=30).decode().strip()
    except (OSError, subprocess.SubprocessError):
        prefix = ""
    try:
        git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", timeout=30)
    except (OSError, subprocess.SubprocessError):
        return True, False, "the repository has no commits yet: no history", prefix
    return True, True, None, prefix


def _history_examples(root: Path, repo: str, commits: list[Commit], skipped: set[str], *,
                      max_diff_chars: int, max_file_chars: int, heldout_fraction: float,
                      summary: dict[str, Any]) -> tuple[list[Example], list[Example]]:
    """Commit and fix examples, split so the newest commits are held out."""
    held = int(len(commits) * heldout_fraction)
    if len(commits) >= 5:
        held = max(held, 1)
    train: list[Example] = []
    heldout: list[Example] = []
    dropped: Counter[str] = Counter()
    commit_pairs = fixes = 0
    for index, commit in enumerate(commits):  # newest first
        bucket = heldout if index < held else train
        packed = pack_diff(commit.sections, max_diff_chars, len, skipped)
        dropped.update(packed.skipped)
        diff = packed.text if packed.files else ""
        message = commit.message.strip()
        if diff and message and not SPECIAL_MARKERS.search(message):
            bucket.append(Example("commit", commit_prompt(repo, diff), message + END,
                                  commit.sha))
            commit_pairs += 1
        for path, before, after in fix_pairs(root, commit, skipped, max_file_chars):
            bucket.append(Example("fix", fix_prompt(repo, path, before), after + END,
                                  commit.sha))
            fixes += 1
    summary.update(commits_seen=len(commits), commits_heldout=held,
                   commit_pairs=commit_pairs, fix_pairs=fixes,
                   diff_sections_skipped=dict(sorted(dropped.items())))
    return train, heldout


def build_training_data(root: Path, *, repo_name: str | None = None, seed: int = 0,
                        max_file_chars: int = 6000, heldout_files_fraction: float = 0.1,
                        heldout_commits_fraction: float = 0.1, max_commits: int = 2000,
                        max_diff_chars: int = 4000, fim_rate: float = 0.5) -> TrainingData:
    """Examples from the repository's source files and history (see the module docstring);
    never raises for a folder without git or a broken repository, the summary says why."""
    root = Path(root)
    repo = repo_name or root.resolve().name
    in_git, has_commits, note, prefix = _git_state(root)
    scan = scan_files(root, in_git)
    if scan.error and note is None:
        note = f"git failed ({scan.error}): files found by walking the folder"
    summary: dict[str, Any] = {
        "repo_name": repo, "repo_id": repo_identity(root), "seed": seed,
        "history": False, "note": note, "commits_seen": 0, "commits_heldout": 0,
        "commit_pairs": 0, "fix_pairs": 0, "diff_sections_skipped": {},
    }

    held_files = heldout_paths([p for p, _ in scan.files], heldout_files_fraction)
    train: list[Example] = []
    heldout: list[Example] = []
    nextline: list[tuple[str, str]] = []
    fim_probes: list[tuple[str, str, str]] = []
    dropped: Counter[str] = Counter()
    for path, text in scan.files:
        # Held-out examples ignore the seed, so runs with different seeds are judged alike.
        is_held = path in held_files
        examples = _file_examples(repo, path, text, seed=0 if is_held else seed,
                                  max_chars=max_file_chars, fim_rate=fim_rate, dropped=dropped)
        if is_held:
            heldout.extend(examples)
            room = NEXTLINE_TOTAL - len(nextline)
            if room > 0:
                nextline.extend(_nextline_pairs(repo, path, text)[:room])
            room = NEXTLINE_TOTAL - len(fim_probes)
            if room > 0:
                fim_probes.extend(_fim_probes(repo, path, text)[:room])
        else:
            train.extend(examples)

    if has_commits:
        skipped = {prefix + p for p in scan.skipped_paths}
        try:
            commits, complete = read_history(root, max_commits, max_diff_chars + 1)
            history_train, history_heldout = _history_examples(
                root, repo, commits, skipped, max_diff_chars=max_diff_chars,
                max_file_chars=max_file_chars, heldout_fraction=heldout_commits_fraction,
                summary=summary)
            train += history_train
            heldout += history_heldout
            summary["history"] = True
            if not complete:
                summary["note"] = "history read only in part (took too long)"
        except (OSError, subprocess.SubprocessError) as exc:
            summary["note"] = f"git log failed ({error_text(exc)}): no history"

    summary.update(
        files_used=len(scan.files), files_heldout=len(held_files),
        skipped=dict(sorted(scan.skipped.items())),
        chunks_skipped=dict(sorted(dropped.items())),
        examples={"train": _count(train), "heldout": _count(heldout)},
        nextline=len(nextline),
    )
    return TrainingData(train=train, heldout=heldout, nextline=nextline, summary=summary,
                        fim_probes=fim_probes)


def _count(examples: list[Example]) -> dict[str, int]:
    counts = Counter(e.kind for e in examples)
    return {kind: counts[kind] for kind in KINDS}
