"""Repair: which code is rewritten, and that no candidate reaches the user unless it passes
the checks (tiny scripted models; the real checkers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CharTokenizer, script_by_position, tiny_llama

from adapters.checks import checker_for, run_mypy, run_pyflakes, run_ruff, run_syntax
from adapters.dataset import fix_prompt
from adapters.engine import Engine
from adapters.repair import (
    Checker,
    Problem,
    Repairer,
    enclosing_region,
    function_end,
    parse_problem,
    plan,
    problem_offset,
)

AREA = ('import math\n\n\nclass Shapes:\n    def area(self, radius):\n'
        '        """Area of a circle."""\n        return math.pi * raduis ** 2\n\n'
        '    def double(self, x):\n        return 2 * x\n')
FIXED_AREA = ('    def area(self, radius):\n        """Area of a circle."""\n'
              '        return math.pi * radius ** 2\n')
BROKEN = ("def total(items):\n    result = 0\n    for item in items\n"
          "        result += item.price\n    return result\n\n\nprint(total([]))\n")


def undefined(text: str) -> Problem:
    found = [f for f in run_pyflakes(text, Path("shapes.py")) if f.code == "UndefinedName"]
    f = found[0]
    return parse_problem(f.message, f.line, f.line, "Pyflakes", None, column=f.column)


def test_the_enclosing_method_is_found_from_the_syntax_tree() -> None:
    region = enclosing_region(AREA, 6, 6)
    assert (region.start, region.end, region.name) == (4, 7, "area")
    lines = AREA.splitlines(keepends=True)
    assert region.text(lines) == FIXED_AREA.replace("radius ** 2", "raduis ** 2")


def test_a_file_that_does_not_parse_still_has_its_function_found() -> None:
    region = enclosing_region(BROKEN, 2, 2)
    assert (region.start, region.end, region.name) == (0, 5, "total")
    module = enclosing_region(BROKEN, 7, 7)
    assert (module.start, module.end, module.name) == (7, 8, None)


def test_generation_stops_where_the_function_ends() -> None:
    text = "    def area(self, r):\n        return r\n\n    def other(self):\n"
    assert text[:function_end(text)] == "    def area(self, r):\n        return r\n\n"
    assert function_end("def f(x):\n    return (\n        x\n    )\n") is None


def test_diagnostic_sources_map_to_checkers() -> None:
    assert checker_for("Ruff") == "ruff" and checker_for("Pyflakes") == "pyflakes"
    assert checker_for("mypy") == "mypy" and checker_for("basedpyright") == "pyright"
    assert checker_for("Pylance") is None
    assert checker_for("tailor", {"checker": "syntax"}) == "syntax"


def test_checker_accepts_a_real_fix_and_refuses_bad_ones() -> None:
    problem = undefined(AREA)
    region = enclosing_region(AREA, problem.line, problem.line)
    checker = Checker(Path("shapes.py"), None, AREA, [problem])
    good = checker.check(region, FIXED_AREA)
    assert good.ok and good.fixes == [problem]
    refusals = {
        "unchanged": FIXED_AREA.replace("radius ** 2", "raduis ** 2"),
        "does not parse": FIXED_AREA.replace("radius ** 2", "radius **"),
        "still reports": FIXED_AREA.replace("math.pi * radius ** 2",
                                            "0 + math.pi * raduis ** 2"),
        "changes only docstrings": FIXED_AREA.replace("radius ** 2", "raduis ** 2").replace(
            '"""Area of a circle."""', '"""The area of a circle."""  # pi r squared'),
        "new UndefinedName": FIXED_AREA.replace("** 2", "** 2 * scale"),
        "does not define area": FIXED_AREA.replace("def area", "def circle_area"),
    }
    for reason, candidate in refusals.items():
        verdict = checker.check(region, candidate)
        assert not verdict.ok and reason in verdict.reason, (reason, verdict)


def test_syntax_error_fix_is_checked_by_parsing() -> None:
    syntax = run_syntax(BROKEN, Path("shop.py"))[0]
    problem = parse_problem(syntax.message, syntax.line, syntax.line, "tailor",
                            syntax.code, {"checker": "syntax"})
    region = enclosing_region(BROKEN, problem.line, problem.line)
    checker = Checker(Path("shop.py"), None, BROKEN, [problem])
    fixed = BROKEN.splitlines(keepends=True)[:5]
    fixed[2] = "    for item in items:\n"
    assert checker.check(region, "".join(fixed)).ok
    fixed[3] = "        result += price\n"  # parses, but a new undefined name appears
    assert not checker.check(region, "".join(fixed)).ok


def test_ruff_and_mypy_run_on_text_without_touching_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text("x = 1\n")
    ruff = run_ruff("import os\n", path, tmp_path)
    assert ruff is not None and [f.code for f in ruff] == ["F401"]
    mypy = run_mypy("def f() -> int:\n    return 'a'\n", path, tmp_path)
    assert mypy is not None and [(f.code, f.line) for f in mypy] == [("return-value", 1)]
    assert path.read_text() == "x = 1\n"


def scripted_repairer(tmp_path: Path, text: str, problem: Problem, outputs: list[str]
                      ) -> tuple[Repairer, Path]:
    """A repairer whose model writes `outputs[0]` for the greedy candidate; the sampled
    ones follow the same script (so only one distinct candidate exists)."""
    tokenizer = CharTokenizer()
    model = tiny_llama(len(tokenizer))
    path = tmp_path / "proj" / "shapes.py"
    path.parent.mkdir(exist_ok=True)
    job = plan(path, path.parent, text, problem.line, problem.line, [problem])
    assert job is not None
    prompt = tokenizer.encode(fix_prompt("proj", "shapes.py", job.region_text))
    script_by_position(model, len(prompt), [*tokenizer.encode(outputs[0]),
                                            tokenizer.get_vocab()["<file_sep>"]])
    return Repairer(Engine(model, tokenizer)), path


def test_a_good_candidate_is_offered(tmp_path: Path) -> None:
    problem = undefined(AREA)
    repairer, path = scripted_repairer(tmp_path, AREA, problem, [FIXED_AREA])
    fixes = repairer.repair(path=path, root=path.parent, text=AREA, first=problem.line,
                            last=problem.line, problems=[problem], count=1)
    assert [f.replacement for f in fixes] == [FIXED_AREA]
    assert fixes[0].fixes == [problem] and fixes[0].not_rechecked == []


@pytest.mark.parametrize("bad", [
    FIXED_AREA.replace("math.pi", "maths.pi"),  # a new undefined name
    FIXED_AREA.replace("** 2", "** (2"),  # does not parse
])
def test_a_candidate_that_fails_the_checks_is_never_offered(tmp_path: Path, bad: str) -> None:
    problem = undefined(AREA)
    repairer, path = scripted_repairer(tmp_path, AREA, problem, [bad])
    generated = repairer.candidates(repo_name="proj", rel_path="shapes.py",
                                    region_text=FIXED_AREA.replace("radius ** 2",
                                                                   "raduis ** 2"), count=1)
    assert generated == [bad]  # the model did propose it ...
    fixes = repairer.repair(path=path, root=path.parent, text=AREA, first=problem.line,
                            last=problem.line, problems=[problem], count=1)
    assert fixes == []  # ... and it was not offered


def test_a_problem_tailor_cannot_recheck_is_named_in_the_fix(tmp_path: Path) -> None:
    problem = parse_problem('"raduis" is not defined', 6, 6, "Pylance", "reportUndefined",
                            column=AREA.splitlines()[6].index("raduis"))
    repairer, path = scripted_repairer(tmp_path, AREA, problem, [FIXED_AREA])
    fixes = repairer.repair(path=path, root=path.parent, text=AREA, first=6, last=6,
                            problems=[problem], count=1)
    assert len(fixes) == 1 and fixes[0].not_rechecked == ["Pylance"]


def test_the_greedy_candidate_may_not_copy_the_problem_unchanged(tmp_path: Path) -> None:
    problem = undefined(AREA)
    original = FIXED_AREA.replace("radius ** 2", "raduis ** 2")
    repairer, path = scripted_repairer(tmp_path, AREA, problem, [original])  # a pure copy
    job = plan(path, path.parent, AREA, problem.line, problem.line, [problem])
    assert job is not None
    at = problem_offset(job)
    assert at is not None and job.region_text[at:].startswith("raduis")
    (candidate,) = repairer.candidates(repo_name="proj", rel_path="shapes.py",
                                       region_text=job.region_text, count=1, problem_at=at)
    assert candidate[:at] == original[:at]  # copied up to the problem ...
    assert not candidate[at:].startswith("raduis")  # ... but not the problem itself
    (copy,) = repairer.candidates(repo_name="proj", rel_path="shapes.py",
                                  region_text=job.region_text, count=1)
    assert copy == original  # without the rule, the model copies it all
