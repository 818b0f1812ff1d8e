"""Golden cases for suggestion clean-up, phrased as what the user would see."""

from __future__ import annotations

import random

import pytest

from adapters.postprocess import Mode, decide_mode, postprocess, stop_index


@pytest.mark.parametrize(
    ("prefix", "suffix", "multiline", "expected"),
    [
        pytest.param("def add(a, b):", "\n", "auto", "block", id="end-of-python-opener"),
        pytest.param("def add(a, b):  # sum", "", "auto", "block", id="opener-with-comment"),
        pytest.param("function f() {", "\n}", "auto", "block", id="end-of-brace"),
        pytest.param("const f = () =>", "", "auto", "block", id="arrow"),
        pytest.param("x = foo(", "  \n", "auto", "block", id="open-paren-trailing-ws"),
        pytest.param("if x:\n    ", "\n", "auto", "block", id="first-line-in-new-block"),
        pytest.param("if x:\n\n", "", "auto", "block", id="blank-lines-after-opener"),
        pytest.param("print(foo(", "))\n", "auto", "line", id="mid-line"),
        pytest.param("x = 1", "\n", "auto", "line", id="plain-line-end"),
        pytest.param("x = 1\n    ", "\n", "auto", "line", id="blank-line-no-opener"),
        pytest.param('s = "a:', '"', "auto", "line", id="colon-inside-string-mid-line"),
        pytest.param('s = "{"', "", "auto", "line", id="brace-inside-string"),
        pytest.param("def f(): # todo:", "", "auto", "block", id="colon-only-in-comment-ignored"),
        pytest.param("x = 1 # note:", "", "auto", "line", id="comment-colon-not-opener"),
        pytest.param("def f():", "", "never", "line", id="never"),
        pytest.param("x = 1", "rest", "always", "block", id="always"),
        pytest.param("", "", "auto", "line", id="empty"),
    ],
)
def test_decide_mode(prefix: str, suffix: str, multiline: str, expected: Mode) -> None:
    assert decide_mode(prefix, suffix, multiline) == expected


@pytest.mark.parametrize(
    ("generated", "prefix", "suffix", "mode", "expected"),
    [
        pytest.param(
            "    return a + b\n\ndef sub(a, b):\n",
            "def add(a, b):\n",
            "",
            "block",
            "    return a + b",
            id="block-ends-at-dedent",
        ),
        pytest.param(
            "\n    total = a + b\n    return total\n\n\n    x = 1\n",
            "def add(a, b):",
            "",
            "block",
            "\n    total = a + b\n    return total",
            id="block-ends-at-two-blank-lines",
        ),
        pytest.param(
            "\n    if a:\n        return 1\n\n    return 2\nprint(3)\n",
            "def f(a):",
            "",
            "block",
            "\n    if a:\n        return 1\n\n    return 2",
            id="nested-block-and-single-blank-kept",
        ),
        pytest.param(
            "\n  return 1;\n}\nfunction g() {\n",
            "function f() {",
            "",
            "block",
            "\n  return 1;\n}",
            id="closing-brace-kept-in-block",
        ),
        pytest.param(
            "\n  a();\n} else {\n  b();\n}\nfoo();\n",
            "if (x) {",
            "",
            "block",
            "\n  a();\n} else {\n  b();\n}",
            id="else-branch-continues-block",
        ),
        pytest.param(
            "\n  return 1;\n}\n",
            "function f() {",
            "\n}\n",
            "block",
            "\n  return 1;",
            id="auto-closed-brace-not-repeated",
        ),
        pytest.param(
            "\r\n    return a + b\r\n\r\ndef sub(a, b):\r\n",
            "def add(a, b):",
            "\r\n",
            "block",
            "\r\n    return a + b",
            id="crlf-block",
        ),
        pytest.param(
            "\treturn a\n\nx = 1\n",
            "def f(a):\n",
            "",
            "block",
            "\treturn a",
            id="tab-indented-block",
        ),
        pytest.param("x))\nprint(1)", "print(foo(", "))\n", "line", "x", id="mid-line-overlap"),
        pytest.param("x)\nprint(1)", "print(foo(", "))\n", "line", "x", id="extra-closer-dropped"),
        pytest.param("foo()", "print(", ")", "line", "foo()", id="own-parens-kept"),
        pytest.param('hi")', 'print("', '")', "line", "hi", id="quote-and-paren-overlap"),
        pytest.param(" > 0:\n", "if x", ":", "line", " > 0", id="colon-overlap"),
        pytest.param("a + ", "return ", "b", "line", "a + ", id="space-before-suffix-kept"),
        pytest.param(
            "value  # the value\n", "x = ", "  # the value", "line", "value", id="comment-overlap"
        ),
        pytest.param("rue", "x = t", "e", "line", "rue", id="no-identifier-split"),
        pytest.param(" text", "    return ", "\n", "line", "text", id="typed-space-not-doubled"),
        pytest.param(" 1", "x =\t", "", "line", "1", id="typed-tab-not-doubled"),
        pytest.param("    return 1", "def f():\n    ", "", "block", "    return 1",
                     id="indentation-only-line-untouched"),
        pytest.param(
            "foo(1,\n    2,\n    3)\nbar()\n",
            "x = ",
            "",
            "line",
            "foo(1,\n    2,\n    3)",
            id="multi-line-call-until-balanced",
        ),
        pytest.param(
            "\n    return x\nfoo()\n", "def f(x):", "", "line", "\n    return x", id="next-line"
        ),
        pytest.param("   \n\t\n", "x = 1", "", "line", "", id="whitespace-only"),
        pytest.param("", "", "", "line", "", id="empty"),
        pytest.param("foo()", "foo()\n", "", "line", "", id="single-line-repeat-of-line-above"),
        pytest.param(
            "    y = 2\n    y = 2\n    y = 2\n",
            "def f():\n    x = 1\n",
            "",
            "block",
            "    y = 2",
            id="repetition-loop",
        ),
        pytest.param(
            "\n    x = 1\n    return x\n",
            "def f():\n    x = 1",
            "",
            "block",
            "",
            id="block-repeating-line-above",
        ),
        pytest.param(
            "y = 2\n    return x\n",
            "def f(x):\n    ",
            "\n    return x\n",
            "block",
            "y = 2",
            id="suffix-next-line-not-repeated",
        ),
        pytest.param(
            "x = 1\n",
            "if a:\n    x = 1\n",
            "",
            "line",
            "x = 1",
            id="same-text-other-indent-kept",
        ),
        pytest.param(
            '"naïve ✓")\nnext',
            "print(",
            "",
            "line",
            '"naïve ✓")',
            id="unicode",
        ),
    ],
)
def test_postprocess(generated: str, prefix: str, suffix: str, mode: Mode, expected: str) -> None:
    assert postprocess(generated, prefix, suffix, mode) == expected


@pytest.mark.parametrize(
    ("generated", "prefix", "mode", "expected"),
    [
        pytest.param(
            "    return a + b\n\ndef su", "def add(a, b):\n", "block", None, id="partial-line"
        ),
        pytest.param(
            "    return a + b\n\ndef", "def add(a, b):\n", "block", None, id="partial-dedent"
        ),
        pytest.param("    return a", "def add(a, b):\n", "block", None, id="first-line-only"),
        pytest.param("    return a + b\n\ndef sub(\n", "def add(a, b):\n", "block", 16, id="ends"),
        pytest.param("foo(1,\n  2", "x = ", "line", None, id="inside-open-call"),
        pytest.param("foo(1)\nbar", "x = ", "line", 6, id="balanced-line"),
        pytest.param("\n", "x = 1", "line", None, id="leading-newline-allowed"),
        pytest.param("\ny = 2\n", "x = 1", "line", 6, id="next-line-ends"),
        pytest.param('s = "(" + x\n', "", "line", 11, id="bracket-in-string-ignored"),
    ],
)
def test_stop_index(generated: str, prefix: str, mode: Mode, expected: int | None) -> None:
    assert stop_index(generated, prefix, "", mode) == expected


def test_line_continuation_is_capped_at_six_lines() -> None:
    generated = "f(\n" + "a,\n" * 10
    end = stop_index(generated, "x = ", "", "line")
    assert end is not None
    assert generated[:end].count("\n") == 5


def test_stop_index_agrees_with_postprocess_while_streaming() -> None:
    """Stopping early on the first non-None index must not change the final text."""
    prefix, generated = "def add(a, b):\n", "    return a + b\n\ndef sub(a, b):\n    return a - b\n"
    for n in range(len(generated) + 1):
        end = stop_index(generated[:n], prefix, "", "block")
        if end is not None:
            break
    assert end is not None
    assert postprocess(generated[:n], prefix, "", "block") == postprocess(
        generated, prefix, "", "block"
    )


def test_random_inputs_never_raise() -> None:
    rng = random.Random(1234)
    alphabet = "ab_ 1\t\n\r:;{}()[]\"'`#/\\=>é✓"
    modes: tuple[Mode, Mode] = ("line", "block")

    def rand() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))

    for _ in range(3000):
        generated, prefix, suffix = rand(), rand(), rand()
        assert (
            decide_mode(prefix, suffix, rng.choice(("auto", "always", "never", "bogus"))) in modes
        )
        for mode in modes:
            end = stop_index(generated, prefix, suffix, mode)
            assert end is None or 0 <= end <= len(generated)
            out = postprocess(generated, prefix, suffix, mode)
            assert out == "" or out.strip()
            # every rule only cuts: the end, or a space already typed from the start
            assert generated.startswith(out) or generated.lstrip(" \t").startswith(out)


def test_mid_line_suggestion_never_starts_a_new_line() -> None:
    # Cursor at the start of `import time`: a newline would split the user's line in two.
    prefix, suffix = "import os\n", "import time\n"
    generated = "\ndef max_retries(queue):\n    pass\n"
    mode = decide_mode(prefix, suffix, "auto")
    assert mode == "line"
    assert stop_index(generated, prefix, suffix, mode) == 0
    assert postprocess(generated, prefix, suffix, mode) == ""
    assert postprocess("import sys\nimport re", prefix, suffix, mode) == "import sys"
