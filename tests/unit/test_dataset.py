"""The training-data builder on small real git repositories made here.

What matters most: nothing from a skipped file (secrets above all) reaches any example, and
every skip is counted; the pairs drawn from history match the right commit; the held-out
split is deterministic and holds the newest history; a folder without (working) git still
gives file examples.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import write_files

from adapters.dataset import (
    END,
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
    TrainingData,
    build_training_data,
    commit_prompt,
    completion_prompt,
    fim_prompt,
    fix_prompt,
    heldout_paths,
    repo_identity,
)
from adapters.dataset_files import split_chunks

MARKERS = {
    "ignored_local.py": "IGNORED_MARKER",
    ".env": "ghp_ENVSECRETMARKERabcdefghijklmnopq",
    "deploy.pem": "PEMSECRETMARKER",
    "config.py": "CONFIGKEYMARKER",
    "logo.png": "BINARYMARKER",
    "big.py": "HUGEMARKER",
    "static/app.min.js": "MINIFIEDMARKER",
    "vendor/lib.py": "VENDORMARKER",
}

TOTAL_V1 = '''def total(n):
    """Sum of 0..n."""
    s = 0
    for i in range(n - 1):
        s += i
    return s


def mean(values):
    return sum(values) / len(values)
'''


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.email=a@b", "-c", "user.name=t",
                           "-c", "init.defaultBranch=main", *args],
                          check=True, capture_output=True, text=True).stdout


write = write_files


def commit(root: Path, message: str, files: dict[str, str | bytes]) -> str:
    write(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def planted_files() -> dict[str, str | bytes]:
    return {
        ".gitignore": "ignored_local.py\n",
        ".env": f"GITHUB_TOKEN={MARKERS['.env']}\n",
        "deploy.pem": ("-----BEGIN RSA PRIVATE KEY-----\nPEMSECRETMARKERMIIEow\n"
                       "-----END RSA PRIVATE KEY-----\n"),
        "config.py": ('DEBUG = True\nKEY = """-----BEGIN PRIVATE KEY-----\n'
                      'CONFIGKEYMARKERMIIEvQ\n-----END PRIVATE KEY-----"""\n'),
        "logo.png": b"\x89PNG\r\n\x1a\n\0\0BINARYMARKER\0",
        "big.py": "HUGEMARKER = 1\n" * 70_000,
        "static/app.min.js": "var MINIFIEDMARKER=1;" + "a=1;" * 400 + "\n",
        "vendor/lib.py": "VENDORMARKER = 1\n",
    }


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Six commits; the planted files arrive in the first one."""
    root = tmp_path_factory.mktemp("repo") / "proj"
    root.mkdir()
    git(root, "init", "-q")
    shas = {}
    shas["init"] = commit(root, "Initial import", {
        **planted_files(),
        "README.md": "# Project\n\nA small project.\n",
        "src/app.py": "from src.util import greet\n\n\ndef main():\n    print(greet('x'))\n",
        "src/util.py": "def shout(text):\n    return text.upper()\n",
        "src/math_utils.py": TOTAL_V1,
        "web/index.js": "export function add(a, b) {\n  return a + b;\n}\n",
    })
    shas["greet"] = commit(root, "Add greeting helper\n\nUsed by main.", {
        "src/util.py": ("def shout(text):\n    return text.upper()\n\n\n"
                        "def greet(name):\n    return 'hello ' + name  # GREETLINE\n"),
    })
    shas["fix"] = commit(root, "Fix off-by-one in total", {
        "src/math_utils.py": TOTAL_V1.replace("range(n - 1)", "range(n)"),
    })
    shas["docs"] = commit(root, "Document usage", {
        "README.md": "# Project\n\nA small project.\n\nRun `python -m src.app`.\n",
    })
    shas["sub"] = commit(root, "Add subtract", {
        "web/index.js": ("export function add(a, b) {\n  return a + b;\n}\n\n"
                         "export function sub(a, b) {\n  return a - b;\n}\n"),
    })
    shas["newest"] = commit(root, "Add farewell helper", {
        "src/util.py": ("def shout(text):\n    return text.upper()\n\n\n"
                        "def greet(name):\n    return 'hello ' + name  # GREETLINE\n\n\n"
                        "def bye(name):\n    return 'bye ' + name\n"),
    })
    write(root, {"ignored_local.py": "IGNORED_MARKER = 1\n"})
    return root, shas


@pytest.fixture(scope="module")
def data(repo: tuple[Path, dict[str, str]]) -> TrainingData:
    return build_training_data(repo[0], repo_name="proj", heldout_commits_fraction=0.34)


def all_text(data: TrainingData) -> list[str]:
    texts = [t for e in data.train + data.heldout for t in (e.prompt, e.target)]
    return texts + [t for pair in data.nextline for t in pair]


def test_nothing_from_a_skipped_file_reaches_any_example(data: TrainingData) -> None:
    texts = all_text(data)
    for rel, marker in MARKERS.items():
        assert not any(marker in t for t in texts), rel
    for leak in ("PRIVATE KEY", "ghp_"):
        assert not any(leak in t for t in texts)
    sources = {e.source for e in data.train + data.heldout}
    assert not sources & set(MARKERS)


def test_every_skip_is_counted(data: TrainingData) -> None:
    skipped = data.summary["skipped"]
    assert skipped["secret"] == 3  # .env, deploy.pem, config.py (by content)
    assert skipped["binary"] == 1
    assert skipped["huge"] == 1
    assert skipped["minified"] == 1
    assert skipped["vendored"] == 1
    assert skipped["ignored"] == 1
    # The planted files came in the first commit: its diff lost their sections.
    assert sum(data.summary["diff_sections_skipped"].values()) >= 6
    assert data.summary["files_used"] == 5  # README, three .py, one .js (+ .gitignore: no)
    json.dumps(data.summary)


def test_commit_pairs_hold_the_right_message_for_the_right_diff(
        repo: tuple[Path, dict[str, str]], data: TrainingData) -> None:
    _, shas = repo
    commits = {e.source: e for e in data.train + data.heldout if e.kind == "commit"}
    assert set(commits) == set(shas.values())
    greet = commits[shas["greet"]]
    assert greet.target == "Add greeting helper\n\nUsed by main." + END
    assert "+def greet(name):" in greet.prompt
    assert greet.prompt.startswith(commit_prompt("proj", "")[:25])
    assert greet.prompt.endswith("<file_sep>COMMIT_EDITMSG\n")
    assert "bye" not in greet.prompt and "index " not in greet.prompt
    docs = commits[shas["docs"]]
    assert docs.target == "Document usage" + END and "+Run `python -m src.app`." in docs.prompt
    assert data.summary["commit_pairs"] == 6 and data.summary["commits_seen"] == 6


def test_fix_commit_gives_a_before_after_pair(repo: tuple[Path, dict[str, str]],
                                              data: TrainingData) -> None:
    _, shas = repo
    fixes = [e for e in data.train + data.heldout if e.kind == "fix"]
    assert [e.source for e in fixes] == [shas["fix"]]
    (fix,) = fixes
    assert fix.prompt.startswith("<repo_name>proj<file_sep>src/math_utils.py\n")
    assert "for i in range(n - 1):" in fix.prompt and "def total(n):" in fix.prompt
    assert "def mean" not in fix.prompt  # the enclosing function, not the whole file
    assert fix.target.endswith(END)
    assert "for i in range(n):" in fix.target and "range(n - 1)" not in fix.target
    assert fix.prompt == fix_prompt("proj", "src/math_utils.py",
                                    fix.prompt.split("\n", 1)[1].rsplit("<file_sep>", 1)[0])
    assert data.summary["fix_pairs"] == 1


def test_newest_commits_are_held_out(repo: tuple[Path, dict[str, str]],
                                     data: TrainingData) -> None:
    _, shas = repo
    held = {e.source for e in data.heldout if e.kind in ("commit", "fix")}
    assert held == {shas["newest"], shas["sub"]}
    assert data.summary["commits_heldout"] == 2
    # A tenth of six commits still holds one out.
    default = build_training_data(repo[0], repo_name="proj")
    assert {e.source for e in default.heldout if e.kind == "commit"} == {shas["newest"]}


def test_heldout_files_and_nextline_pairs(repo: tuple[Path, dict[str, str]],
                                          data: TrainingData) -> None:
    root, _ = repo
    used = ["README.md", "src/app.py", "src/math_utils.py", "src/util.py", "web/index.js"]
    held = heldout_paths(used, 0.1)
    assert len(held) == 1 and held == heldout_paths(list(reversed(used)), 0.1)
    file_kinds = ("completion", "fim")
    assert {e.source for e in data.heldout if e.kind in file_kinds} == held
    assert not {e.source for e in data.train if e.kind in file_kinds} & held
    assert data.summary["files_heldout"] == 1 and data.nextline
    (path,) = held
    text = (root / path).read_text()
    for prompt, expected in data.nextline:
        head = completion_prompt("proj", path, "")
        assert prompt.startswith(head)
        prefix = prompt[len(head):]
        assert text.startswith(prefix + expected) and expected.strip()


def test_same_seed_same_data_and_seed_matters(repo: tuple[Path, dict[str, str]],
                                              data: TrainingData) -> None:
    again = build_training_data(repo[0], repo_name="proj", heldout_commits_fraction=0.34)
    assert again == data
    other = build_training_data(repo[0], repo_name="proj", heldout_commits_fraction=0.34,
                                seed=7, fim_rate=0.5, max_file_chars=40)
    assert other != data


def test_fim_examples_reassemble_the_chunk(repo: tuple[Path, dict[str, str]]) -> None:
    root, _ = repo
    data = build_training_data(root, repo_name="proj", fim_rate=1.0)
    fims = [e for e in data.train + data.heldout if e.kind == "fim"]
    assert fims and not [e for e in data.train + data.heldout if e.kind == "completion"]
    for e in fims:
        # Suffix, prefix, middle: typing at the cursor only appends to such a prompt.
        s, p, m = (e.prompt.index(x) for x in (FIM_SUFFIX, FIM_PREFIX, FIM_MIDDLE))
        assert s < p < m and e.prompt.endswith(FIM_MIDDLE)
        assert e.prompt.count(FIM_PREFIX) == e.prompt.count(FIM_SUFFIX) == 1
        suffix = e.prompt[s + len(FIM_SUFFIX):p]
        prefix = e.prompt[p + len(FIM_PREFIX):m]
        assert e.target.endswith(END)
        middle = e.target[:-len(END)]
        assert middle
        assert prefix + middle + suffix == (root / e.source).read_text()
        assert e.prompt == fim_prompt("proj", e.source, prefix, suffix)
    completions = build_training_data(root, repo_name="proj", fim_rate=0.0).train
    texts = [e for e in completions if e.kind == "completion"]
    assert texts and all(e.prompt == completion_prompt("proj", e.source, "") for e in texts)


def test_chunks_cut_at_line_ends() -> None:
    text = "".join(f"line {i} of the file\n" for i in range(50))
    chunks = split_chunks(text, 100)
    assert "".join(chunks) == text
    assert all(len(c) <= 100 and c.endswith("\n") for c in chunks)
    assert split_chunks("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]


def test_folder_outside_git_trains_on_files(tmp_path: Path) -> None:
    write(tmp_path, {
        "main.py": "def main():\n    return 1\n",
        "lib/helpers.py": "def helper():\n    return 2\n",
        "node_modules/dep/index.js": "module.exports = 'NODEMARKER';\n",
        ".cache/x.py": "HIDDENMARKER = 1\n",
        "build/out.js": "BUILDMARKER\n",
        ".env": "SECRET=1\n",
    })
    data = build_training_data(tmp_path, repo_name="plain")
    assert data.summary["history"] is False
    assert "not a git repository" in data.summary["note"]
    assert {e.source for e in data.train + data.heldout} == {"main.py", "lib/helpers.py"}
    skipped = data.summary["skipped"]
    assert skipped["vendored"] == 1 and skipped["secret"] == 1 and skipped["ignored"] == 1
    assert skipped["generated"] == 1
    assert not any(m in t for t in all_text(data)
                   for m in ("NODEMARKER", "HIDDENMARKER", "BUILDMARKER"))


def test_broken_git_repository_does_not_crash(tmp_path: Path) -> None:
    write(tmp_path, {".git": "gitdir: /nonexistent/gitdir\n", "a.py": "x = 1\n"})
    data = build_training_data(tmp_path)
    assert data.summary["history"] is False
    assert "git failed" in data.summary["note"]
    assert [e.source for e in data.train] == ["a.py"]


def test_repository_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    write(tmp_path, {"a.py": "x = 1\n"})
    data = build_training_data(tmp_path)
    assert data.summary["history"] is False and "no commits" in data.summary["note"]
    assert [e.source for e in data.train] == ["a.py"]


def test_repo_identity_follows_the_root_commit(repo: tuple[Path, dict[str, str]],
                                               tmp_path: Path) -> None:
    root, _ = repo
    clone = tmp_path / "elsewhere" / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True,
                   capture_output=True)
    assert repo_identity(clone) == repo_identity(root)
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    commit(other, "start", {"a.py": "x = 1\n"})
    assert repo_identity(other) != repo_identity(root)
    plain_a, plain_b = tmp_path / "a", tmp_path / "b"
    plain_a.mkdir()
    plain_b.mkdir()
    ident = repo_identity(plain_a)
    assert len(ident) == 16 and int(ident, 16) >= 0
    assert ident == repo_identity(plain_a) != repo_identity(plain_b)


def test_heldout_examples_do_not_depend_on_the_seed(repo: tuple[Path, dict[str, str]],
                                                    data: TrainingData) -> None:
    other = build_training_data(repo[0], repo_name="proj", heldout_commits_fraction=0.34,
                                seed=3)
    assert other.heldout == data.heldout and other.nextline == data.nextline


def test_file_that_gitignore_now_names_is_left_out_with_its_history(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    commit(tmp_path, "Add local notes", {"notes.py": "NOTESMARKER = 1\n", "a.py": "x = 1\n"})
    commit(tmp_path, "Ignore local notes", {".gitignore": "notes.py\n"})
    data = build_training_data(tmp_path)
    assert data.summary["skipped"]["ignored"] == 1
    assert not any("NOTESMARKER" in t for t in all_text(data))
    assert any("+x = 1" in e.prompt for e in data.train + data.heldout if e.kind == "commit")


def test_fix_outside_a_function_keeps_a_window_of_lines(tmp_path: Path) -> None:
    from adapters.dataset_history import fix_regions

    before = "".join(f"line{i}\n" for i in range(40))
    after = before.replace("line20\n", "LINE20\n")
    ((old, new),) = fix_regions("notes.js", before, after)
    assert old.splitlines() == [f"line{i}" for i in range(10, 31)]
    assert new.splitlines()[10] == "LINE20"
    nested = "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n"
    ((old, new),) = fix_regions("a.py", nested, nested.replace("return 2", "return 3"))
    assert old == "    def g(self):\n        return 2\n" and "return 3" in new


def test_fim_probes_pair_the_same_cursor_with_and_without_the_suffix(
        repo: tuple[Path, dict[str, str]]) -> None:
    root, _ = repo
    data = build_training_data(root, repo_name="proj")
    assert data.fim_probes
    for plain, fim, line in data.fim_probes:
        assert line.strip()
        prefix = plain.split("\n", 1)[1]  # after the "<file_sep>path" header line
        assert fim.endswith(prefix + FIM_MIDDLE)  # the same cursor, the same prefix
        suffix = fim[fim.index(FIM_SUFFIX) + len(FIM_SUFFIX):fim.index(FIM_PREFIX)]
        assert suffix.strip()
