"""Feature extraction on golden functions: what a hint's reasons are built from."""

from __future__ import annotations

import math
import textwrap

import pytest

from selector.perf.features import FEATURE_NAMES, FunctionFeatures, extract_source
from selector.perf.labels import program_features


def one(source: str, name: str | None = None) -> FunctionFeatures:
    funcs = extract_source(textwrap.dedent(source))
    if name is None:
        return funcs[0]
    return next(f for f in funcs if f.qualname == name)


def nonzero(f: FunctionFeatures) -> dict[str, float]:
    return {n: float(v) for n, v in zip(FEATURE_NAMES, f.vector, strict=True) if v}


def test_list_membership_in_a_nested_loop_is_counted_at_its_depth() -> None:
    f = one("""
        def common(items, others):
            out = []
            for x in items:
                for y in others:
                    if x in out:
                        continue
                    out.append(y)
            return out
    """)
    assert f.get("max_depth") == 2
    assert f.get("loops_d1") == 1 and f.get("loops_d2") == 1
    assert f.get("member_list_d2") == 1
    assert f.get("member_list_d0") == f.get("member_list_d1") == 0
    assert f.get("append_d2") == 1
    assert f.evidence["member_list"] == ["out"]
    assert f.evidence["nesting"] == ["others"]  # the iterable of the inner loop


@pytest.mark.parametrize(("setup", "feature"), [
    ("seen = set()", "member_hash_d1"),
    ("seen = {}", "member_hash_d1"),
    ("seen = [1, 2]", "member_list_d1"),
    ("seen = list(items)", "member_list_d1"),
    ("seen = sorted(items)", "member_list_d1"),
    ("seen = 'abc'", "member_str_d1"),
    ("seen = make()", "member_unknown_d1"),
])
def test_membership_is_classified_by_the_container_kind(setup: str, feature: str) -> None:
    f = one(f"""
        def g(items):
            {setup}
            n = 0
            for x in items:
                if x in seen:
                    n += 1
            return n
    """)
    members = {k: v for k, v in nonzero(f).items() if k.startswith("member_")}
    assert members == {feature: 1.0}


def test_annotations_and_appends_give_the_kind_of_a_parameter() -> None:
    f = one("""
        def g(items: list[int], keys: set[int], other):
            other.append(1)
            for x in items:
                if x in keys and x in items and x in other:
                    pass
    """)
    assert f.get("member_hash_d1") == 1
    assert f.get("member_list_d1") == 2  # `items` by its annotation, `other` by .append


def test_string_building_sorting_and_linear_calls_inside_a_loop() -> None:
    f = one("""
        def render(rows):
            text = ""
            for row in rows:
                text += str(row)
                best = sorted(rows)
                total = sum(rows)
            return ", ".join(best) + text
    """)
    assert f.get("str_concat_d1") == 1
    assert f.get("sort_d1") == 1
    assert f.get("linear_d1") == 1
    assert f.get("join_d0") == 1
    assert f.evidence["str_concat"] == ["text"]


def test_a_comprehension_is_one_more_loop_level() -> None:
    f = one("""
        def g(items, others):
            for x in items:
                hits = [y for y in others if y in items]
    """)
    assert f.get("max_depth") == 2
    assert f.get("comp_d1") == 1
    assert f.get("member_unknown_d2") == 1  # the condition runs per element of `others`
    assert f.evidence["nesting"] == ["others"]


def test_literal_ranges_give_trip_counts_and_data_loops_do_not() -> None:
    f = one("""
        def g(items):
            for i in range(1000):
                for x in items:
                    pass
    """)
    assert f.get("literal_loops") == 1 and f.get("data_loops") == 1
    assert f.get("literal_trip_log") == pytest.approx(math.log2(1001))
    assert f.get("data_depth") == 1 and f.get("max_depth") == 2


def test_front_inserts_regex_numpy_and_recursion() -> None:
    f = one("""
        import re
        import numpy as np
        def walk(node, queue):
            while queue:
                queue.pop(0)
                queue.insert(0, node)
                re.compile("a+")
                np.sum(queue)
            return walk(node.child, queue)
    """)
    assert f.get("while_loops") == 1
    assert f.get("front_op_d1") == 2
    assert f.get("regex_d1") == 1
    assert f.get("vector_d1") == 1
    assert f.get("recursion_d0") == 1


def test_each_function_has_its_own_features_and_a_qualified_name() -> None:
    funcs = extract_source(textwrap.dedent("""
        class Box:
            def method(self, items):
                def inner(xs):
                    for a in xs:
                        for b in xs:
                            pass
                return inner(items)
    """))
    by_name = {f.qualname: f for f in funcs}
    assert set(by_name) == {"Box.method", "Box.method.inner"}
    assert by_name["Box.method.inner"].get("max_depth") == 2
    # the method calls `inner`, so inner's loops run in the method too
    assert by_name["Box.method"].get("loops") == 2


def test_a_nested_function_counts_where_it_is_called_and_only_there() -> None:
    funcs = extract_source(textwrap.dedent("""
        def indent(text, prefix):
            def prefixed_lines():
                for line in text.splitlines(True):
                    yield prefix + line
            return ''.join(prefixed_lines())


        def per_row(rows):
            def scan(row):
                return [c for c in row if c in rows]
            for row in rows:
                scan(row)


        def decorator(func):
            def wrapper(*args):
                for a in args:
                    for b in args:
                        pass
                return func(*args)
            return wrapper


        def recursive_helper(n):
            def walk(k):
                return walk(k - 1) if k else 0
            return walk(n)
    """))
    by_name = {f.qualname: f for f in funcs}
    assert by_name["indent"].get("loops_d1") == 1  # the generator's loop, run by join
    assert by_name["per_row"].get("comp_d1") == 1  # called in a loop: one level deeper
    assert by_name["per_row"].get("max_depth") == 2
    assert by_name["decorator"].get("loops") == 0  # the wrapper is returned, not run
    assert by_name["recursive_helper"].get("stmts") >= 1  # a self-calling helper ends


def test_generated_programs_go_through_the_same_extractor() -> None:
    source = "def f(items: list[int]):\n    acc = 0\n    for i0 in items:\n" \
             "        if i0 in items:\n            acc += 1\n    return (acc,)\n"
    assert (program_features(source) == extract_source(source)[0].vector).all()
    assert program_features(source)[FEATURE_NAMES.index("member_list_d1")] == 1
