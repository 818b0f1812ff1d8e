"""Random programs for labels: loop nests over data-structure operations.

In the spirit of the Tiramisu cost model's random program generator: a program is a
function `f` whose body is a random nest of loops (over its list/set/dict/str parameters, over
literal `range(K)`, `while` counters) with operations drawn from the kinds the feature
extractor knows (membership tests on lists and sets, string building with `+=` or `join`,
sorting, linear builtins, front inserts, comprehensions, regular expressions, numpy calls).
The programs read like ordinary Python on purpose: the predictor is trained on their
features and must transfer to real functions, computed by the same extractor.

Inputs are parameters whose size is `Program.size` (every list, set, dict and string has
`size` elements), so the same program can be timed at several sizes. `mutate` makes an
edited version of a program (one more loop level, a set replaced by a list, a sort moved
into a loop...), which gives realistic before/after pairs.

Everything is driven by a `random.Random`, so a seed reproduces the same programs.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field

DEFAULT_SIZE = 48

# Parameters a program may take: name -> (annotation, how the harness builds it).
PARAMS: dict[str, str] = {
    "items": "list[int]",
    "other": "list[int]",
    "keys": "set[int]",
    "table": "dict[int, int]",
    "text": "str",
    "words": "list[str]",
}

# Locals a program may use: name -> initialiser.
LOCALS: dict[str, str] = {
    "acc": "0",
    "seen": "[]",
    "seen_set": "set()",
    "out": "[]",
    "s": "''",
    "parts": "[]",
    "counts": "{}",
    "arr": "np.asarray(items)",
}

# Operation templates: kind -> list of (template, params used, locals used, cost class).
# `{v}` is the innermost loop variable (an int). Cost: "1" constant, "n" linear in the data
# size, "nlogn" a sort, "grow" linear in a local that grows with the iterations.
OPS: dict[str, list[tuple[str, tuple[str, ...], tuple[str, ...], str]]] = {
    "arith": [("acc += {v} * 3 % 7", (), ("acc",), "1"),
              ("acc ^= ({v} << 1) + 1", (), ("acc",), "1"),
              ("acc += abs({v} - 5)", (), ("acc",), "1")],
    "subscript": [("acc += items[{v} % len(items)]", ("items",), ("acc",), "1"),
                  ("acc += len(words[{v} % len(words)])", ("words",), ("acc",), "1")],
    "dict": [("acc += table.get({v}, 0)", ("table",), ("acc",), "1"),
             ("counts[{v} % 17] = counts.get({v} % 17, 0) + 1", (), ("counts",), "1")],
    "member_list": [("if {v} in items:\n    acc += 1", ("items",), ("acc",), "n"),
                    ("if {v} in other:\n    acc -= 1", ("other",), ("acc",), "n")],
    "member_grow": [("if {v} not in seen:\n    seen.append({v})", (), ("seen",), "grow")],
    "member_set": [("if {v} in keys:\n    acc += 1", ("keys",), ("acc",), "1"),
                   ("if {v} not in seen_set:\n    seen_set.add({v})", (), ("seen_set",), "1"),
                   ("if {v} in table:\n    acc += table[{v}]", ("table",), ("acc",), "1")],
    "member_str": [("if str({v}) in text:\n    acc += 1", ("text",), ("acc",), "n")],
    "append": [("out.append({v})", (), ("out",), "1"),
               ("seen_set.add({v} % 101)", (), ("seen_set",), "1")],
    "str_concat": [("s += str({v})", (), ("s",), "grow")],
    "join": [("parts.append(str({v}))", (), ("parts",), "1")],
    "list_concat": [("out = out + [{v}]", (), ("out",), "grow")],
    "sort": [("acc += sorted(items)[{v} % len(items)]", ("items",), ("acc",), "nlogn"),
             ("acc += sorted(other, reverse=True)[0]", ("other",), ("acc",), "nlogn")],
    "linear": [("acc += max(items)", ("items",), ("acc",), "n"),
               ("acc += sum(other)", ("other",), ("acc",), "n"),
               ("acc += items.count({v})", ("items",), ("acc",), "n"),
               ("acc += len(items[:])", ("items",), ("acc",), "n"),
               ("acc += text.find(str({v}))", ("text",), ("acc",), "n")],
    "front": [("out.insert(0, {v})", (), ("out",), "grow"),
              ("if out:\n    out.pop(0)", (), ("out",), "grow")],
    "comp": [("acc += len([y for y in items if y > {v}])", ("items",), ("acc",), "n"),
             ("acc += len({{y % 7 for y in other}})", ("other",), ("acc",), "n")],
    "regex": [("acc += len(re.findall(r'\\d+', text))", ("text",), ("acc",), "n"),
              ("acc += 1 if re.match(r'[a-z]+', words[{v} % len(words)]) else 0",
               ("words",), ("acc",), "1")],
    "vector": [("acc += int(arr.sum())", ("items",), ("acc", "arr"), "vec"),
               ("acc += int(np.dot(arr, arr))", ("items",), ("acc", "arr"), "vec")],
    "format": [("s2 = f'{{{v}}}-{{acc}}'\nacc += len(s2)", (), ("acc",), "1")],
}
_WEIGHTS = {"arith": 3, "subscript": 2, "dict": 2, "member_list": 2, "member_grow": 1,
            "member_set": 2, "member_str": 1, "append": 1, "str_concat": 1, "join": 1,
            "list_concat": 1, "sort": 1, "linear": 2, "front": 1, "comp": 1, "regex": 1,
            "vector": 1, "format": 1}

HEADERS = ("items", "other", "keys", "range_lit", "range_len", "while_lit", "words_idx")
_LITERAL_SIZES = (3, 8, 20, 50, 120, 300)


@dataclass
class Op:
    template: str
    params: tuple[str, ...]
    locals: tuple[str, ...]
    cost: str


@dataclass
class Loop:
    header: str
    literal: int = 0
    body: list[Op | Loop] = field(default_factory=list)


@dataclass
class Program:
    """A generated function: its body tree, input size, whether params are annotated."""

    body: list[Op | Loop]
    size: int = DEFAULT_SIZE
    annotate: bool = True
    seed: int = 0

    def source(self) -> str:
        return render(self)

    def cost(self) -> float:
        return estimate_cost(self.body, self.size)


def _loop_params(loop: Loop) -> tuple[str, ...]:
    return {"items": ("items",), "other": ("other",), "keys": ("keys",),
            "range_len": ("items",), "words_idx": ("words",)}.get(loop.header, ())


def _collect(body: list[Op | Loop], params: set[str], locs: set[str]) -> None:
    for node in body:
        if isinstance(node, Op):
            params.update(node.params)
            locs.update(node.locals)
        else:
            params.update(_loop_params(node))
            _collect(node.body, params, locs)


def _indent(text: str, level: int) -> list[str]:
    return ["    " * level + line for line in text.splitlines()]


def _render_body(body: list[Op | Loop], level: int, depth: int, lines: list[str]) -> None:
    var = f"i{depth - 1}" if depth else "len(acc_src)"
    for node in body:
        if isinstance(node, Op):
            lines.extend(_indent(node.template.format(v=var), level))
            continue
        v = f"i{depth}"
        if node.header in ("items", "other", "keys"):
            lines.append("    " * level + f"for {v} in {node.header}:")
        elif node.header == "range_lit":
            lines.append("    " * level + f"for {v} in range({node.literal}):")
        elif node.header == "range_len":
            lines.append("    " * level + f"for {v} in range(len(items)):")
        elif node.header == "words_idx":
            lines.append("    " * level + f"for {v}, w in enumerate(words):")
        else:  # while_lit
            lines.append("    " * level + f"{v} = 0")
            lines.append("    " * level + f"while {v} < {node.literal}:")
        inner: list[str] = []
        _render_body(node.body, level + 1, depth + 1, inner)
        if node.header == "while_lit":
            inner.append("    " * (level + 1) + f"{v} += 1")
        lines.extend(inner or ["    " * (level + 1) + "pass"])


def render(program: Program) -> str:
    """The program as module source defining `f(<params>)`."""
    params: set[str] = set()
    locs: set[str] = set()
    _collect(program.body, params, locs)
    body: list[str] = []
    _render_body(program.body, 1, 0, body)
    text = "\n".join(body)
    if "len(acc_src)" in text:  # depth-0 ops use the data size as their variable
        params.add("items")
        text = text.replace("len(acc_src)", "len(items)")
    if "arr" in locs:
        params.add("items")
    ordered = [p for p in PARAMS if p in params]
    sig = ", ".join(f"{p}: {PARAMS[p]}" if program.annotate else p for p in ordered)
    lines = ["import re", "import numpy as np", "", "", f"def f({sig}):"]
    lines += [f"    {name} = {LOCALS[name]}" for name in LOCALS if name in locs or name == "acc"]
    lines.append(text)
    if "parts" in locs:
        lines.append("    acc += len(''.join(parts))")
    ret = ["acc"] + [f"len({n})" for n in ("seen", "seen_set", "out", "s", "counts")
                     if n in locs]
    lines.append(f"    return ({', '.join(ret)},)")
    if "np." not in text and "arr" not in locs:
        lines = lines[:1] + lines[2:]  # no numpy import when unused (faster child start)
    if "re." not in text:
        lines = lines[1:]
    return "\n".join(lines).lstrip("\n") + "\n"


def _trips(loop: Loop, size: int) -> int:
    return loop.literal if loop.header in ("range_lit", "while_lit") else size


def estimate_cost(body: list[Op | Loop], size: int, mult: float = 1.0) -> float:
    """A rough count of basic steps, only to keep generated programs within the time limit."""
    total = 0.0
    for node in body:
        if isinstance(node, Loop):
            total += mult * _trips(node, size)
            total += estimate_cost(node.body, size, mult * _trips(node, size))
        else:
            per = {"1": 1.0, "n": size / 4, "nlogn": size * 2.0, "grow": min(mult, 5000) / 8,
                   "vec": 20.0}[node.cost]
            total += mult * per
    return total


# The step counts `static_steps` reports, after the estimated total: loop iterations, then
# operations by cost class (weighted by what one costs: a list scan `size`, a sort
# `size * log2(size)`, a growing local the iterations so far), executions by kind of
# operation, and iterations by kind of loop header.
STEP_CLASSES = ("loop", "1", "n", "nlogn", "grow", "vec")
STEP_NAMES = ("estimated_steps", *(f"class_{c}" for c in STEP_CLASSES),
              *(f"kind_{k}" for k in OPS), *(f"header_{h}" for h in HEADERS))
_KIND_OF = {template: kind for kind, entries in OPS.items() for template, *_ in entries}


def _count_steps(body: list[Op | Loop], size: int, mult: float, out: dict[str, float]) -> None:
    for node in body:
        if isinstance(node, Loop):
            trips = _trips(node, size)
            out["class_loop"] += mult * trips
            out[f"header_{node.header}"] += mult * trips
            _count_steps(node.body, size, mult * trips, out)
        else:
            per = {"1": 1.0, "n": float(size), "nlogn": size * math.log2(max(size, 2)),
                   "grow": min(mult, 5000.0), "vec": 1.0}[node.cost]
            out[f"class_{node.cost}"] += mult * per
            out[f"kind_{_KIND_OF[node.template]}"] += mult


def static_steps(program: Program) -> list[float]:
    """How much work the program does by its structure, counted without running it (log1p
    of each of `STEP_NAMES`).

    Why: these are free for every generated program, so pre-training can learn from them
    how loop nests multiply work, which the autoencoder's reconstruction alone does not
    teach; the measured runtimes then only have to calibrate what each step costs."""
    out = dict.fromkeys(STEP_NAMES, 0.0)
    out["estimated_steps"] = program.cost()
    _count_steps(program.body, program.size, 1.0, out)
    return [math.log1p(out[name]) for name in STEP_NAMES]


def _random_op(rng: random.Random) -> Op:
    kinds = list(_WEIGHTS)
    kind = rng.choices(kinds, weights=[_WEIGHTS[k] for k in kinds])[0]
    template, params, locs, cost = rng.choice(OPS[kind])
    return Op(template, params, locs, cost)


def _random_loop(rng: random.Random, depth: int, max_depth: int) -> Loop:
    header = rng.choice(HEADERS)
    literal = rng.choice(_LITERAL_SIZES) if header in ("range_lit", "while_lit") else 0
    loop = Loop(header, literal)
    for _ in range(rng.randint(1, 3)):
        loop.body.append(_random_op(rng))
    if depth + 1 < max_depth and rng.random() < 0.6:
        loop.body.insert(rng.randint(0, len(loop.body)), _random_loop(rng, depth + 1,
                                                                       max_depth))
    return loop


def random_program(rng: random.Random, size: int = DEFAULT_SIZE,
                   max_cost: float = 4e5) -> Program:
    """One random program whose estimated cost stays under `max_cost` steps."""
    while True:
        body: list[Op | Loop] = []
        for _ in range(rng.randint(0, 2)):
            body.append(_random_op(rng))
        for _ in range(rng.choice((1, 1, 1, 2))):
            body.append(_random_loop(rng, 0, rng.choice((1, 2, 2, 3, 3))))
        for _ in range(rng.randint(0, 1)):
            body.append(_random_op(rng))
        program = Program(body, size=size, annotate=rng.random() < 0.5,
                          seed=rng.randrange(2**31))
        if program.cost() <= max_cost:
            return program


def _all_loops(body: list[Op | Loop]) -> list[Loop]:
    found: list[Loop] = []
    for node in body:
        if isinstance(node, Loop):
            found.append(node)
            found.extend(_all_loops(node.body))
    return found


def _all_bodies(body: list[Op | Loop]) -> list[list[Op | Loop]]:
    found = [body]
    for loop in _all_loops(body):
        found.append(loop.body)
    return found


_SWAPS = {  # slow <-> fast rewrites a developer makes
    "if {v} in keys:\n    acc += 1": "if {v} in items:\n    acc += 1",
    "if {v} not in seen_set:\n    seen_set.add({v})": "if {v} not in seen:\n    seen.append({v})",
    "parts.append(str({v}))": "s += str({v})",
    "out.append({v})": "out.insert(0, {v})",
    "acc += table.get({v}, 0)": "acc += items.count({v})",
}
_SWAP_BACK = {v: k for k, v in _SWAPS.items()}


def _op_from_template(template: str) -> Op:
    for entries in OPS.values():
        for t, params, locs, cost in entries:
            if t == template:
                return Op(t, params, locs, cost)
    raise KeyError(template)


def mutate(program: Program, rng: random.Random, max_cost: float = 4e5) -> Program:
    """An edited copy: one change of the kind a developer makes to a function."""
    for _ in range(50):
        new = copy.deepcopy(program)
        loops = _all_loops(new.body)
        choice = rng.choice(("wrap", "unwrap", "swap", "swap", "literal", "add_op",
                             "drop_op", "hoist"))
        if choice == "wrap" and loops:  # a loop now nests inside another loop
            target = rng.choice(_all_bodies(new.body))
            idx = rng.randrange(len(target)) if target else 0
            if target:
                header = rng.choice(HEADERS)
                lit = rng.choice(_LITERAL_SIZES) if header in ("range_lit", "while_lit") else 0
                target[idx] = Loop(header, lit, [target[idx]])
        elif choice == "unwrap" and loops:  # a loop level removed
            for body in _all_bodies(new.body):
                idxs = [i for i, n in enumerate(body) if isinstance(n, Loop)]
                if idxs:
                    i = rng.choice(idxs)
                    node = body[i]
                    assert isinstance(node, Loop)
                    body[i:i + 1] = node.body
                    break
        elif choice == "swap":
            ops = [(b, i) for b in _all_bodies(new.body) for i, n in enumerate(b)
                   if isinstance(n, Op) and (n.template in _SWAPS or n.template in _SWAP_BACK)]
            if ops:
                body, i = rng.choice(ops)
                node = body[i]
                assert isinstance(node, Op)
                table = _SWAPS if node.template in _SWAPS else _SWAP_BACK
                body[i] = _op_from_template(table[node.template])
        elif choice == "literal":
            lits = [lp for lp in loops if lp.literal]
            if lits:
                rng.choice(lits).literal = rng.choice(_LITERAL_SIZES)
        elif choice == "add_op":
            body = rng.choice(_all_bodies(new.body))
            body.insert(rng.randint(0, len(body)), _random_op(rng))
        elif choice == "drop_op":
            bodies = [b for b in _all_bodies(new.body) if len(b) > 1]
            if bodies:
                b = rng.choice(bodies)
                b.pop(rng.randrange(len(b)))
        elif choice == "hoist":  # move an operation out of (or into) a loop
            with_ops = [lp for lp in loops if any(isinstance(n, Op) for n in lp.body)]
            if with_ops:
                lp = rng.choice(with_ops)
                op_idx = [i for i, n in enumerate(lp.body) if isinstance(n, Op)]
                op = lp.body.pop(rng.choice(op_idx))
                if not lp.body:
                    lp.body.append(op)
                else:
                    new.body.insert(0, op)
        if new.source() != program.source() and new.cost() <= max_cost:
            return new
    return program


def make_inputs_source(size: int, seed: int = 0) -> str:
    """Python source that builds the keyword arguments of `f` at `size` (run in the child)."""
    return (
        "import random as _r\n"
        f"_g = _r.Random({seed})\n"
        f"_n = {size}\n"
        "items = [_g.randrange(4 * _n) for _ in range(_n)]\n"
        "other = [_g.randrange(4 * _n) for _ in range(_n)]\n"
        "keys = set(_g.randrange(4 * _n) for _ in range(_n))\n"
        "table = {_g.randrange(4 * _n): _i for _i in range(_n)}\n"
        "text = ''.join(_g.choice('abc 0123456789') for _ in range(_n))\n"
        "words = [''.join(_g.choice('abcdef') for _ in range(5)) for _ in range(_n)]\n"
        "INPUTS = dict(items=items, other=other, keys=keys, table=table, text=text, "
        "words=words)\n"
    )
