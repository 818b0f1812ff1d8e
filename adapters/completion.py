"""One completion, from a document and a cursor to the text to insert.

The server and `tailor complete` both call `Completer.complete`, so what the CLI shows is
what the editor gets. The steps: language check, repository context, prompt, cache (exact
or typed-through), engine with stop rules, post-processing.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from adapters.cache import CompletionCache, scope_key
from adapters.dataset import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX
from adapters.engine import Engine, Timing
from adapters.postprocess import decide_mode, drop_doubled_space, postprocess, stop_index
from adapters.prompt import Prompt, build_prompt
from adapters.repo_context import find_repo_root, language_of, related_files

log = logging.getLogger(__name__)
_FIM = (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE)


@dataclass(frozen=True)
class CompletionOptions:
    max_prompt_tokens: int = 1024
    max_new_tokens: int = 64
    multiline: str = "auto"  # "auto" | "always" | "never"
    timeout_ms: int = 3000


@dataclass
class CompletionResult:
    text: str
    mode: str = "line"
    finish: str = "none"  # engine finish reason, "cache", or why nothing was generated
    cached: bool = False
    timing: Timing = field(default_factory=Timing)
    context_files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "mode": self.mode, "finish": self.finish,
                "cached": self.cached, "timing": self.timing.to_dict(),
                "context_files": self.context_files}


class Completer:
    def __init__(self, engine: Engine, model_name: str, cache: CompletionCache | None = None,
                 adapter: str = "base") -> None:
        self.engine = engine
        self.model_name = model_name
        self.adapter = adapter
        self.cache = cache
        # Per document: the last (prefix, suffix, raw output) shown, so typing through it is
        # answered before any prompt is built (the bulk of a cache hit's cost otherwise).
        self._shown: dict[tuple[str, str], tuple[str, str, str]] = {}
        vocab = engine.tokenizer.get_vocab()
        self._special = {m: vocab[m] for m in ("<repo_name>", "<file_sep>", *_FIM)
                         if m in vocab}

    def prompt(self, *, path: Path, prefix: str, suffix: str,
               open_documents: dict[Path, str] | None, max_tokens: int) -> Prompt:
        """The prompt for a cursor: repository context, then this file up to the cursor."""
        root = find_repo_root(path.parent)
        if root is not None:
            rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
            others = {p.relative_to(root).as_posix(): t for p, t in (open_documents or {}).items()
                      if p != path and p.is_relative_to(root)}
            context = related_files(root, rel, prefix, others)
            repo_name = root.name
        else:
            rel, context, repo_name = path.name, [], path.parent.name
        # Only an adapter has learnt the fill-in-the-middle sentinels; the base model gets
        # the prefix alone.
        fim = self.adapter != "base" and bool(suffix[:2000].strip()) and all(
            m in self._special for m in _FIM)
        return build_prompt(prefix=prefix, suffix=suffix, path=rel, repo_name=repo_name,
                            context=context, max_tokens=max_tokens,
                            encode=self.engine.encode, special=self._special,
                            fim_markers=_FIM if fim else None)

    def complete(
        self,
        *,
        path: Path,
        prefix: str,
        suffix: str,
        language_id: str | None = None,
        open_documents: dict[Path, str] | None = None,
        options: CompletionOptions | None = None,
        cancel: threading.Event | None = None,
    ) -> CompletionResult:
        options = options or CompletionOptions()
        started = time.perf_counter()
        if language_of(path, language_id) is None:
            return CompletionResult(text="", finish="unsupported-file-type")
        mode = decide_mode(prefix, suffix, options.multiline)
        doc_key = (str(path), self.adapter)
        shown = self._shown.get(doc_key)
        if shown is not None and suffix == shown[1] and prefix.startswith(shown[0]):
            typed = prefix[len(shown[0]):]
            if shown[2].startswith(typed) and len(typed) < len(shown[2]):
                timing = Timing(total_ms=(time.perf_counter() - started) * 1000)
                return CompletionResult(text=postprocess(shown[2][len(typed):], prefix, suffix,
                                                         mode),
                                        mode=mode, finish="cache", cached=True, timing=timing)
        prompt = self.prompt(path=path, prefix=prefix, suffix=suffix,
                             open_documents=open_documents, max_tokens=options.max_prompt_tokens)
        scope = scope_key(self.model_name, self.adapter, prompt.context_digest)

        hit = self.cache.get(scope, prompt.prefix_used) if self.cache else None
        if hit is not None:
            raw, typed_chars = hit
            self._shown[doc_key] = (prefix[: len(prefix) - typed_chars], suffix, raw)
            text = postprocess(raw[typed_chars:], prefix, suffix, mode)
            timing = Timing(prompt_tokens=len(prompt.ids), reused_tokens=len(prompt.ids),
                            total_ms=(time.perf_counter() - started) * 1000)
            return CompletionResult(text=text, mode=mode, finish="cache", cached=True,
                                    timing=timing, context_files=prompt.context_files)

        deadline = time.monotonic() + options.timeout_ms / 1000
        generation = self.engine.generate(
            prompt.ids, max_new_tokens=options.max_new_tokens,
            stop=lambda text: stop_index(text, prefix, suffix, mode),
            cancel=cancel, deadline=deadline)
        # stored without the doubled space, so that typing through the suggestion (and the
        # cache keyed by the prompt) lines up with what was shown
        raw = drop_doubled_space(generation.text, prefix)
        if generation.finish in ("timeout", "cancelled"):
            # An interrupted suggestion is only worth showing as whole lines of a block.
            lead = 1 if raw.startswith("\n") else 0
            complete = mode == "block" and "\n" in raw[lead:]
            raw = raw[: raw.rfind("\n") + 1] if complete else ""
        else:
            self._shown[doc_key] = (prefix, suffix, raw)
            if self.cache is not None:
                self.cache.put(scope, prompt.prefix_used, raw)
        if generation.finish == "length" and mode == "block":
            raw = _whole_lines(raw)  # never end a block suggestion mid-line
        text = postprocess(raw, prefix, suffix, mode)
        generation.timing.total_ms = (time.perf_counter() - started) * 1000
        return CompletionResult(text=text, mode=mode, finish=generation.finish,
                                timing=generation.timing, context_files=prompt.context_files)


def _whole_lines(raw: str) -> str:
    """The complete lines of a block; a lone first line is kept even if cut short."""
    lead = 1 if raw.startswith("\n") else 0
    if "\n" not in raw[lead:]:
        return raw
    return raw[: raw.rfind("\n") + 1]
