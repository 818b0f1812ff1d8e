"""A function's AST as a fixed-length vector of named, countable features.

Why counts per loop depth: runtime grows with the work done inside loops, and the same
operation costs N times more one loop deeper. So every operation kind (a membership test on
a list, string building, a sort, ...) is counted separately at depth 0, 1, 2 and 3+, where
depth counts the enclosing `for`/`while` loops and comprehension generators. Loop structure
(how many loops at each depth, over data or over literal ranges, literal trip counts) has
its own features.

The same extractor runs on generated training programs and on the user's functions, so the
predictor learns on exactly the representation it is later asked about. Besides the vector,
each function keeps `evidence`: short source snippets (loop iterables, container names) per
feature group, used only to phrase the reasons of a hint: `<group>` for what sits inside
loops, `<group>@0` outside them, `nesting` for the iterables of inner loops and `loop` for
those of outermost loops.

Container kinds come from a small local inference: a name assigned a list/set/dict/str
display, comprehension or constructor, annotated with such a type, or used with
`.append`/`.add`. Anything else is "unknown".
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

DEPTHS = ("d0", "d1", "d2", "d3")

# Operation kinds counted per depth. The first block is "generic work" whose cost is mostly
# set by how deep it sits (grouped with loop structure for attribution); the rest are
# data-structure operations with their own reasons.
GENERIC_OPS = ("call", "arith", "subscript", "attr", "compare", "branch", "store", "alloc",
               "format", "try", "yield")
SPECIFIC_OPS = ("member_list", "member_hash", "member_str", "member_unknown", "append",
                "str_concat", "list_concat", "sort", "linear", "front_op", "join", "comp",
                "regex", "vector", "recursion")
OPS = GENERIC_OPS + SPECIFIC_OPS

LOOP_FEATURES = ("stmts", "loops", "while_loops", "max_depth", "data_depth",
                 "loops_d1", "loops_d2", "loops_d3", "data_loops", "literal_loops",
                 "literal_trip_log", "max_literal_log")

# Bumped when the same source gives other counts (2: nested functions count where called),
# so caches of extracted features (the pre-training corpus) are rebuilt.
EXTRACTOR_VERSION = 2

FEATURE_NAMES: tuple[str, ...] = LOOP_FEATURES + tuple(f"{op}_{d}" for op in OPS for d in DEPTHS)
INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}

# Attribution groups: ablating a group replaces all its features at once.
GROUPS: dict[str, tuple[str, ...]] = {
    "nesting": LOOP_FEATURES + tuple(f"{op}_{d}" for op in GENERIC_OPS for d in DEPTHS),
    **{op: tuple(f"{op}_{d}" for d in DEPTHS) for op in SPECIFIC_OPS},
}

_LIST_ANN = {"list", "List", "Sequence", "MutableSequence", "tuple", "Tuple", "deque"}
_SET_ANN = {"set", "Set", "frozenset", "FrozenSet", "AbstractSet", "MutableSet"}
_DICT_ANN = {"dict", "Dict", "Mapping", "MutableMapping", "defaultdict", "OrderedDict",
             "Counter"}
_LIST_CTORS = {"list", "sorted", "tuple", "reversed"}
_SET_CTORS = {"set", "frozenset"}
_DICT_CTORS = {"dict", "defaultdict", "OrderedDict", "Counter"}
_STR_CTORS = {"str", "repr", "format", "chr"}
_LINEAR_BUILTINS = {"sum", "min", "max", "any", "all", "list", "tuple", "set", "frozenset",
                    "dict", "reversed", "enumerate_list", "bytes", "bytearray"}
_LINEAR_METHODS = {"index", "count", "remove", "copy", "find", "rfind", "split", "replace",
                   "strip", "lower", "upper", "startswith_all", "splitlines", "encode",
                   "decode", "values_list", "extend", "rindex"}
_SORT_METHODS = {"sort"}
_REGEX_FUNCS = {"compile", "match", "search", "findall", "finditer", "sub", "split",
                "fullmatch", "subn"}
_VECTOR_MODULES = {"np", "numpy", "torch", "pd", "pandas", "scipy", "jnp", "math_np"}

DATA_TRIPS = 64  # assumed trip count of a loop over data of unknown size (for ordering only)


@dataclass
class FunctionFeatures:
    """One function: its name, where the name is, the feature vector and evidence."""

    name: str
    qualname: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    vector: np.ndarray
    evidence: dict[str, list[str]] = field(default_factory=dict)

    def get(self, feature: str) -> float:
        return float(self.vector[INDEX[feature]])


def _ann_kind(ann: ast.expr | None) -> str | None:
    if ann is None:
        return None
    node = ann.value if isinstance(ann, ast.Subscript) else ann
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
    if name in _LIST_ANN:
        return "list"
    if name in _SET_ANN:
        return "hash"
    if name in _DICT_ANN:
        return "hash"
    if name == "str":
        return "str"
    return None


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _expr_kind(expr: ast.expr, kinds: dict[str, str]) -> str | None:
    """The container kind of an expression, when the expression alone says it."""
    if isinstance(expr, ast.List | ast.ListComp | ast.Tuple):
        return "list"
    if isinstance(expr, ast.Set | ast.SetComp | ast.Dict | ast.DictComp):
        return "hash"
    if isinstance(expr, ast.JoinedStr):
        return "str"
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str | bytes):
        return "str"
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mult | ast.Add):
        return _expr_kind(expr.left, kinds) or _expr_kind(expr.right, kinds)
    if isinstance(expr, ast.Name):
        return kinds.get(expr.id)
    if isinstance(expr, ast.Call):
        name = _call_name(expr)
        if isinstance(expr.func, ast.Name):
            if name in _LIST_CTORS:
                return "list"
            if name in _SET_CTORS or name in _DICT_CTORS:
                return "hash"
            if name in _STR_CTORS:
                return "str"
        elif isinstance(expr.func, ast.Attribute):
            if name in {"split", "splitlines", "readlines"}:
                return "list"
            if name in {"join", "format", "lower", "upper", "strip", "replace"}:
                return "str"
            if name in _DICT_CTORS:
                return "hash"
    return None


def _infer_kinds(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, str]:
    """name -> "list" | "hash" | "str" for the function's locals and parameters."""
    kinds: dict[str, str] = {}
    args = fn.args
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
        kind = _ann_kind(arg.annotation)
        if kind:
            kinds[arg.arg] = kind
    for node in walk_own(fn):
        if isinstance(node, ast.Assign):
            kind = _expr_kind(node.value, kinds)
            for target in node.targets:
                if isinstance(target, ast.Name) and kind:
                    kinds[target.id] = kind
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            kind = _ann_kind(node.annotation) or (
                _expr_kind(node.value, kinds) if node.value else None)
            if kind:
                kinds[node.target.id] = kind
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name)
              and node.func.value.id not in kinds):
            if node.func.attr in {"append", "insert", "pop", "extend"}:
                kinds[node.func.value.id] = "list"
            elif node.func.attr == "add":
                kinds[node.func.value.id] = "hash"
    return kinds


def walk_own(fn: ast.AST) -> Iterator[ast.AST]:
    """ast.walk that does not enter nested function or class definitions."""
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef |
                          ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def _literal_trips(iterable: ast.expr) -> int | None:
    """Trip count of `range(<literals>)` or of a literal display; None for data."""
    if isinstance(iterable, ast.List | ast.Tuple | ast.Set):
        return len(iterable.elts)
    if (isinstance(iterable, ast.Constant) and isinstance(iterable.value, str)):
        return len(iterable.value)
    if (isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name)
            and iterable.func.id == "range" and iterable.args
            and all(isinstance(a, ast.Constant) and isinstance(a.value, int)
                    for a in iterable.args)):
        vals = [int(a.value) for a in iterable.args
                if isinstance(a, ast.Constant) and isinstance(a.value, int)]
        if len(vals) == 1:
            return max(0, vals[0])
        step = vals[2] if len(vals) > 2 and vals[2] else 1
        return max(0, (vals[1] - vals[0]) // step)
    return None


def _snippet(node: ast.AST, limit: int = 40) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Extractor(ast.NodeVisitor):
    """One pass over a function body, tracking loop depth."""

    def __init__(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.fn = fn
        self.kinds = _infer_kinds(fn)
        # functions defined in this one (met before they are called, as Python runs them):
        # a call to one by name runs its body there
        self.local_defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.inlining: set[str] = set()
        self.counts = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
        self.evidence: dict[str, list[str]] = {}
        self.depth = 0
        self.data_depth = 0

    # -- helpers -----------------------------------------------------------------------
    def add(self, op: str, detail: str | None = None) -> None:
        bucket = DEPTHS[min(self.depth, 3)]
        self.counts[INDEX[f"{op}_{bucket}"]] += 1
        if detail is not None:  # reasons name what sits in loops; the rest is a fallback
            self.note(op if self.depth > 0 else f"{op}@0", detail)

    def note(self, group: str, detail: str) -> None:
        items = self.evidence.setdefault(group, [])
        if detail not in items and len(items) < 8:
            items.append(detail)

    def bump(self, feature: str, value: float = 1.0) -> None:
        self.counts[INDEX[feature]] += value

    def loop(self, iterable: ast.expr | None, body: list[ast.AST], is_while: bool = False,
             detail: str | None = None) -> None:
        """Count one loop level, then visit `body` one level deeper."""
        trips = None if iterable is None else _literal_trips(iterable)
        self.bump("loops")
        if is_while:
            self.bump("while_loops")
        level = min(self.depth + 1, 3)
        self.bump(f"loops_d{level}")
        if trips is None:
            self.bump("data_loops")
        else:
            self.bump("literal_loops")
            log_trips = math.log2(trips + 1)
            self.bump("literal_trip_log", log_trips)
            cur = self.counts[INDEX["max_literal_log"]]
            self.counts[INDEX["max_literal_log"]] = max(cur, log_trips)
        shown = detail or (_snippet(iterable) if iterable is not None else None)
        if shown:
            self.note("nesting" if self.depth >= 1 else "loop", shown)
        self.depth += 1
        if trips is None:
            self.data_depth += 1
        self.counts[INDEX["max_depth"]] = max(self.counts[INDEX["max_depth"]], self.depth)
        self.counts[INDEX["data_depth"]] = max(self.counts[INDEX["data_depth"]],
                                               self.data_depth)
        for node in body:
            self.visit(node)
        self.depth -= 1
        if trips is None:
            self.data_depth -= 1

    # -- statements --------------------------------------------------------------------
    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt):
            self.bump("stmts")
        super().generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.bump("stmts")  # a nested definition is one statement; its body counts where called
        self.local_defs[node.name] = node
        for name, kind in _infer_kinds(node).items():
            self.kinds.setdefault(name, kind)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.bump("stmts")

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.add("call")

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.bump("stmts")
        self.visit(node.iter)
        self.loop(node.iter, [node.target, *node.body])
        for stmt in node.orelse:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_While(self, node: ast.While) -> None:
        self.bump("stmts")
        # `while i < 100:` counts like `for i in range(100)`; other conditions like data
        test = node.test
        bound = None
        if (isinstance(test, ast.Compare) and len(test.ops) == 1
                and isinstance(test.ops[0], ast.Lt | ast.LtE)
                and isinstance(test.comparators[0], ast.Constant)
                and isinstance(test.comparators[0].value, int)):
            bound = ast.Call(ast.Name("range", ast.Load()), [test.comparators[0]], [])
        self.loop(bound, [node.test, *node.body], is_while=True,
                  detail=f"while {_snippet(node.test)}")
        for stmt in node.orelse:
            self.visit(stmt)

    def visit_If(self, node: ast.If) -> None:
        self.add("branch")
        self.generic_visit(node)

    def visit_Try(self, node: ast.Try | ast.TryStar) -> None:
        self.add("try")
        self.generic_visit(node)

    visit_TryStar = visit_Try

    def visit_Assign(self, node: ast.Assign) -> None:
        self._concat_check(node.targets, node.value)
        if any(isinstance(t, ast.Subscript) for t in node.targets):
            self.add("store")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        target = node.target
        if (isinstance(node.op, ast.Add) and isinstance(target, ast.Name)
                and (self.kinds.get(target.id) == "str"
                     or _expr_kind(node.value, self.kinds) == "str")):
            self.add("str_concat", target.id)
        elif isinstance(target, ast.Subscript):
            self.add("store")
        else:
            self.add("arith")
        self.generic_visit(node)

    def _concat_check(self, targets: list[ast.expr], value: ast.expr) -> None:
        """`s = s + x` on a string or a list copies the whole accumulator every time."""
        if not (isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add)):
            return
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        left = value.left
        if isinstance(left, ast.BinOp):  # s = s + a + b
            while isinstance(left, ast.BinOp):
                left = left.left
        if isinstance(left, ast.Name) and left.id in names:
            kind = self.kinds.get(left.id) or _expr_kind(value.right, self.kinds)
            if kind == "str":
                self.add("str_concat", left.id)
            elif kind == "list":
                self.add("list_concat", left.id)

    def visit_Return(self, node: ast.Return) -> None:
        self.bump("stmts")
        self.generic_visit(node)

    # -- expressions -------------------------------------------------------------------
    def visit_BinOp(self, node: ast.BinOp) -> None:
        self.add("arith")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.slice, ast.Slice) and isinstance(node.ctx, ast.Load):
            self.add("linear", "slice")
        else:
            self.add("subscript")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.add("attr")
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        for op, right in zip(node.ops, node.comparators, strict=False):
            if isinstance(op, ast.In | ast.NotIn):
                self._membership(right)
            else:
                self.add("compare")
        self.generic_visit(node)

    def _membership(self, container: ast.expr) -> None:
        if isinstance(container, ast.List | ast.Tuple | ast.Set | ast.Dict):
            # A small literal display: CPython folds it into a constant; cheap.
            self.add("member_hash")
            return
        kind = _expr_kind(container, self.kinds)
        if isinstance(container, ast.Call) and _call_name(container) in {"keys"}:
            kind = "hash"
        op = {"list": "member_list", "hash": "member_hash", "str": "member_str"}.get(
            kind or "", "member_unknown")
        self.add(op, _snippet(container))

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self.add("format")
        self.generic_visit(node)

    def visit_List(self, node: ast.List) -> None:
        if isinstance(node.ctx, ast.Load):
            self.add("alloc")
        self.generic_visit(node)

    def visit_Set(self, node: ast.Set | ast.Dict) -> None:
        self.add("alloc")
        self.generic_visit(node)

    visit_Dict = visit_Set

    def visit_Yield(self, node: ast.Yield | ast.YieldFrom) -> None:
        self.add("yield")
        self.generic_visit(node)

    visit_YieldFrom = visit_Yield

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp |
                       ast.GeneratorExp, elements: list[ast.expr]) -> None:
        self.add("comp", _snippet(node.generators[0].iter))
        for gen in node.generators:
            self.visit(gen.iter)  # the first at the outer depth, later ones one level in
            trips = _literal_trips(gen.iter)
            # enter one loop level per generator
            self.bump("loops")
            self.bump(f"loops_d{min(self.depth + 1, 3)}")
            self.bump("data_loops" if trips is None else "literal_loops")
            if trips is not None:
                self.bump("literal_trip_log", math.log2(trips + 1))
            self.note("nesting" if self.depth >= 1 else "loop", _snippet(gen.iter))
            self.depth += 1
            if trips is None:
                self.data_depth += 1
            self.counts[INDEX["max_depth"]] = max(self.counts[INDEX["max_depth"]], self.depth)
            self.counts[INDEX["data_depth"]] = max(self.counts[INDEX["data_depth"]],
                                                   self.data_depth)
            for cond in gen.ifs:
                self.visit(cond)
        for elt in elements:
            self.visit(elt)
        for gen in reversed(node.generators):
            self.depth -= 1
            if _literal_trips(gen.iter) is None:
                self.data_depth -= 1

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self._comprehension(node, [node.elt])

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self._comprehension(node, [node.elt])

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = _call_name(node)
        owner = func.value if isinstance(func, ast.Attribute) else None
        owner_name = owner.id if isinstance(owner, ast.Name) else None
        if name == self.fn.name and (isinstance(func, ast.Name) or owner_name == "self"):
            self.add("recursion")
        elif owner_name == "re" and name in _REGEX_FUNCS:
            self.add("regex", _snippet(node, 30))
        elif owner_name in _VECTOR_MODULES:
            self.add("vector")
        elif isinstance(func, ast.Name) and name == "sorted":
            self.add("sort", _snippet(node.args[0]) if node.args else None)
        elif isinstance(func, ast.Attribute) and name in _SORT_METHODS:
            self.add("sort", _snippet(func.value))
        elif isinstance(func, ast.Attribute) and name == "join":
            self.add("join")
        elif isinstance(func, ast.Attribute) and name in {"append", "add", "appendleft"}:
            self.add("append", _snippet(func.value))
        elif (isinstance(func, ast.Attribute) and name in {"insert", "pop"} and node.args
              and isinstance(node.args[0], ast.Constant) and node.args[0].value == 0):
            self.add("front_op", _snippet(func.value))
        elif isinstance(func, ast.Attribute) and name in _LINEAR_METHODS:
            self.add("linear", f"{_snippet(func.value, 20)}.{name}()")
        elif isinstance(func, ast.Name) and name in _LINEAR_BUILTINS and node.args:
            self.add("linear", f"{name}()")
        else:
            self.add("call")
        self.generic_visit(node)
        if isinstance(func, ast.Name) and name in self.local_defs and \
                name not in self.inlining:
            self.inline(self.local_defs[name])

    def inline(self, nested: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """The body of a nested function called here, counted at the call's depth: a helper
        generator consumed by `join` runs its loop in the caller (once per call site)."""
        self.inlining.add(nested.name)
        for stmt in nested.body:
            self.visit(stmt)
        self.inlining.discard(nested.name)


def extract_function(fn: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str | None = None,
                     ) -> FunctionFeatures:
    """Features of one function definition: its body, and the body of each nested function
    where it calls one by name (a nested definition that is only returned or passed on, a
    decorator's wrapper, does not run here and is not counted)."""
    ex = _Extractor(fn)
    for stmt in fn.body:
        ex.visit(stmt)
    return FunctionFeatures(name=fn.name, qualname=qualname or fn.name, node=fn,
                            vector=ex.counts, evidence=ex.evidence)


def iter_functions(tree: ast.AST) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(qualified name, node) for every function in a module, methods and nested ones too."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.FunctionDef |
                                                           ast.AsyncFunctionDef]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                qual = f"{prefix}{child.name}"
                yield qual, child
                yield from walk(child, qual + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def extract_source(source: str) -> list[FunctionFeatures]:
    """Features of every function in a module's source (raises SyntaxError)."""
    tree = ast.parse(source)
    return [extract_function(fn, qual) for qual, fn in iter_functions(tree)]
