"""Commit messages: which diff is described, how the prompt is laid out, and the rules the
message is held to whatever the model writes (tiny scripted models; real git repositories)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import CharTokenizer, script_output, tiny_llama, write_files

from adapters.commit_message import (
    SUBJECT_MAX,
    CommitMessageError,
    CommitWriter,
    clean_message,
    read_changes,
    repo_root_of,
)
from adapters.engine import Engine


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout


def commit_all(root: Path, message: str, files: dict[str, str]) -> None:
    write_files(root, files)
    git(root, "add", "-A")
    git(root, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m",
        message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q")
    commit_all(root, "Add the math helpers", {"calc.py": "def add(a, b):\n    return a + b\n"})
    commit_all(root, "Teach add about strings", {"calc.py": "def add(a, b):\n    return a + b\n"
                                                 "\n\ndef concat(a, b):\n    return a + b\n"})
    return root


def test_staged_changes_come_first_and_unstaged_ones_carry_a_notice(repo: Path) -> None:
    write_files(repo, {"calc.py": "def add(a, b):\n    return b + a\n", "new.py": "N = 1\n"})
    git(repo, "add", "new.py")
    staged = read_changes(repo, 10_000)
    assert staged.diff == "staged" and staged.notice is None
    assert "+N = 1" in staged.packed.text and "return b + a" not in staged.packed.text
    git(repo, "reset", "-q")
    git(repo, "checkout", "-q", "--", "calc.py")
    (repo / "calc.py").write_text("def add(a, b):\n    return b + a\n")
    unstaged = read_changes(repo, 10_000)
    assert unstaged.diff == "unstaged" and "git add" in (unstaged.notice or "")
    assert "+    return b + a" in unstaged.packed.text


def test_nothing_changed_or_no_repository_is_a_clear_error(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(CommitMessageError, match="no staged or unstaged changes"):
        read_changes(repo, 10_000)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(CommitMessageError, match="not a git repository"):
        read_changes(plain, 10_000)
    with pytest.raises(CommitMessageError, match="not inside a git repository"):
        repo_root_of(plain)


def test_the_repository_is_found_from_the_commit_message_file(repo: Path, tmp_path: Path
                                                               ) -> None:
    assert repo_root_of(repo / ".git" / "COMMIT_EDITMSG") == repo
    write_files(repo, {"pkg/mod.py": "x = 1\n"})
    assert repo_root_of(repo / "pkg" / "mod.py").resolve() == repo.resolve()
    tree = tmp_path / "tree"
    git(repo, "worktree", "add", "-q", str(tree))
    name = next((repo / ".git" / "worktrees").iterdir())
    assert repo_root_of(name / "COMMIT_EDITMSG").resolve() == tree.resolve()


def test_messages_follow_the_conventions() -> None:
    long = ("Make the parser accept trailing commas in every list and dictionary literal "
            "that users write")
    message = clean_message(long + ".\nIt also keeps comments. " * 1 + "x" * 10, "")
    subject, blank, *body = message.split("\n")
    assert len(subject) <= SUBJECT_MAX and subject.startswith("Make the parser accept")
    assert blank == "" and body and all(len(line) <= SUBJECT_MAX for line in body)
    assert "users write" in message  # the cut subject's end moves into the body


def test_diff_text_prompt_quotes_and_repeats_are_removed() -> None:
    prompt = "diff --git a/calc.py b/calc.py\n+def concat(a, b):\n+    return a + b\n"
    raw = ("Add concat\n\n+def concat(a, b):\n-    return a - b\n@@ -1 +1 @@\n"
           "- explain the new helper\n- explain the new helper\n    return a + b\n"
           " M calc.py (+4 -0)\n")
    assert clean_message(raw, prompt) == "Add concat\n\n- explain the new helper"
    assert clean_message("\n\n+x = 1\n", prompt) == ""


def test_a_subject_copied_from_the_examples_is_not_used() -> None:
    prompt = "<file_sep>COMMIT_EDITMSG\nAdd the math helpers\n<file_sep>changes.diff\n"
    assert clean_message("Add the math helpers\n\nMore words here.", prompt) == ""


def test_code_in_the_body_and_near_copies_of_examples_are_removed() -> None:
    raw = ("Add the cube helper\n\nimport mathutils\ndef cube(x):\n    return x ** 3\n"
           "result = cube(2)\nIt raises a number to the third power.\n")
    assert clean_message(raw, "") == ("Add the cube helper\n\n"
                                      "It raises a number to the third power.")
    prompt = ("<repo_name>p<file_sep>changes.diff\n M a.py (+1 -0)\n<file_sep>COMMIT_EDITMSG\n"
              "Add math helpers\n<file_sep>changes.diff\n M a.py (+1 -1)\n"
              "<file_sep>COMMIT_EDITMSG\n")
    assert clean_message("Add mathhelpers\n", prompt) == ""
    assert clean_message("Add the cube helper\n", prompt) == "Add the cube helper"
    # A configuration key is not a sentence, and one word is not a subject.
    assert clean_message("Run the tests on push\n\njobs:\n  main:\nOnly on main.", "") == \
        "Run the tests on push\n\nOnly on main."
    assert clean_message("fix:\n\nworkflow", "") == ""
    # The subject is the first line the model writes, and sentences are said once.
    assert clean_message("[pre-commit]\nAdd the lint workflow", "") == ""
    assert clean_message("Add the lint workflow\n\nIt runs ruff. It runs ruff. It runs ruff.",
                         "") == "Add the lint workflow\n\nIt runs ruff."


def scripted_writer(text: str, **kwargs: int) -> CommitWriter:
    tokenizer = CharTokenizer()
    model = tiny_llama(len(tokenizer))
    script_output(model, [*tokenizer.encode(text), tokenizer.eos_token_id])
    return CommitWriter(Engine(model, tokenizer), **kwargs)


def test_writer_returns_a_conventional_message_for_the_staged_diff(repo: Path) -> None:
    write_files(repo, {"calc.py": "def add(a, b):\n    return b + a\n"})
    git(repo, "add", "calc.py")
    writer = scripted_writer("Swap the operands of add\n\nAddition commutes; this reads "
                             "better next to concat.\n", max_new_tokens=200)
    result = writer.write(repo, adapter=None)
    assert result.message == ("Swap the operands of add\n\nAddition commutes; this reads "
                              "better next to concat.")
    assert result.source == "model" and result.diff == "staged" and result.files == 1
    data = result.to_dict()
    assert data["subject"] == "Swap the operands of add" and data["body"].startswith("Addition")


def test_writer_falls_back_to_a_plain_subject_when_the_model_copies_an_example(
        repo: Path) -> None:
    write_files(repo, {"calc.py": "def add(a, b):\n    return b + a\n"})
    git(repo, "add", "calc.py")
    copied = scripted_writer("Teach add about strings\n", max_new_tokens=40).write(repo)
    assert copied.source == "fallback" and copied.message == "Update calc.py"
    # With an adapter there are no examples in the prompt, so the same words are the model's.
    own = scripted_writer("Teach add about strings\n", max_new_tokens=40).write(
        repo, adapter="proj/v1")
    assert own.source == "model" and own.message == "Teach add about strings"


def test_prompt_without_adapter_shows_recent_messages_and_a_long_diff_keeps_the_list(
        repo: Path) -> None:
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(300))
    write_files(repo, {"big.py": body, "calc.py": "def add(a, b):\n    return b + a\n"})
    git(repo, "add", "-A")
    writer = scripted_writer("x", max_prompt_tokens=1200)
    prompt, changes = writer.prompt(repo, use_examples=True)
    assert "Teach add about strings" in prompt and "Add the math helpers" in prompt
    assert prompt.index("Add the math helpers") < prompt.index("Teach add about strings")
    assert len(writer.engine.encode(prompt)) <= 1200
    assert " A big.py (+1200 -0)" in prompt and " M calc.py (+1 -5)" in prompt
    assert "+    return b + a" in prompt  # the small source hunk fits, the huge one does not
    assert not changes.packed.complete
    plain, _ = writer.prompt(repo, use_examples=False)
    assert "Teach add about strings" not in plain
    assert plain.endswith("<file_sep>COMMIT_EDITMSG\n")


def test_the_prompt_is_reused_until_the_index_changes(repo: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import adapters.commit_message as module

    reads: list[Path] = []
    real = module.read_changes
    monkeypatch.setattr(module, "read_changes",
                        lambda root, *a, **k: reads.append(root) or real(root, *a, **k))
    write_files(repo, {"calc.py": "def add(a, b):\n    return b + a\n"})
    git(repo, "add", "calc.py")
    writer = scripted_writer("x")
    first, _ = writer.prompt(repo, use_examples=False)
    again, _ = writer.prompt(repo, use_examples=False)
    assert again == first and len(reads) == 1  # typing in the commit buffer: no git calls
    write_files(repo, {"new.py": "N = 1\n"})
    git(repo, "add", "new.py")
    staged_more, _ = writer.prompt(repo, use_examples=False)
    assert "+N = 1" in staged_more and len(reads) == 2
    writer.prompt(repo, use_examples=False, fresh=True)
    assert len(reads) == 3
