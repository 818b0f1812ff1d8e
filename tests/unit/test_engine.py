"""The engine: KV prefix reuse must never change what the user is shown, and every way a
generation ends (stop rule, end token, length, timeout, cancel) is reported."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import script_by_position, script_output

from adapters.engine import Engine

BASE = "import os\n\ndef read(path):\n    with open(path) as f:\n        return f."
# Each prompt is what the editor would send next: shared prefixes, a divergence, a prompt
# that is a prefix of the previous one, the same prompt twice, and back to an earlier one.
SEQUENCE = [
    BASE,
    BASE + "r",
    BASE + "re",
    BASE + "read()",
    BASE[:40],
    BASE[:40],
    "class Point:\n    def __init__(self, x, y):",
    "class Point:\n    def __init__(self, x, y):\n        self.x",
    BASE + "re",
]


def fresh_tokens(make_engine, prompt: list[int], **kwargs) -> list[int]:
    return make_engine(**kwargs).generate(prompt, max_new_tokens=12).token_ids


def test_reused_cache_gives_the_same_tokens_as_a_fresh_engine(make_engine, tokenizer):
    warm = make_engine()
    previous: list[int] = []
    for text in SEQUENCE:
        prompt = tokenizer.encode(text)
        got = warm.generate(prompt, max_new_tokens=12)
        assert got.token_ids == fresh_tokens(make_engine, prompt), text
        assert got.timing.prompt_tokens == len(prompt)
        common = 0
        while common < min(len(previous), len(prompt)) and previous[common] == prompt[common]:
            common += 1
        # Everything shared with what the cache held is reused, except the last prompt
        # token, which is always fed again to get the first logits.
        assert got.timing.reused_tokens == min(common, len(prompt) - 1), text
        previous = prompt + got.token_ids[:-1]


def test_reset_forgets_the_cache_without_changing_results(make_engine, tokenizer):
    engine = make_engine()
    prompt = tokenizer.encode(BASE)
    first = engine.generate(prompt, max_new_tokens=10)
    again = engine.generate(prompt, max_new_tokens=10)
    assert again.timing.reused_tokens == len(prompt) - 1
    engine.reset()
    assert engine.cached_tokens == 0
    after_reset = engine.generate(prompt, max_new_tokens=10)
    assert after_reset.timing.reused_tokens == 0
    assert first.token_ids == again.token_ids == after_reset.token_ids


def test_typing_one_character_feeds_only_the_new_tokens(make_engine, tokenizer):
    engine = make_engine()
    engine.generate(tokenizer.encode(BASE), max_new_tokens=4)
    got = engine.generate(tokenizer.encode(BASE + "x"), max_new_tokens=4)
    assert got.timing.prompt_tokens - got.timing.reused_tokens <= 2


def test_prefill_in_chunks_gives_the_same_tokens(make_engine, tokenizer):
    chunked = make_engine(prefill_chunk=4)
    for text in SEQUENCE[:4]:
        prompt = tokenizer.encode(text)
        assert chunked.generate(prompt, max_new_tokens=12).token_ids == \
            fresh_tokens(make_engine, prompt)


def test_timing_reports_the_contract_fields(make_engine, tokenizer):
    got = make_engine().generate(tokenizer.encode(BASE), max_new_tokens=5)
    timing = got.timing.to_dict()
    assert set(timing) == {"prompt_tokens", "reused_tokens", "new_tokens", "prefill_ms",
                           "decode_ms", "total_ms", "drafted"}
    assert timing["prompt_tokens"] == len(BASE)
    assert timing["new_tokens"] == len(got.token_ids) == 5
    assert timing["prefill_ms"] > 0 and timing["decode_ms"] > 0
    assert timing["total_ms"] >= timing["prefill_ms"]


def test_max_new_tokens_ends_with_length(make_engine, tokenizer):
    got = make_engine().generate(tokenizer.encode(BASE), max_new_tokens=7)
    assert got.finish == "length"
    assert len(got.token_ids) == 7
    assert got.text == tokenizer.decode(got.token_ids)


def test_stop_rule_cuts_the_text(make_engine, tokenizer):
    engine = make_engine()
    unstopped = make_engine().generate(tokenizer.encode(BASE), max_new_tokens=10)
    got = engine.generate(tokenizer.encode(BASE), max_new_tokens=10,
                          stop=lambda text: 2 if len(text) >= 4 else None)
    assert got.finish == "stop"
    assert got.text == unstopped.text[:2]
    assert len(got.token_ids) == 4


def test_end_token_ends_with_eos_and_is_not_shown(model, tokenizer):
    engine = Engine(model, tokenizer)
    assert tokenizer.eos_token_id in engine.end_ids
    script_output(model, [*tokenizer.encode("ok"), tokenizer.eos_token_id])
    got = engine.generate(tokenizer.encode(BASE), max_new_tokens=10)
    assert got.finish == "eos"
    assert got.text == "ok"


def test_file_separator_also_ends_generation(model, tokenizer):
    engine = Engine(model, tokenizer)
    sep = tokenizer.get_vocab()["<file_sep>"]
    assert sep in engine.end_ids
    script_output(model, [*tokenizer.encode("x = 1\n"), sep])
    got = engine.generate(tokenizer.encode(BASE), max_new_tokens=20)
    assert (got.finish, got.text) == ("eos", "x = 1\n")


@pytest.mark.parametrize("n", [1, 3])
def test_cancel_set_mid_generation_stops_promptly(make_engine, tokenizer, n):
    cancel = threading.Event()
    calls = 0

    def stop(_text: str) -> None:
        nonlocal calls
        calls += 1
        if calls == n:
            cancel.set()

    got = make_engine().generate(tokenizer.encode(BASE), max_new_tokens=30, stop=stop,
                                 cancel=cancel)
    assert got.finish == "cancelled"
    assert n <= len(got.token_ids) <= n + 1


def test_past_deadline_times_out(make_engine, tokenizer):
    got = make_engine().generate(tokenizer.encode(BASE), max_new_tokens=30,
                                 deadline=time.monotonic() - 1)
    assert got.finish == "timeout"
    assert got.text == ""


def test_cancel_during_chunked_prefill_leaves_a_usable_cache(make_engine, tokenizer):
    engine = make_engine(prefill_chunk=4)
    cancel = threading.Event()
    forwards = 0

    def count(*_args: object) -> None:
        nonlocal forwards
        forwards += 1
        if forwards == 3:
            cancel.set()

    handle = engine.model.register_forward_hook(count)
    prompt = tokenizer.encode(BASE)
    got = engine.generate(prompt, max_new_tokens=12, cancel=cancel)
    handle.remove()
    assert got.finish == "cancelled" and got.token_ids == []
    # The next request reuses the part that was fed and answers as a fresh engine would.
    after = engine.generate(prompt, max_new_tokens=12)
    assert after.timing.reused_tokens == 12  # three chunks of four were fed
    assert after.token_ids == fresh_tokens(make_engine, prompt)


def test_empty_prompt_is_refused(make_engine):
    with pytest.raises(ValueError):
        make_engine().generate([])



def test_growable_cache_matches_transformers_dynamic_cache(make_engine, tokenizer, monkeypatch):
    """The in-place cache must give exactly what transformers' own cache gives, across
    growth past its first capacity, crops to a common prefix and reuse."""
    from transformers import DynamicCache

    import adapters.engine as engine_module

    prompts = [tokenizer.encode("def f(x):\n    return x" * 20),  # 460 tokens: grows twice
               tokenizer.encode("def f(x):\n    return x" * 12 + "def g("),
               tokenizer.encode("def f(x):\n    return x" * 12 + "def h(y")]

    def run() -> list[list[int]]:
        engine = make_engine()
        return [engine.generate(p, max_new_tokens=12).token_ids for p in prompts]

    growable = run()
    monkeypatch.setattr(engine_module, "new_cache", lambda config: DynamicCache(config=config))
    assert run() == growable


FUNCTION = "def area(r):\n    return 3.14159 * r * r\n\ndef perimeter(r):\n    return 2 * r\n"


def test_prompt_lookup_copies_drafts_in_few_forward_passes(model, tokenizer):
    """A repair mostly copies its input: drafted tokens verified in one pass, same text."""
    prompt = tokenizer.encode(FUNCTION + "<file_sep>")
    target = tokenizer.encode(FUNCTION.replace("2 * r", "2 * 3.14159 * r"))
    script_by_position(model, len(prompt), target)
    calls = []
    model.lm_head.register_forward_hook(lambda *a: calls.append(1))
    engine = Engine(model, tokenizer)
    plain = engine.generate(prompt, max_new_tokens=len(target))
    engine.reset()
    plain_calls, calls[:] = len(calls), []
    drafted = engine.generate(prompt, max_new_tokens=len(target),
                              draft_from=tokenizer.encode(FUNCTION))
    assert plain.text == drafted.text == tokenizer.decode(target)
    assert drafted.timing.drafted > len(target) // 2
    assert len(calls) < plain_calls / 3


def test_rejected_drafts_leave_a_cache_that_matches_a_fresh_engine(make_engine, tokenizer):
    """A random model rejects most drafts: the cache must drop them exactly."""
    source = tokenizer.encode(BASE * 2)
    for text in SEQUENCE[:4]:
        prompt = tokenizer.encode(text)
        engine = make_engine()
        with_drafts = engine.generate(prompt, max_new_tokens=20, draft_from=source)
        assert with_drafts.token_ids == make_engine().generate(
            prompt, max_new_tokens=20).token_ids
        again = engine.generate(prompt + with_drafts.token_ids[:5], max_new_tokens=8)
        assert again.token_ids == make_engine().generate(
            prompt + with_drafts.token_ids[:5], max_new_tokens=8).token_ids


def test_sampling_is_seeded_and_varies_with_the_seed(make_engine, tokenizer):
    from adapters.engine import Sampling

    prompt = tokenizer.encode(BASE)
    runs = {seed: make_engine().generate(prompt, max_new_tokens=16,
                                         sampling=Sampling(temperature=1.0, seed=seed)).text
            for seed in (1, 1, 2, 3)}
    assert make_engine().generate(prompt, max_new_tokens=16,
                                  sampling=Sampling(temperature=1.0, seed=1)).text == runs[1]
    assert len(set(runs.values())) > 1
