"""The completion prompt: within budget, ending at the cursor, cheap on huge files, and
stable while the user types so the engine can reuse its KV cache."""

from __future__ import annotations

import random
import time

import pytest
from conftest import CharTokenizer

from adapters.prompt import Prompt, build_prompt, split_at


def long_file(lines: int = 4000, seed: int = 1) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        indent = " " * rng.choice([0, 4, 8])
        out.append(f"{indent}value_{i} = compute({'arg, ' * rng.randint(0, 12)})")
        if rng.random() < 0.1:
            out.append("")
    return "\n".join(out)


CONTEXT = [("pkg/util.py", "def util(x):\n    return x + 1\n" * 200),
           ("pkg/models.py", "class Model:\n    name: str\n" * 200)]


class Recorder(CharTokenizer):
    """Remembers the longest text it was asked to encode."""

    longest = 0

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        self.longest = max(self.longest, len(text))
        return super().__call__(text, add_special_tokens)


def prompt_for(tok: CharTokenizer, prefix: str, *, max_tokens: int = 1024,
               context: list[tuple[str, str]] | None = None, path: str = "pkg/main.py") -> Prompt:
    vocab = tok.get_vocab()
    return build_prompt(prefix=prefix, suffix="", path=path, repo_name="demo",
                        context=context or [], max_tokens=max_tokens, encode=tok.encode,
                        special={k: vocab[k] for k in ("<repo_name>", "<file_sep>")})


@pytest.mark.parametrize("max_tokens", [64, 200, 1024])
@pytest.mark.parametrize("with_context", [False, True])
def test_prompt_fits_the_budget_and_ends_at_the_cursor(tokenizer, max_tokens, with_context):
    text = long_file(600)
    for cursor in (0, 1, 50, 700, 5000, len(text) // 2, len(text)):
        prefix = text[:cursor]
        prompt = prompt_for(tokenizer, prefix, max_tokens=max_tokens,
                            context=CONTEXT if with_context else None)
        assert len(prompt.ids) <= max_tokens
        # The model sees the end of the prefix, cut at a line start: at least the whole
        # line the cursor is on when it fits.
        assert prefix.endswith(prompt.prefix_used)
        current_line = prefix[prefix.rfind("\n") + 1:]
        assert len(prompt.prefix_used) >= min(len(current_line), max_tokens // 2)
        tail = prefix[-min(20, len(prompt.prefix_used)):] if prompt.prefix_used else ""
        if tail:
            assert prompt.ids[-len(tail):] == tokenizer.encode(tail)
        decoded = tokenizer.decode(prompt.ids)
        assert decoded.startswith("<repo_name>demo")
        assert "<file_sep>pkg/main.py\n" in decoded


def test_prompt_ends_at_the_cursor_on_a_long_minified_line(tokenizer):
    prefix = "var a=1;" * 20_000
    prompt = prompt_for(tokenizer, prefix, max_tokens=256)
    assert len(prompt.ids) <= 256
    assert prompt.ids[-50:] == tokenizer.encode(prefix[-50:])


@pytest.mark.parametrize("shape", ["many-lines", "one-line"])
def test_huge_prefix_is_cut_quickly(shape):
    tok = Recorder()
    if shape == "many-lines":
        prefix = ("x = [1, 2, 3]  # filler line\n" * 200_000)[: 5 * 2**20]
    else:
        prefix = "a" * (5 * 2**20)
    started = time.perf_counter()
    prompt = prompt_for(tok, prefix, max_tokens=1024, context=CONTEXT)
    elapsed = time.perf_counter() - started
    assert len(prompt.ids) <= 1024
    assert prompt.ids[-30:] == tok.encode(prefix[-30:])
    # Only text near the cursor is tokenised (a real tokenizer takes seconds on 5 MB), and
    # the text kept as the cache key stays small too.
    assert tok.longest <= 1024 * 8 + 100
    assert len(prompt.prefix_used) <= 1024 * 8
    assert elapsed < 2.0


@pytest.mark.parametrize(
    ("max_tokens", "with_context"),
    [(1024, False), (1024, True), (256, True)],
)
def test_typing_keeps_the_previous_prompt_as_a_prefix(tokenizer, max_tokens, with_context):
    text = long_file()
    rng = random.Random(max_tokens)
    starts = [rng.randrange(5000, len(text) - 800) for _ in range(3)] + [30]
    keystrokes = moved = 0
    for start in starts:
        previous = None
        for cursor in range(start, start + 600):
            prompt = prompt_for(tokenizer, text[:cursor], max_tokens=max_tokens,
                                context=CONTEXT if with_context else None)
            if previous is not None:
                keystrokes += 1
                kept = 0
                limit = min(len(previous), len(prompt.ids))
                while kept < limit and previous[kept] == prompt.ids[kept]:
                    kept += 1
                if kept < len(previous) - 2:
                    moved += 1
            previous = prompt.ids
    # The cut point moves now and then (a whole step of lines at once), not per keystroke:
    # on average the user types more than twenty characters between two moves.
    assert moved <= keystrokes / 20, (moved, keystrokes)


def test_context_files_are_shown_and_take_at_most_half(tokenizer):
    sep = tokenizer.get_vocab()["<file_sep>"]
    for max_tokens in (512, 2048):
        for prefix in ("import util\n", long_file(300)):
            prompt = prompt_for(tokenizer, prefix, max_tokens=max_tokens, context=CONTEXT)
            assert prompt.context_files, max_tokens
            decoded = tokenizer.decode(prompt.ids)
            for rel in prompt.context_files:
                assert f"<file_sep>{rel}\n" in decoded
            seps = [i for i, t in enumerate(prompt.ids) if t == sep]
            context_tokens = seps[-1] - seps[0]
            assert context_tokens <= max_tokens // 2
            assert len(prompt.ids) <= max_tokens


def test_context_changes_the_cache_scope(tokenizer):
    prefix = "def main():\n    "
    plain = prompt_for(tokenizer, prefix)
    with_ctx = prompt_for(tokenizer, prefix, context=CONTEXT)
    other_ctx = prompt_for(tokenizer, prefix, context=CONTEXT[:1])
    assert len({plain.context_digest, with_ctx.context_digest, other_ctx.context_digest}) == 3
    assert prompt_for(tokenizer, prefix + "x", context=CONTEXT).context_digest == \
        with_ctx.context_digest


def test_short_file_is_kept_whole(tokenizer):
    prefix = "import os\n\ndef main():\n    print(os.getcwd())\n    "
    prompt = prompt_for(tokenizer, prefix)
    assert prompt.prefix_used == prefix
    assert tokenizer.decode(prompt.ids).endswith("<file_sep>pkg/main.py\n" + prefix)


def test_layout_markers_fall_back_to_text_without_special_tokens(tokenizer):
    prompt = build_prompt(prefix="x = 1", suffix="", path="a.py", repo_name="demo", context=[],
                          max_tokens=256, encode=tokenizer.encode, special={})
    assert tokenizer.decode(prompt.ids) == "<repo_name>demo<file_sep>a.py\nx = 1"


@pytest.mark.parametrize(
    ("line", "character", "before"),
    [
        (0, 0, ""),
        (0, 3, "abc"),
        (1, 2, "abc\nde"),
        (1, 99, "abc\ndef"),  # past the end of the line
        (99, 0, "abc\ndef\n"),  # past the last line: its start, clamped character
        (99, 99, "abc\ndef\nghi"),
        (-1, -5, ""),
        (2, 1, "abc\ndef\ng"),
    ],
)
def test_split_at_clamps_positions(line, character, before):
    text = "abc\ndef\nghi"
    prefix, suffix = split_at(text, line, character)
    assert prefix == before
    assert prefix + suffix == text


FIM = ("<fim_p>", "<fim_s>", "<fim_m>")


def test_fill_in_the_middle_puts_the_suffix_first_and_stays_stable_while_typing() -> None:
    tok = CharTokenizer()
    special = {"<repo_name>": 900, "<file_sep>": 901, FIM[0]: 902, FIM[1]: 903, FIM[2]: 904}
    text = long_file(400)
    cut = text.index("\n", len(text) // 2) + 1
    prefix, suffix = text[:cut], text[cut:]

    def build(before: str) -> Prompt:
        return build_prompt(prefix=before, suffix=suffix, path="m.py", repo_name="r",
                            context=[], max_tokens=512, encode=tok.encode, special=special,
                            fim_markers=FIM)

    first = build(prefix)
    ids = first.ids
    assert len(ids) <= 512
    s, p, m = ids.index(903), ids.index(902), ids.index(904)
    assert s < p < m == len(ids) - 1  # suffix, prefix, then the middle is generated
    assert tok.decode(ids[s + 1:p]) == suffix[:len(tok.decode(ids[s + 1:p]))]
    assert tok.decode(ids[p + 1:m]).endswith(prefix[-50:])
    typed = build(prefix + "x")
    # One typed character: everything up to the old middle marker is reused.
    assert typed.ids[:m] == ids[:m]
    plain = build_prompt(prefix=prefix, suffix=suffix, path="m.py", repo_name="r", context=[],
                         max_tokens=512, encode=tok.encode, special=special)
    assert not {902, 903, 904} & set(plain.ids)
