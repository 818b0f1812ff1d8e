"""One completion end to end with a tiny model: file-type check, cache answers without the
model, typing through a suggestion, and interrupted answers never cached."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from conftest import script_output

from adapters.cache import CompletionCache
from adapters.completion import Completer, CompletionOptions
from adapters.engine import Engine

PREFIX = "def total(values):\n    return "
SUFFIX = "\n"
OPTIONS = CompletionOptions(max_prompt_tokens=256, max_new_tokens=16)


class CountingEngine(Engine):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.raw: list[str] = []

    def generate(self, *args, **kwargs):
        self.calls += 1
        result = super().generate(*args, **kwargs)
        self.raw.append(result.text)
        return result


@pytest.fixture
def engine(model, tokenizer) -> CountingEngine:
    return CountingEngine(model, tokenizer)


@pytest.fixture
def completer(engine, tmp_path) -> Completer:
    return Completer(engine, "tiny", cache=CompletionCache(tmp_path / "cache"))


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "project" / "calc.py"
    path.parent.mkdir()
    path.write_text(PREFIX + SUFFIX)
    return path


def complete(completer: Completer, path: Path, prefix: str = PREFIX, **kwargs):
    return completer.complete(path=path, prefix=prefix, suffix=SUFFIX, options=OPTIONS, **kwargs)


def test_unknown_file_type_gets_nothing(completer, engine, tmp_path):
    result = complete(completer, tmp_path / "notes.xyz")
    assert (result.text, result.finish) == ("", "unsupported-file-type")
    assert engine.calls == 0


def test_language_id_from_the_editor_overrides_the_extension(completer, engine, tmp_path):
    result = complete(completer, tmp_path / "script", language_id="python")
    assert result.finish != "unsupported-file-type"
    assert engine.calls == 1


def test_repeated_request_is_answered_from_the_cache(completer, engine, source):
    first = complete(completer, source)
    assert not first.cached and engine.calls == 1
    second = complete(completer, source)
    assert second.cached and second.finish == "cache"
    assert second.text == first.text
    assert engine.calls == 1


def test_typing_through_a_suggestion_is_a_cache_hit(completer, engine, model, tokenizer,
                                                    source):
    script_output(model, [*tokenizer.encode("sum(values)\n"), tokenizer.eos_token_id])
    first = complete(completer, source)
    assert first.text == "sum(values)"
    assert engine.raw[0].startswith("sum(values)")
    for k in (1, 4):
        typed = complete(completer, source, prefix=PREFIX + first.text[:k])
        assert typed.cached
        assert typed.text == first.text[k:]
    assert engine.calls == 1


def test_a_space_already_typed_is_not_doubled_and_typing_through_still_hits(
        completer, engine, model, tokenizer, source):
    # after `return ` the model's next token carries its own space, as real tokenizers do
    script_output(model, [*tokenizer.encode(" sum(values)\n"), tokenizer.eos_token_id])
    first = complete(completer, source)
    assert engine.raw[0].startswith(" sum(values)")
    assert first.text == "sum(values)"  # not "return  sum(values)"
    typed = complete(completer, source, prefix=PREFIX + "su")
    assert typed.cached and typed.text == "m(values)"
    # another document state, same cache: found through the prompt-keyed cache instead
    other = Completer(engine, "tiny", cache=completer.cache)
    from_cache = complete(other, source, prefix=PREFIX + "s")
    assert from_cache.cached and from_cache.text == "um(values)"
    assert engine.calls == 1


def test_typing_through_needs_no_prompt_even_after_a_restart(engine, model, tokenizer,
                                                             source, tmp_path, monkeypatch):
    script_output(model, [*tokenizer.encode("sum(values)\n"), tokenizer.eos_token_id])
    first = Completer(engine, "tiny", cache=CompletionCache(tmp_path / "c1"))
    shown = complete(first, source)
    # The document's last suggestion answers typing through before any prompt is built...
    monkeypatch.setattr(first, "prompt", lambda **kw: pytest.fail("prompt built"))
    assert complete(first, source, prefix=PREFIX + "su").text == "m(values)"
    monkeypatch.undo()
    # ...and a new process (same disk cache) still answers the shown cursor from disk.
    second = Completer(engine, "tiny", cache=CompletionCache(tmp_path / "c1"))
    again = complete(second, source)
    assert again.cached and again.text == shown.text
    assert engine.calls == 1


def test_typing_something_else_runs_the_model(completer, engine, model, tokenizer, source):
    script_output(model, [*tokenizer.encode("sum(values)\n"), tokenizer.eos_token_id])
    complete(completer, source)
    other = complete(completer, source, prefix=PREFIX + "len")
    assert not other.cached
    assert engine.calls == 2


def test_cancelled_request_is_not_cached(completer, engine, source):
    cancel = threading.Event()
    cancel.set()
    cancelled = complete(completer, source, cancel=cancel)
    assert cancelled.finish == "cancelled" and cancelled.text == ""
    again = complete(completer, source)
    assert not again.cached
    assert engine.calls == 2


def test_adapter_has_its_own_cache_entries(engine, tmp_path, source):
    cache = CompletionCache(tmp_path / "shared-cache")
    complete(Completer(engine, "tiny", cache=cache), source)
    other = complete(Completer(engine, "tiny", cache=cache, adapter="repo-adapter"), source)
    assert not other.cached
    assert engine.calls == 2


def test_result_reports_timing_and_mode(completer, source):
    result = complete(completer, source).to_dict()
    assert result["mode"] == "line"
    assert result["finish"] in ("stop", "eos", "length")
    assert result["timing"]["prompt_tokens"] > len(PREFIX)
    assert result["timing"]["new_tokens"] >= 1


def test_open_documents_of_the_repository_are_shown(completer, tmp_path):
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    subprocess.run(["git", "-C", str(root), "init", "-q"], check=True)
    main = root / "pkg" / "main.py"
    main.write_text("")
    helper = root / "pkg" / "helper.py"
    helper.write_text("def helper(x):\n    return x * 2\n")
    result = completer.complete(path=main, prefix="from .helper import helper\n", suffix="",
                                open_documents={helper: helper.read_text(),
                                                main: "ignored: the file itself"},
                                options=OPTIONS)
    assert result.context_files == ["pkg/helper.py"]
