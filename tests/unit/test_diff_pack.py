"""Packing a diff into a prompt budget: every file listed, whole hunks only, source and new
definitions first, and nothing the file scan keeps out (secrets, lock files) shown."""

from __future__ import annotations

from adapters.dataset_history import parse_diff
from adapters.diff_pack import pack_diff


def hunk(start: int, removed: list[str], added: list[str], context: str = "x = 0") -> list[str]:
    return [f"@@ -{start},{len(removed) + 1} +{start},{len(added) + 1} @@", f" {context}",
            *(f"-{r}" for r in removed), *(f"+{a}" for a in added)]


def section(path: str, hunks: list[list[str]], new: bool = False) -> list[str]:
    head = [f"diff --git a/{path} b/{path}", "index 1111111..2222222 100644"]
    if new:
        head += ["new file mode 100644", "--- /dev/null"]
    else:
        head += [f"--- a/{path}"]
    return head + [f"+++ b/{path}"] + [line for h in hunks for line in h]


def test_unsafe_sections_are_listed_but_never_shown() -> None:
    raw = "\n".join([
        *section(".env", [hunk(1, [], ["TOKEN=abc"])], new=True),
        *section("app.py", [hunk(1, ["x = 1"], ["x = 2"])]),
        *section("keys.py", [hunk(1, [], ["K = 'AKIAABCDEFGHIJKLMNOP'"])]),
        *section("poetry.lock", [hunk(1, ["a = 1"], ["a = 2"])]),
    ])
    packed = pack_diff(parse_diff(raw), 10_000)
    assert "TOKEN" not in packed.text and "AKIA" not in packed.text
    assert "a = 2" not in packed.text and "index " not in packed.text
    assert "+x = 2" in packed.text
    assert " A .env (+1 -0, secret: not shown)" in packed.text
    assert " M poetry.lock (+1 -1, generated: not shown)" in packed.text
    assert packed.skipped == {"secret": 2, "generated": 1}


def test_long_diff_keeps_the_file_list_and_whole_hunks_by_priority() -> None:
    edits = [hunk(10 * i, [f"    total += {i}"], [f"    total += {i + 1}"]) for i in range(1, 30)]
    definition = hunk(400, [], ["def checksum(data):", "    return sum(data) % 255"])
    raw = "\n".join([
        *section("data/table.csv", [hunk(1, [], [f"{i},{i * i}" for i in range(200)])]),
        *section("docs/guide.md", [hunk(1, ["Old words."], ["New words."])]),
        *section("src/core.py", [*edits, definition]),
        *section("src/util.py", [hunk(5, ["y = 1"], ["y = 2"])]),
    ])
    sections = parse_diff(raw)
    packed = pack_diff(sections, 700)
    text = packed.text
    assert len(text) <= 700
    # The list names every file with its counts, whatever the budget.
    for line in ("4 files changed, +233 -31", " M data/table.csv (+200 -0)",
                 " M docs/guide.md (+1 -1)", " M src/core.py (+31 -29)",
                 " M src/util.py (+1 -1)"):
        assert line in text
    # Every file has its header; the new definition comes before edits inside functions.
    for path in ("data/table.csv", "docs/guide.md", "src/core.py", "src/util.py"):
        assert f"diff --git a/{path} b/{path}" in text
    assert "+def checksum(data):\n+    return sum(data) % 255" in text
    assert "+y = 2" in text
    assert "+199,39601" not in text  # data goes last: it does not fit
    # Whole hunks only: each shown hunk appears with all its lines, in file order.
    shown = [h for h in [*edits, definition] if h[0] in text]
    assert shown and all("\n".join(h) in text for h in shown)
    assert 0 < packed.hunks_shown < packed.hunks_total
    assert "hunks not shown" in text
    assert text.index("src/core.py b/src/core.py") < text.index("src/util.py b/src/util.py")


def test_a_diff_that_fits_is_shown_whole() -> None:
    raw = "\n".join(section("src/util.py", [hunk(5, ["y = 1"], ["y = 2"]),
                                            hunk(20, ["z = 1"], ["z = 3"])]))
    packed = pack_diff(parse_diff(raw), 10_000)
    assert packed.complete and "not shown" not in packed.text
    assert packed.text.startswith("1 file changed, +2 -2\n M src/util.py (+2 -2)\n\n")


def test_a_huge_file_list_is_summarised_within_the_budget() -> None:
    raw = "\n".join(line for i in range(500)
                    for line in section(f"pkg/mod{i}.py", [hunk(1, ["a"], ["b"])]))
    packed = pack_diff(parse_diff(raw), 2000)
    assert len(packed.text) <= 2000
    assert packed.text.startswith("500 files changed, +500 -500\n M pkg/mod0.py")
    assert "more files" in packed.text


def test_budget_in_tokens_uses_the_given_cost() -> None:
    raw = "\n".join(section("src/util.py", [hunk(5, ["y = 1"], ["y = 2"])]))
    words = pack_diff(parse_diff(raw), 40, cost=lambda t: len(t.split()))
    assert "+y = 2" in words.text and len(words.text.split()) <= 40
