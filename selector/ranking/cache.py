"""Rankings kept per (repository, candidate set), refreshed when the repository drifts.

Ranking costs minutes (proxies on every candidate, a few fine-tunes), so it is done once
and kept until the repository has changed enough to matter: by default 10% of its tracked
lines changed, or 20 new commits, since the commit it was ranked at. Both are measured
with git (`diff --numstat` from that commit to the working tree, `rev-list --count`), so
the check costs milliseconds. A ranking made outside git, or whose commit has vanished
(rewritten history), cannot be checked: outside git it is kept until asked, and a
vanished commit counts as drift.

Entries are JSON files under the data directory's `cache/rankings/`, written atomically; a
corrupt entry is logged and treated as missing, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adapters.dataset_files import git
from adapters.paths import cache_dir

log = logging.getLogger(__name__)

LINE_FRACTION = 0.10
NEW_COMMITS = 20
FORMAT = 1


@dataclass(frozen=True)
class Snapshot:
    """Where the repository stood when a ranking was made."""

    commit: str | None  # HEAD, or None outside git / before the first commit
    tracked_lines: int  # lines in the files tracked at that commit


@dataclass(frozen=True)
class Drift:
    changed_lines: int
    fraction: float
    new_commits: int
    reason: str | None  # why a refresh is due, None if it is not


def _head(root: Path) -> str | None:
    try:
        return git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").decode().strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _numstat_lines(out: bytes) -> int:
    total = 0
    for line in out.decode(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0].isdigit() and parts[1].isdigit():  # binary: "-"
            total += int(parts[0]) + int(parts[1])
    return total


def snapshot(root: Path) -> Snapshot:
    """HEAD and its tracked lines (a diff from the empty tree counts them in one call)."""
    head = _head(root)
    if head is None:
        return Snapshot(None, 0)
    empty = git(root, "hash-object", "-t", "tree", os.devnull).decode().strip()
    lines = _numstat_lines(git(root, "diff", "--numstat", empty, head))
    return Snapshot(head, lines)


def drift(root: Path, since: Snapshot, *, line_fraction: float = LINE_FRACTION,
          new_commits: int = NEW_COMMITS) -> Drift:
    """How far the repository (working tree included) moved since `since`."""
    if since.commit is None:
        return Drift(0, 0.0, 0, None)
    try:
        git(root, "cat-file", "-e", f"{since.commit}^{{commit}}")
    except (OSError, subprocess.SubprocessError):
        return Drift(0, 0.0, 0, "the ranked commit is gone (history rewritten)")
    changed = _numstat_lines(git(root, "diff", "--numstat", since.commit))
    head = _head(root)
    commits = 0
    if head is not None:
        commits = int(git(root, "rev-list", "--count", f"{since.commit}..{head}").decode())
    fraction = changed / max(since.tracked_lines, 1)
    reason = None
    if fraction >= line_fraction:
        reason = f"{fraction:.0%} of tracked lines changed"
    elif commits >= new_commits:
        reason = f"{commits} new commits"
    return Drift(changed, fraction, commits, reason)


def candidate_key(candidates: Iterable[str]) -> str:
    """The candidate set, order-free, as a short hash."""
    text = "\n".join(sorted(set(candidates)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Outcome:
    ranking: Any
    refreshed: bool
    reason: str  # "cached", "no cached ranking", or the drift reason


class RankingCache:
    """JSON entries `<repo_id>-<candidate hash>.json` under `directory`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else cache_dir() / "rankings"

    def path(self, repo_id: str, candidates: Iterable[str]) -> Path:
        return self.directory / f"{repo_id}-{candidate_key(candidates)}.json"

    def load(self, repo_id: str, candidates: Iterable[str]) -> dict[str, Any] | None:
        path = self.path(repo_id, candidates)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text())
            if not isinstance(entry, dict) or entry.get("format") != FORMAT:
                raise ValueError("not a ranking entry of this format")
            Snapshot(**entry["snapshot"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable ranking cache entry %s: %s", path, exc)
            return None
        return entry

    def store(self, repo_id: str, candidates: Iterable[str], ranking: Any,
              snap: Snapshot) -> Path:
        candidates = sorted(set(candidates))
        path = self.path(repo_id, candidates)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"format": FORMAT, "repo_id": repo_id, "candidates": candidates,
                 "snapshot": asdict(snap), "created": time.time(), "ranking": ranking}
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(entry, handle, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def cached_ranking(root: Path, repo_id: str, candidates: list[str],
                   compute: Callable[[], Any], *, cache: RankingCache | None = None,
                   force: bool = False, line_fraction: float = LINE_FRACTION,
                   new_commits: int = NEW_COMMITS) -> Outcome:
    """The cached ranking if the repository has not drifted, else `compute()` stored anew.

    The snapshot is taken before computing, so changes made while ranking show up as
    drift next time rather than being silently absorbed. `ranking` must be JSON-able.
    """
    cache = cache or RankingCache()
    entry = None if force else cache.load(repo_id, candidates)
    reason = "forced" if force else "no cached ranking"
    if entry is not None:
        moved = drift(root, Snapshot(**entry["snapshot"]), line_fraction=line_fraction,
                      new_commits=new_commits)
        if moved.reason is None:
            return Outcome(entry["ranking"], refreshed=False, reason="cached")
        reason = moved.reason
    snap = snapshot(root)
    ranking = compute()
    cache.store(repo_id, candidates, ranking, snap)
    return Outcome(ranking, refreshed=True, reason=reason)
