"""Repair of planted bugs, judged by the repository's own tests (not collected by pytest).

    TAILOR_HOME=... .venv/bin/python tests/bench/bench_repair.py [REPO] [--mutants 12] [--seed 0]

The "fix this function" code action on real functions with one planted bug each. In a clone
of REPO (default /tmp/itsdangerous, whose tests run with pytest and PYTHONPATH=src), one
mutation per function of the package's modules:

  flip-compare    a comparison operator negated (< to >=, == to !=, in to not in, ...)
  off-by-one      an integer constant n in a comparison, a slice or an index made n + 1
  wrong-variable  a local name read replaced by another local of the same function
  missing-return  `return x` made the bare expression `x`

Mutants are drawn deterministically from --seed, a kind at a time, and kept only when the
tests fail with them (`python -m pytest -x -q tests`, 120 s limit). The repair then runs the
way the server runs "fix this function" on the mutated line: `plan` (with Tailor's own
syntax and pyflakes findings that the mutation added, usually none), `Repairer.candidates`
(3, within --timeout: 45 s, half the server's 90 s, so that the default run of 12 mutants
stays near 20 minutes on two cores), `check_all`. With --locate a diagnostic at the mutated
text goes along too (as a test runner's could), so the greedy candidate must change the code
there (`problem_offset`).

A mutant is *offered* a fix when a candidate passes the checks, *fixed* when the tests pass
again with the first offered fix applied, *fixed with any* when one of the offered fixes
makes them pass, *restored* when the first offered fix is the original function verbatim.
Base model and the repository's active adapter, in the same process on the same mutants.
The adapter trained on the repository's files (minus ~10% held out), so it has seen the
unmutated functions: mutants in held-out files are marked.

The repository's tests are run here by this benchmark's own choice, in a throwaway clone.
Nothing is installed: when the tests import freezegun and it is missing, a ten-line stand-in
of `freeze_time` (frozen `time.time`, `tick`) goes on PYTHONPATH; the clean clone must pass.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adapters.models import DEFAULT_MODEL

KINDS = ("flip-compare", "off-by-one", "wrong-variable", "missing-return")
_FLIP = {ast.Lt: ">=", ast.LtE: ">", ast.Gt: "<=", ast.GtE: "<", ast.Eq: "!=", ast.NotEq: "==",
         ast.Is: "is not", ast.IsNot: "is", ast.In: "not in", ast.NotIn: "in"}
_OP = re.compile(r"\bis\s+not\b|\bnot\s+in\b|==|!=|<=|>=|<|>|\bis\b|\bin\b")
_NEVER_SWAPPED = {"self", "cls"}

FREEZEGUN_STANDIN = '''"""Stand-in for freezegun.freeze_time (bench_repair.py)."""
import contextlib
import datetime as _dt
import time as _time


class _Frozen:
    def __init__(self, when):
        if isinstance(when, str):
            when = _dt.datetime.fromisoformat(when)
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        self.now = when.timestamp()

    def tick(self, delta=_dt.timedelta(seconds=1)):
        self.now += delta.total_seconds() if isinstance(delta, _dt.timedelta) else float(delta)


@contextlib.contextmanager
def freeze_time(when):
    frozen, real = _Frozen(when), _time.time
    _time.time = lambda: frozen.now
    try:
        yield frozen
    finally:
        _time.time = real
'''


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- mutants

@dataclass(frozen=True)
class Mutant:
    kind: str
    rel: str  # file, relative to the repository root
    function: str
    first: int  # the function's lines, 0-based, end exclusive
    end: int
    line: int  # the mutated line, 0-based
    start: int  # character offsets of the replaced text in the file
    stop: int
    old: str
    new: str

    def apply(self, text: str) -> str:
        assert text[self.start:self.stop] == self.old
        return text[:self.start] + self.new + text[self.stop:]

    @property
    def label(self) -> str:
        return f"{self.rel}:{self.line + 1} {self.function}: {self.old!r} -> {self.new!r}"


class _Offsets:
    """ast positions (1-based lines, UTF-8 byte columns) as character offsets."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def at(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8"))

    def line_of(self, offset: int) -> int:
        return max(i for i, s in enumerate(self.starts) if s <= offset)


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """The nodes of a function's body, not those of functions, lambdas or classes in it."""
    found: list[ast.AST] = []
    stack = list(getattr(function, "body", []))
    while stack:
        node = stack.pop()
        found.append(node)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                              | ast.ClassDef):
                stack.append(child)
    return found


def _functions(tree: ast.AST) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((scope + child.name, child))
                visit(child, scope + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, scope + child.name + ".")
            else:
                visit(child, scope)

    visit(tree, "")
    return found


def mutation_sites(rel: str, text: str, rng: random.Random) -> list[Mutant]:
    """Every mutation of every function of one file."""
    tree = ast.parse(text)
    pos = _Offsets(text)
    sites: list[Mutant] = []
    for name, fn in _functions(tree):
        first = min([fn.lineno, *(d.lineno for d in fn.decorator_list)]) - 1
        end = fn.end_lineno or fn.lineno
        nodes = _own_nodes(fn)
        parents = {id(c): n for n in nodes for c in ast.iter_child_nodes(n)}

        def site(kind: str, a: int, b: int, new: str, fn_name: str = name,
                 fn_first: int = first, fn_end: int = end) -> None:
            sites.append(Mutant(kind, rel, fn_name, fn_first, fn_end, pos.line_of(a), a, b,
                                text[a:b], new))

        a_args = fn.args
        params = [a.arg for a in (*a_args.posonlyargs, *a_args.args, *a_args.kwonlyargs)]
        params += [a.arg for a in (a_args.vararg, a_args.kwarg) if a is not None]
        stored = [n.id for n in nodes if isinstance(n, ast.Name)
                  and isinstance(n.ctx, ast.Store)]
        local_names = sorted(set(params + stored) - _NEVER_SWAPPED)
        for node in nodes:
            if isinstance(node, ast.Compare) and len(node.ops) == 1 \
                    and type(node.ops[0]) in _FLIP:
                left, right = node.left, node.comparators[0]
                a = pos.at(left.end_lineno or left.lineno, left.end_col_offset or 0)
                b = pos.at(right.lineno, right.col_offset)
                m = _OP.search(text, a, b)
                if m:
                    site("flip-compare", m.start(), m.end(), _FLIP[type(node.ops[0])])
            elif isinstance(node, ast.Constant) and type(node.value) is int and (
                    isinstance(parent := parents.get(id(node)), ast.Compare | ast.Slice)
                    or (isinstance(parent, ast.Subscript) and parent.slice is node)):
                a = pos.at(node.lineno, node.col_offset)
                b = pos.at(node.end_lineno or node.lineno, node.end_col_offset or 0)
                site("off-by-one", a, b, str(node.value + 1))
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) \
                    and node.id in local_names:
                others = [n for n in local_names if n != node.id]
                if others:
                    a = pos.at(node.lineno, node.col_offset)
                    site("wrong-variable", a, a + len(node.id), rng.choice(others))
            elif isinstance(node, ast.Return) and node.value is not None and not (
                    isinstance(node.value, ast.Constant) and node.value.value is None):
                a = pos.at(node.lineno, node.col_offset)
                b = pos.at(node.value.lineno, node.value.col_offset)
                if text[a:b].rstrip() == "return":
                    site("missing-return", a, b, "")
    return sites


def draw(sites: list[Mutant], rng: random.Random, max_lines: int) -> dict[str, list[Mutant]]:
    """Each kind's sites in the order they are tried: shuffled, and a function's second
    mutant of a kind only after every function has had one."""
    by_kind: dict[str, list[Mutant]] = {}
    for kind in KINDS:
        mine = [s for s in sites if s.kind == kind and s.end - s.first <= max_lines]
        rng.shuffle(mine)
        seen: set[tuple[str, str]] = set()
        first: list[Mutant] = []
        later: list[Mutant] = []
        for s in mine:
            (later if (s.rel, s.function) in seen else first).append(s)
            seen.add((s.rel, s.function))
        by_kind[kind] = first + later
    return by_kind


# ---------------------------------------------------------------------------- tests

class Tests:
    def __init__(self, clone: Path, tests: str, timeout: float, scratch: Path) -> None:
        self.clone, self.tests, self.timeout = clone, tests, timeout
        paths = [str(clone / "src")]
        self.note = ""
        # No bytecode: a same-size edit within the same second would reuse a stale .pyc.
        # No third-party pytest plugins: this venv's (pytest-asyncio, pytest-lsp) are not the
        # repository's, and with filterwarnings=error their warnings fail the run.
        self.env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
                    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        uses_freezegun = any("freezegun" in p.read_text(errors="replace")
                             for p in (clone / tests).rglob("*.py"))
        if uses_freezegun and not self._importable("freezegun"):
            (scratch / "freezegun.py").write_text(FREEZEGUN_STANDIN)
            paths.append(str(scratch))
            self.note = ("freezegun is not installed: its freeze_time is a stand-in "
                         "(frozen time.time, tick) on PYTHONPATH")
        self.env["PYTHONPATH"] = os.pathsep.join(paths)
        self.runs = 0
        self.seconds = 0.0

    @staticmethod
    def _importable(module: str) -> bool:
        return subprocess.run([sys.executable, "-c", f"import {module}"],
                              capture_output=True).returncode == 0

    def where_imported(self, package: str) -> str:
        code = f"import {package}; print({package}.__file__)"
        proc = subprocess.run([sys.executable, "-c", code], cwd=self.clone, env=self.env,
                              capture_output=True, text=True)
        return proc.stdout.strip() or proc.stderr.strip().splitlines()[-1]

    def run(self) -> tuple[bool, str]:
        """(passed, last line of pytest's output or "timeout")."""
        started = time.perf_counter()
        self.runs += 1
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                 self.tests],
                cwd=self.clone, env=self.env, capture_output=True, text=True,
                timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return False, "timeout"
        finally:
            self.seconds += time.perf_counter() - started
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        return proc.returncode == 0, lines[-1] if lines else f"exit {proc.returncode}"


# ---------------------------------------------------------------------------- repair

def new_problems(path: Path, original: str, mutated: str) -> list[Any]:
    """Tailor's own diagnostics (syntax, else pyflakes) that the mutation added, as the
    editor would send them."""
    from adapters.checks import run_pyflakes, run_syntax
    from adapters.repair import parse_problem

    def found(text: str) -> list[Any]:
        return run_syntax(text, path) or run_pyflakes(text, path)

    before = Counter(f.key() for f in found(original))
    problems = []
    for f in found(mutated):
        if before[f.key()] > 0:
            before[f.key()] -= 1
            continue
        problems.append(parse_problem(f.message, f.line, f.line, "tailor", f.code,
                                      {"checker": f.checker}))
    return problems


def located(mutant: Mutant, mutated: str) -> Any:
    """A diagnostic at the mutated text, as a test runner's could be (no checker Tailor can
    run, so the fix is "not re-checked" by it)."""
    from adapters.repair import parse_problem

    line_start = mutated.rfind("\n", 0, mutant.start) + 1
    return parse_problem("the tests fail here", mutant.line, mutant.line, "tests", None,
                         None, mutant.start - line_start)


def attempt(engine: Any, mutant: Mutant, root: Path, original: str, mutated: str,
            tests: Tests, count: int, timeout: float, locate: bool) -> dict[str, Any]:
    from adapters.repair import (
        Checker,
        Repairer,
        check_all,
        plan,
        problem_offset,
        replace_region,
    )

    path = root / mutant.rel
    problems = new_problems(path, original, mutated)
    if locate:
        problems.append(located(mutant, mutated))
    out: dict[str, Any] = {"problems": [p.message for p in problems], "candidates": 0,
                           "offered": 0, "fixed": False, "fixed_any": False,
                           "restored": False, "reasons": [], "seconds": 0.0}
    job = plan(path, root, mutated, mutant.line, mutant.line, problems)
    if job is None:
        out["reasons"] = ["no plan (function too long)"]
        return out
    engine.reset()  # every mutant from a cold cache
    started = time.perf_counter()
    generated = Repairer(engine).candidates(
        repo_name=job.repo_name, rel_path=job.rel_path, region_text=job.region_text,
        count=count, deadline=time.monotonic() + timeout, problem_at=problem_offset(job))
    checker = Checker(job.path, job.root, job.text, job.problems)
    fixes = check_all(job, generated, checker)
    out["seconds"] = time.perf_counter() - started
    out["candidates"] = len(generated)
    out["offered"] = len(fixes)
    out["reasons"] = [checker.check(job.region, g).reason or "ok" for g in generated]
    lines = mutated.splitlines(keepends=True)
    original_region = job.region.text(original.splitlines(keepends=True))
    for i, fix in enumerate(fixes):
        new_text = replace_region(lines, fix.region, fix.replacement)
        if i == 0:
            out["restored"] = fix.replacement == original_region
            out["first_fix"] = fix.replacement
        path.write_text(new_text, encoding="utf-8")
        passed, _ = tests.run()
        if passed:
            out["fixed_any"] = True
            out["fixed"] = i == 0
            break
    path.write_text(mutated, encoding="utf-8")
    return out


def verdict_kind(reason: str) -> str:
    """A check's verdict without the details ("pyflakes: new F841 ..." -> "pyflakes: new")."""
    if reason.startswith("does not define"):
        return "not the same function"
    if ": new " in reason:
        return reason.split(":")[0] + ": new finding"
    if " still reports " in reason:
        return reason.split(" still reports ")[0] + ": still reports it"
    return reason


def outcome(got: dict[str, Any]) -> str:
    word = ("fixed" if got["fixed"] else "fixed by a later fix" if got["fixed_any"]
            else "offered, tests fail" if got["offered"] else "none offered")
    return word + (" (restored)" if got["restored"] else "")


# ---------------------------------------------------------------------------- run

def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True, timeout=120).stdout


def run(args: argparse.Namespace) -> dict[str, Any]:
    from adapters.dataset import heldout_paths
    from adapters.dataset_files import scan_files

    repo = Path(git(Path(args.repo).resolve(), "rev-parse", "--show-toplevel").strip())
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="tailor-bench-repair-") as tmp:
        clone = Path(tmp) / repo.name  # the prompt names the repository by its folder
        git(Path(tmp), "clone", "-q", str(repo), str(clone))
        package = args.package or repo.name
        src = clone / "src" / package
        if not src.is_dir():
            raise SystemExit(f"{src} is not a folder: pass --package NAME (src/NAME/*.py)")
        scratch = Path(tmp) / "standins"
        scratch.mkdir()
        tests = Tests(clone, args.tests, args.test_timeout, scratch)
        if tests.note:
            log(tests.note)
        imported = tests.where_imported(package)
        log(f"{package} imported from {imported}")
        if not imported.startswith(str(clone / "src")):
            raise SystemExit(f"the tests would not use the clone's src/: {imported}")
        passed, last = tests.run()
        if not passed:
            raise SystemExit(f"the unmutated clone fails its tests ({last}): nothing to judge")
        log(f"clean clone: {last}")

        held_files = heldout_paths([p for p, _ in scan_files(clone, True).files], 0.1)
        sites: list[Mutant] = []
        for file in sorted(src.glob("*.py")):
            rel = file.relative_to(clone).as_posix()
            if rel in args.skip:
                continue
            sites += mutation_sites(rel, file.read_text(encoding="utf-8"), rng)
        log(f"{len(sites)} mutation sites: " + ", ".join(
            f"{k} {sum(s.kind == k for s in sites)}" for k in KINDS))

        # Mutants the tests notice, the kinds in turn.
        kept: list[Mutant] = []
        survived: list[str] = []
        queues = draw(sites, rng, args.max_lines)
        while len(kept) < args.mutants and any(queues.values()):
            for kind in KINDS:  # one mutant the tests catch per kind per round
                while queues[kind] and len(kept) < args.mutants:
                    mutant = queues[kind].pop(0)
                    path = clone / mutant.rel
                    original = path.read_text(encoding="utf-8")
                    path.write_text(mutant.apply(original), encoding="utf-8")
                    passed, last = tests.run()
                    path.write_text(original, encoding="utf-8")
                    if passed:
                        survived.append(mutant.label)
                        log(f"survives the tests, dropped: {mutant.label}")
                        continue
                    kept.append(mutant)
                    log(f"mutant {len(kept)}: {mutant.kind:15} {mutant.label} ({last})")
                    break
        log(f"{len(kept)} mutants kept, {len(survived)} passed the tests and were dropped")

        from server.assist_cli import load_for

        engines: dict[str, Any] = {}
        engines["base"], _ = load_for(clone, args.model, use_adapter=False)
        adapter_key = None
        if not args.no_adapter:
            engine, adapter_key = load_for(clone, args.model, use_adapter=True)
            if adapter_key is not None:
                engines["adapter"] = engine
        adapter_note = (f"adapter {adapter_key}" if adapter_key else
                        "adapter: skipped (--no-adapter)" if args.no_adapter else
                        "adapter: skipped (no active adapter for this repository and model)")
        log(adapter_note)

        rows = []
        for number, mutant in enumerate(kept, 1):
            started = time.perf_counter()
            path = clone / mutant.rel
            original = path.read_text(encoding="utf-8")
            mutated = mutant.apply(original)
            path.write_text(mutated, encoding="utf-8")
            row: dict[str, Any] = {**asdict(mutant), "heldout_file": mutant.rel in held_files}
            for name, engine in engines.items():
                row[name] = attempt(engine, mutant, clone, original, mutated, tests,
                                    args.candidates, args.timeout, args.locate)
            path.write_text(original, encoding="utf-8")
            row["seconds"] = time.perf_counter() - started
            rows.append(row)
            log(f"{number:3}/{len(kept)} {mutant.kind:15} {mutant.function}: " + "; ".join(
                f"{n} {outcome(row[n])} ({row[n]['candidates']} candidates: "
                f"{', '.join(row[n]['reasons']) or '-'}; {row[n]['seconds']:.0f} s)"
                for n in engines))

    summary: dict[str, dict[str, dict[str, float]]] = {}
    for name in engines:
        summary[name] = {}
        for kind in (*KINDS, "all"):
            got = [r[name] for r in rows if kind in ("all", r["kind"])]
            if not got:
                continue
            summary[name][kind] = {
                "mutants": len(got), "offered": sum(g["offered"] > 0 for g in got),
                "fixed": sum(g["fixed"] for g in got),
                "fixed_any": sum(g["fixed_any"] for g in got),
                "restored": sum(g["restored"] for g in got),
                "seconds": sum(g["seconds"] for g in got) / len(got)}
    return {"repo": str(repo), "model": args.model, "seed": args.seed, "locate": args.locate,
            "adapter": adapter_key, "adapter_note": adapter_note, "tests_note": tests.note,
            "heldout_files": sorted(held_files), "settings": list(engines),
            "survived": survived, "summary": summary, "rows": rows,
            "test_runs": tests.runs, "test_seconds": tests.seconds,
            "mean_seconds_per_mutant": sum(r["seconds"] for r in rows) / max(len(rows), 1)}


def report(result: dict[str, Any], out: Any) -> None:
    rows = result["rows"]
    print(f"\n{result['repo']}: {len(rows)} mutants the tests catch (seed {result['seed']}), "
          f"model {result['model']}; {result['adapter_note']}", file=out)
    print("problems sent: " + ("a diagnostic at the mutated text (--locate)" if result["locate"]
                               else "none beyond Tailor's own (\"fix this function\" on the "
                               "mutated line)"), file=out)
    if result["tests_note"]:
        print(result["tests_note"], file=out)
    held = [r for r in rows if r["heldout_file"]]
    print(f"files held out from adapter training: {', '.join(result['heldout_files'])}; "
          f"{len(held)} of the mutants are in them (the adapter trained on the others' "
          "unmutated code)", file=out)
    head = (f"{'setting':8} | {'kind':15} | {'mutants':>7} | {'offered':>8} | {'fixed':>8} | "
            f"{'fixed any':>9} | {'restored':>8} | {'mean s':>6}")
    print("\n" + head + "\n" + "-" * len(head), file=out)
    for name, kinds in result["summary"].items():
        for kind, s in kinds.items():
            n = s["mutants"]

            def share(key: str, width: int, n: int = n, s: dict[str, float] = s) -> str:
                return f"{s[key]:{width - 5}.0f} {s[key] / n:>4.0%}"

            print(f"{name:8} | {kind:15} | {n:7} | {share('offered', 8)} | {share('fixed', 8)} "
                  f"| {share('fixed_any', 9)} | {share('restored', 8)} | {s['seconds']:6.1f}",
                  file=out)
    print("(offered: a candidate passed the checks; fixed: the tests pass with the first "
          "offered fix; fixed any: with one of them; restored: the first offered fix is the "
          "original function; mean s: candidates + checks per mutant)", file=out)
    for name in result["settings"]:
        verdicts: Counter[str] = Counter()
        for r in rows:
            verdicts.update(verdict_kind(reason) for reason in r[name]["reasons"])
        none = sum(not r[name]["candidates"] for r in rows)
        print(f"{name} candidates: " + ", ".join(f"{k} {v}" for k, v in verdicts.most_common())
              + f"; mutants with no candidate at all (unfinished functions, time out) {none}",
              file=out)
    print(f"mean time per mutant, all settings and test runs: "
          f"{result['mean_seconds_per_mutant']:.1f} s; {result['test_runs']} test runs took "
          f"{result['test_seconds']:.0f} s", file=out)
    print("\nmutants:", file=out)
    for r in rows:
        marks = ", ".join(f"{n}: {outcome(r[n])}" for n in result["settings"])
        print(f"  {r['kind']:15} {r['rel']}:{r['line'] + 1} {r['function']}: "
              f"{r['old']!r} -> {r['new']!r}   [{marks}]", file=out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?", default="/tmp/itsdangerous")
    parser.add_argument("--mutants", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--no-adapter", action="store_true", help="base model only")
    parser.add_argument("--candidates", type=int, default=3,
                        help="as the server asks (repair.candidates)")
    parser.add_argument("--timeout", type=float, default=45.0,
                        help="seconds for a mutant's candidates per setting (the server's "
                             "repair.timeoutMs is 90 s: pass 90 to match it, twice as long)")
    parser.add_argument("--locate", action="store_true",
                        help="send a diagnostic at the mutated text (as a test runner's "
                             "would be), so the greedy candidate must change it there")
    parser.add_argument("--package", help="mutate src/PACKAGE/*.py (default: the repo's name)")
    parser.add_argument("--tests", default="tests", help="what pytest runs")
    parser.add_argument("--skip", nargs="*", default=[], help="files not to mutate (rel paths)")
    parser.add_argument("--max-lines", type=int, default=40,
                        help="longest function mutated (the repair rewrites it whole)")
    parser.add_argument("--test-timeout", type=float, default=120.0)
    parser.add_argument("--json", action="store_true",
                        help="one JSON object on stdout (the table goes to stderr)")
    args = parser.parse_args()
    result = run(args)
    report(result, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result))
    return 0 if result["rows"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
