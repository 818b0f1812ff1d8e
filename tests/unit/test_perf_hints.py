"""On-save hints with the shipped model: what a user sees after an edit."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from selector.perf import hints as hints_module
from selector.perf.hints import format_message, function_hints, hints_against_revision

BEFORE = textwrap.dedent('''
    import os


    def common(items, others):
        wanted = set(others)
        out = []
        for x in items:
            if x in wanted:
                out.append(x)
        return out


    class Report:
        @staticmethod
        def untouched(rows):
            return [r for r in rows if r]
''')

SLOWER = BEFORE.replace('''    wanted = set(others)
    out = []
    for x in items:
        if x in wanted:
            out.append(x)''', '''    out = []
    for x in items:
        for y in others:
            if x == y and x not in out:
                out.append(x)''')
assert SLOWER != BEFORE


def test_a_function_made_clearly_slower_gets_a_hint_with_its_reasons() -> None:
    hints = function_hints(BEFORE, SLOWER)
    assert [h.qualname for h in hints] == ["common"]
    hint = hints[0]
    assert hint.predicted_ratio > 1.5
    joined = "; ".join(hint.reasons)
    assert "nests over `others`" in joined or "membership test on a list `out`" in joined
    assert hint.message().startswith("predicted ")
    assert "slower than before" in hint.message()


def test_the_hint_sits_on_the_function_name() -> None:
    (hint,) = function_hints(BEFORE, SLOWER)
    line = SLOWER.splitlines()[hint.range.start_line]
    assert line.startswith("def common(")
    assert line[hint.range.start_character:hint.range.end_character] == "common"


def test_the_reverse_edit_is_predicted_faster() -> None:
    (hint,) = function_hints(SLOWER, BEFORE)
    assert hint.predicted_ratio < 1 / 1.5
    assert "faster than before" in hint.message()


def test_unchanged_functions_get_nothing() -> None:
    assert function_hints(BEFORE, BEFORE) == []
    moved = "\n\n# a comment that shifts every line\n" + BEFORE
    assert function_hints(BEFORE, moved) == []


def test_a_comment_or_reformatting_inside_a_function_is_not_a_change() -> None:
    commented = BEFORE.replace("    return out", "    return out  # the matches")
    reflowed = BEFORE.replace("        return [r for r in rows if r]",
                              "        return [r for r in rows\n                if r]")
    assert commented != BEFORE and reflowed != BEFORE
    assert function_hints(BEFORE, commented) == []
    assert function_hints(BEFORE, reflowed) == []


def test_a_save_in_a_long_module_featurises_only_the_edited_function(
        monkeypatch: pytest.MonkeyPatch) -> None:
    many = BEFORE + "".join(f"\n\ndef helper{i}(xs):\n    return [x * {i} for x in xs]\n"
                            for i in range(200))
    featurised: list[str] = []
    real = hints_module.extract_function

    def counting(fn, qualname=None):  # type: ignore[no-untyped-def]
        featurised.append(qualname)
        return real(fn, qualname)

    monkeypatch.setattr(hints_module, "extract_function", counting)
    (hint,) = function_hints(many, many.replace(BEFORE, SLOWER))
    assert hint.qualname == "common"
    assert featurised == ["common", "common"]  # before and after; none of the 201 others


def test_an_edit_inside_a_nested_function_is_hinted_once_on_that_function() -> None:
    outer = textwrap.dedent('''
        def report(items, others):
            def matches():
                wanted = set(others)
                return [x for x in items if x in wanted]
            return len(matches())
    ''')
    slower = outer.replace("wanted = set(others)", "wanted = list(others)")
    (hint,) = function_hints(outer, slower)
    assert hint.qualname == "report.matches" and hint.predicted_ratio > 1.5
    assert "membership test on a list `wanted`" in "; ".join(hint.reasons)


def test_a_container_swap_is_one_reason_that_says_what_it_was() -> None:
    fast = textwrap.dedent('''
        def reach(adj, source):
            seen = {source}
            level = [source]
            while level:
                nxt = []
                for v in level:
                    for w in adj[v]:
                        if w not in seen:
                            seen.add(w)
                            nxt.append(w)
                level = nxt
            return seen
    ''')
    slow = fast.replace("seen = {source}", "seen = [source]").replace("seen.add(w)",
                                                                       "seen.append(w)")
    (slower,) = function_hints(fast, slow)
    assert slower.reasons == ["membership test on a list `seen` inside a loop (was a set or dict)"]
    (faster,) = function_hints(slow, fast)
    assert faster.reasons == ["membership test on a set or dict `seen` inside a loop (was a list)"]


def test_the_threshold_drops_small_predicted_changes() -> None:
    tweak = BEFORE.replace("    return out", "    out.reverse()\n    return out")
    assert tweak != BEFORE
    (hint,) = function_hints(BEFORE, tweak)
    assert 1 / 1.5 < hint.predicted_ratio < 1.5
    assert function_hints(BEFORE, tweak, threshold=1.5) == []
    assert len(function_hints(BEFORE, SLOWER, threshold=1.5)) == 1


def test_new_deleted_and_unparsable_versions_give_no_hints() -> None:
    added = BEFORE + "\n\ndef fresh(xs):\n    return sorted(xs)\n"
    assert function_hints(BEFORE, added) == []
    assert function_hints(added, BEFORE) == []
    assert function_hints(BEFORE, SLOWER + "\ndef broken(:\n") == []


def test_hints_never_run_the_users_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    touch = f"open({str(marker)!r}, 'w').close()"
    old = f"{touch}\n\ndef g(xs):\n    {touch}\n    return [x for x in xs]\n"
    new = f"{touch}\n\ndef g(xs):\n    {touch}\n    return [x for x in xs for y in xs]\n"
    assert function_hints(old, new)
    assert not marker.exists()


def test_message_wording() -> None:
    assert format_message(3.2, ["a loop now nests over `items`"]) == \
        "predicted ~3\u00d7 slower than before: a loop now nests over `items`"
    assert format_message(0.5, []) == "predicted ~2.0\u00d7 faster than before"


def test_extreme_ratios_are_shown_capped_but_keep_their_direction() -> None:
    assert format_message(295.0, ["x"]) == "predicted 20\u00d7 or more slower than before: x"
    assert format_message(1 / 40, []) == "predicted 20\u00d7 or more faster than before"
    assert format_message(19.4, []) == "predicted ~19\u00d7 slower than before"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                        "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(cwd)})


def test_hints_against_a_git_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    path = repo / "pkg" / "mod.py"
    path.write_text(BEFORE)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    path.write_text(SLOWER)
    hints = hints_against_revision(path)
    assert [h.name for h in hints] == ["common"] and hints[0].predicted_ratio > 1.5
    assert hints_against_revision(path, new_source=BEFORE) == []
    (repo / "pkg" / "new.py").write_text(SLOWER)
    assert hints_against_revision(repo / "pkg" / "new.py") == []  # not at HEAD


@pytest.mark.parametrize("rev", ["HEAD", "no-such-rev"])
def test_a_file_outside_git_gives_no_hints(tmp_path: Path, rev: str) -> None:
    path = tmp_path / "loose.py"
    path.write_text(SLOWER)
    assert hints_against_revision(path, rev) == []
