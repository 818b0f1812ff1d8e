"""The ranking cache on real git repositories: used while nothing moved, refreshed on drift."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from selector.ranking.cache import RankingCache, Snapshot, cached_ranking, drift, snapshot


def run_git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
                        "HOME": str(root), "PATH": "/usr/bin:/bin"})


def commit_file(root: Path, name: str, text: str, message: str = "change") -> None:
    (root / name).write_text(text)
    run_git(root, "add", name)
    run_git(root, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    run_git(root, "init", "-q")
    commit_file(root, "a.py", "".join(f"x{i} = {i}\n" for i in range(100)), "first")
    return root


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> list[dict[str, object]]:
        self.calls += 1
        return [{"model": "m", "predicted_score": 0.5, "run": self.calls}]


def test_snapshot_counts_tracked_lines(repo: Path) -> None:
    snap = snapshot(repo)
    assert snap.commit is not None and snap.tracked_lines == 100


def test_cache_is_used_on_the_second_run(repo: Path, tmp_path: Path) -> None:
    cache = RankingCache(tmp_path / "cache")
    compute = Counter()
    first = cached_ranking(repo, "rid", ["b", "a"], compute, cache=cache)
    second = cached_ranking(repo, "rid", ["a", "b"], compute, cache=cache)
    assert (first.refreshed, second.refreshed) == (True, False)
    assert compute.calls == 1
    assert second.ranking == first.ranking and second.reason == "cached"
    # A small change (5% of lines, one commit) is not drift.
    commit_file(repo, "b.py", "".join(f"y{i} = 1\n" for i in range(5)))
    assert not cached_ranking(repo, "rid", ["a", "b"], compute, cache=cache).refreshed
    # Another candidate set is another entry.
    assert cached_ranking(repo, "rid", ["a", "c"], compute, cache=cache).refreshed
    assert compute.calls == 2


def test_changed_lines_trigger_a_refresh(repo: Path, tmp_path: Path) -> None:
    cache = RankingCache(tmp_path / "cache")
    compute = Counter()
    cached_ranking(repo, "rid", ["a"], compute, cache=cache)
    # Uncommitted edits count too: 6 lines rewritten = 12 changed of 100 tracked.
    lines = (repo / "a.py").read_text().splitlines(keepends=True)
    lines[:6] = [f"z{i} = 0\n" for i in range(6)]
    (repo / "a.py").write_text("".join(lines))
    moved = drift(repo, snapshot_of(cache, "rid", ["a"]))
    assert moved.changed_lines == 12 and moved.reason is not None
    out = cached_ranking(repo, "rid", ["a"], compute, cache=cache)
    assert out.refreshed and "lines changed" in out.reason and compute.calls == 2
    assert out.ranking[0]["run"] == 2


def test_new_commits_trigger_a_refresh(repo: Path, tmp_path: Path) -> None:
    cache = RankingCache(tmp_path / "cache")
    compute = Counter()
    cached_ranking(repo, "rid", ["a"], compute, cache=cache)
    for i in range(19):  # tiny commits: far below the line threshold
        run_git(repo, "commit", "-q", "--allow-empty", "-m", f"c{i}")
    assert not cached_ranking(repo, "rid", ["a"], compute, cache=cache).refreshed
    run_git(repo, "commit", "-q", "--allow-empty", "-m", "c19")
    out = cached_ranking(repo, "rid", ["a"], compute, cache=cache)
    assert out.refreshed and out.reason == "20 new commits" and compute.calls == 2
    # Refreshed at the new HEAD: no drift any more.
    assert not cached_ranking(repo, "rid", ["a"], compute, cache=cache).refreshed


def test_rewritten_history_and_corrupt_entries_refresh(repo: Path, tmp_path: Path) -> None:
    cache = RankingCache(tmp_path / "cache")
    compute = Counter()
    cached_ranking(repo, "rid", ["a"], compute, cache=cache)
    run_git(repo, "commit", "-q", "--amend", "-m", "rewritten")
    run_git(repo, "reflog", "expire", "--expire=now", "--all")
    run_git(repo, "gc", "-q", "--prune=now")
    out = cached_ranking(repo, "rid", ["a"], compute, cache=cache)
    assert out.refreshed and "gone" in out.reason
    cache.path("rid", ["a"]).write_text("{not json")
    out = cached_ranking(repo, "rid", ["a"], compute, cache=cache)
    assert out.refreshed and out.reason == "no cached ranking" and compute.calls == 3


def test_outside_git_the_ranking_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.py").write_text("x = 1\n")
    cache = RankingCache(tmp_path / "cache")
    compute = Counter()
    cached_ranking(folder, "pid", ["a"], compute, cache=cache)
    assert not cached_ranking(folder, "pid", ["a"], compute, cache=cache).refreshed
    assert cached_ranking(folder, "pid", ["a"], compute, cache=cache, force=True).refreshed


def snapshot_of(cache: RankingCache, repo_id: str, candidates: list[str]) -> Snapshot:
    entry = cache.load(repo_id, candidates)
    assert entry is not None
    return Snapshot(**entry["snapshot"])
