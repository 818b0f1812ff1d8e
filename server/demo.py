"""`tailor demo`: Tailor's main job on its embedded default, with nothing to start by hand.

It prepares the default model (converting the shipped GGUF on the first run), then completes
a real Python file at a few cursors the way the editor would: a new cursor, the same cursor
after one more typed character (KV prefix reuse), and typing through the shown suggestion
(the completion cache), printing each suggestion with its timing.
"""

from __future__ import annotations

import re
import sys
import textwrap as _textwrap_module
from pathlib import Path

from adapters.cache import CompletionCache
from adapters.completion import Completer, CompletionOptions, CompletionResult
from adapters.engine import Engine
from adapters.models import load
from adapters.paths import data_dir


def _cursors(text: str) -> list[tuple[str, int]]:
    """A few instructive cursors: after a def line, mid-call, after `return `."""
    found: list[tuple[str, int]] = []
    patterns = [("end of a def line (block)", r"^    def \w+\(self[^)\n]*\):"),
                ("end of a statement (next line)", r"^        self\.\w+ = \w+$"),
                ("inside a call (rest of line)", r"^\s+\w+ = [\w.]+\("),
                ("after `return `", r"^        return ")]
    for label, pattern in patterns:
        m = re.search(pattern, text, re.MULTILINE)
        if m:
            found.append((label, m.end()))
    return found


def _show(label: str, result: CompletionResult) -> None:
    t = result.timing
    source = ("cache" if result.cached
              else f"{t.reused_tokens}/{t.prompt_tokens} prompt tokens reused")
    print(f"  {label}: {t.total_ms:7.1f} ms  (prefill {t.prefill_ms:.0f} ms, decode "
          f"{t.decode_ms:.0f} ms for {t.new_tokens} tokens; {source})")


def run_demo(file: str | None, model: str) -> int:
    path = Path(file).resolve() if file else Path(_textwrap_module.__file__).resolve()
    text = path.read_text(encoding="utf-8", errors="replace")
    print(f"Tailor demo — data directory {data_dir()}")
    print(f"Loading {model} (the first run converts the shipped GGUF once, ~30 s)...",
          flush=True)
    loaded = load(model)
    print(f"Loaded from {loaded.path} in {loaded.load_seconds:.1f} s"
          f"{' (converted now)' if loaded.converted else ''}\n")
    completer = Completer(Engine(loaded.model, loaded.tokenizer), loaded.source.name,
                          CompletionCache(None))  # memory only: honest timings every run
    options = CompletionOptions(max_prompt_tokens=1024, max_new_tokens=48, timeout_ms=30_000)
    cursors = _cursors(text)
    if not cursors:
        print(f"No suitable cursor found in {path}", file=sys.stderr)
        return 1
    for label, offset in cursors:
        line = text.count("\n", 0, offset)
        before = text[text.rfind("\n", 0, offset) + 1: offset]
        print(f"{path.name}:{line}:{len(before)} — {label}")
        print(f"  line: {before!r}▮")
        # As if you were writing this line now: the code so far and nothing after the
        # cursor. With the real rest of the file there, the right answer at a mid-line
        # cursor is what already follows it, which Tailor never repeats (so the demo
        # showed nothing); the real rest of the line is printed beside the suggestion.
        line_end = text.find("\n", offset)
        rest = text[offset:line_end if line_end >= 0 else None]
        prefix, suffix = text[:offset], "\n"
        first = completer.complete(path=path, prefix=prefix, suffix=suffix, options=options)
        print(_textwrap_module.indent(first.text or "(no suggestion)", "  │ "))
        if rest.strip():
            print(f"  the file has: {rest!r}")
        _show("new cursor        ", first)
        # One more typed character at the same place: only the new tokens are computed.
        extra = "y" if first.text.startswith("x") else "x"
        second = completer.complete(path=path, prefix=prefix + extra, suffix=suffix,
                                    options=options)
        _show("one more char     ", second)
        if first.text:
            typed = completer.complete(path=path, prefix=prefix + first.text[:1],
                                       suffix=suffix, options=options)
            _show("typing through    ", typed)
        print()
    return 0
