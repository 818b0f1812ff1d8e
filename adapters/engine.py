"""Greedy generation that reuses the KV cache of the previous request.

On a CPU a completion is mostly prefill: typing one character must not recompute a
1,500-token prompt. The engine remembers which token ids its cache holds, keeps the longest
common prefix with the next prompt, and feeds only the rest. It asks the model for logits
of the last position only (the vocabulary projection over a whole prompt is a fifth of the
prefill work and hundreds of MB). Between tokens it checks a cancellation flag and a
deadline, and every call reports the timing of DESIGN.md's contract.

One engine serves one thread at a time (the server's single inference worker); the lock
only guards against misuse.
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

# Markers that end a file or a turn in SmolLM2's training format; generating one means the
# model has finished the code it was asked to continue.
_END_MARKERS = ("<|endoftext|>", "<|im_end|>", "<|im_start|>", "<file_sep>", "<repo_name>",
                "<reponame>", "<filename>", "<gh_stars>", "<issue_start>", "<jupyter_start>",
                # The fill-in-the-middle sentinels: one appearing in the middle ends it.
                "<jupyter_text>", "<jupyter_code>", "<jupyter_output>")

StopRule = Callable[[str], "int | None"]
BanRule = Callable[[str], "Sequence[int]"]


@dataclass
class Timing:
    prompt_tokens: int = 0
    reused_tokens: int = 0
    new_tokens: int = 0
    prefill_ms: float = 0.0
    decode_ms: float = 0.0
    total_ms: float = 0.0
    drafted: int = 0  # tokens accepted from prompt-lookup drafts

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class Generation:
    text: str
    token_ids: list[int]
    finish: str  # "stop" (a stop rule), "eos", "length", "timeout", "cancelled"
    timing: Timing = field(default_factory=Timing)


def _release_free_memory() -> None:
    """Hand the prefill's freed activations back to the OS (glibc keeps them otherwise), so
    the server's resident memory stays near weights + KV cache between requests."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def new_cache(config: Any) -> Any:
    """A KV cache whose layers grow in place (see `_growable_layer`), else transformers' own."""
    from transformers import DynamicCache

    cache = DynamicCache(config=config)
    layer_class = _growable_layer()
    layers = getattr(cache, "layers", None)
    if layer_class is not None and isinstance(layers, list) and layers:
        cache.layers = [layer_class() for _ in layers]
    return cache


_GROWABLE: Any = None


def _growable_layer() -> Any:
    """A cache layer that writes new keys into a preallocated buffer.

    transformers' DynamicLayer concatenates on every token, copying the whole cache (70 MB at
    1,500 tokens for SmolLM2-135M) once per generated token: a fifth of the decode time on a
    CPU. This layer grows by half when full (with room for 256 more tokens) and hands
    attention views of the filled part; cropping to a common prefix only moves the length.
    """
    global _GROWABLE
    if _GROWABLE is not None:
        return _GROWABLE
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        return None

    class GrowableLayer(DynamicLayer):
        def lazy_initialization(self, key_states: torch.Tensor,
                                value_states: torch.Tensor) -> None:
            super().lazy_initialization(key_states, value_states)
            self._k: torch.Tensor | None = None
            self._v: torch.Tensor | None = None
            self._len = 0

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor,
                   *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            need = self._len + key_states.shape[-2]
            if self._k is None or self._v is None or need > self._k.shape[-2]:
                old = 0 if self._k is None else self._k.shape[-2]
                capacity = -(-max(need + 256, old + old // 2) // 256) * 256
                k = key_states.new_empty((*key_states.shape[:-2], capacity,
                                          key_states.shape[-1]))
                v = value_states.new_empty((*value_states.shape[:-2], capacity,
                                            value_states.shape[-1]))
                if self._k is not None and self._v is not None and self._len:
                    k[..., : self._len, :] = self._k[..., : self._len, :]
                    v[..., : self._len, :] = self._v[..., : self._len, :]
                self._k, self._v = k, v
            self._k[..., self._len:need, :] = key_states
            self._v[..., self._len:need, :] = value_states
            self._len = need
            self.keys, self.values = self._k[..., :need, :], self._v[..., :need, :]
            return self.keys, self.values

        def crop(self, tokens_to_remove: int) -> None:
            if not self.is_initialized or self._k is None or self._v is None:
                return
            keep = self._len + tokens_to_remove if tokens_to_remove < 0 else tokens_to_remove
            self._len = max(0, min(self._len, keep))
            self.keys, self.values = self._k[..., : self._len, :], self._v[..., : self._len, :]

        def get_seq_length(self) -> int:
            return self._len if self.is_initialized else 0

        def reset(self) -> None:
            self._k = self._v = None
            self._len = 0
            super().reset()

    _GROWABLE = GrowableLayer
    return _GROWABLE


class Engine:
    """Owns a model, its tokenizer and the KV cache of the last prompt."""

    def __init__(self, model: Any, tokenizer: Any, *, prefill_chunk: int = 512) -> None:
        self.model = model
        self._setup(tokenizer, prefill_chunk)
        # transformers 5.x renamed `past_key_values` to `cache`; the cache object is updated
        # in place either way.
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        params = inspect.signature(base.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"

    def _setup(self, tokenizer: Any, prefill_chunk: int) -> None:
        """What every backend shares: tokenizer, cache bookkeeping, end markers."""
        self.tokenizer = tokenizer
        self.prefill_chunk = prefill_chunk
        self._lock = threading.Lock()
        self._cache: Any = None
        self._cached_ids: list[int] = []
        self._pieces: list[tuple[int, str]] | None = None
        self._by_first: dict[str, list[tuple[int, str]]] | None = None
        vocab = tokenizer.get_vocab()
        self.end_ids: frozenset[int] = frozenset(
            {vocab[m] for m in _END_MARKERS if m in vocab}
            | {i for i in (tokenizer.eos_token_id,) if i is not None})

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def pieces(self) -> list[tuple[int, str]]:
        """(id, text) of every token, decoded once (for rules that ban tokens by text)."""
        if self._pieces is None:
            self._pieces = [(i, self.tokenizer.decode([i], skip_special_tokens=False))
                            for i in sorted(self.tokenizer.get_vocab().values())]
        return self._pieces

    def pieces_starting_with(self, char: str) -> list[tuple[int, str]]:
        """The tokens whose text starts with `char` (a rule then scans a few hundred, not
        the whole vocabulary, on each step)."""
        if self._by_first is None:
            by_first: dict[str, list[tuple[int, str]]] = {}
            for i, piece in self.pieces():
                if piece:
                    by_first.setdefault(piece[0], []).append((i, piece))
            self._by_first = by_first
        return self._by_first.get(char, [])

    def token_id(self, token: str) -> int | None:
        return self.tokenizer.get_vocab().get(token)

    def reset(self) -> None:
        """Forget the KV cache (e.g. after the adapter changes, since its keys differ)."""
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        self._cache = None
        self._cached_ids = []

    @property
    def cached_tokens(self) -> int:
        return len(self._cached_ids)

    def _reuse(self, prompt: Sequence[int]) -> int:
        """Crop the cache to the longest common prefix with `prompt`; return its length.

        At least one prompt token is always fed again, since its logits start the decode.
        """
        common = 0
        limit = min(len(self._cached_ids), len(prompt) - 1)
        cached = self._cached_ids
        while common < limit and cached[common] == prompt[common]:
            common += 1
        if self._cache is None or common == 0:
            self._cache = None
            self._cached_ids = []
            return 0
        if common < len(cached):
            # A negative count removes tokens on both the 4.x and 5.x cache APIs.
            self._cache.crop(common - len(cached))
            del self._cached_ids[common:]
        return common

    def _forward(self, ids: Sequence[int], keep: int = 1) -> torch.Tensor:
        """Feed `ids`; the logits of the last `keep` positions ([keep, vocab])."""
        if self._cache is None:
            self._cache = new_cache(self.model.config)
        kwargs = {self._cache_kwarg: self._cache}
        out = self.model(input_ids=torch.tensor([list(ids)], dtype=torch.long), use_cache=True,
                         logits_to_keep=keep, **kwargs)
        self._cached_ids.extend(ids)
        return out.logits[0, -keep:]

    def greedy_choices(self, ids: Sequence[int], count: int) -> list[int]:
        """The greedy next token at each of the last `count` positions of `ids`, from an
        empty cache (teacher forcing: every position sees the given text, so one changed
        near-tie does not derail the rest, as it does when decoding freely)."""
        with self._lock, torch.inference_mode():
            self._forget()
            logits = self._forward(list(ids), keep=count)
            self._forget()
            return [int(i) for i in logits.argmax(-1).tolist()]

    def _drop_last(self, count: int) -> None:
        """Forget the last `count` fed tokens (rejected draft tokens)."""
        if count > 0:
            self._cache.crop(-count)
            del self._cached_ids[-count:]

    def generate(
        self,
        prompt_ids: Sequence[int],
        *,
        max_new_tokens: int = 64,
        stop: StopRule | None = None,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
        sampling: Sampling | None = None,
        draft_from: Sequence[int] | None = None,
        ban: BanRule | None = None,
    ) -> Generation:
        """Decode after `prompt_ids`: greedy, or sampled when `sampling` is given.

        `stop(text)` returns where the text must end (generation stops) or None.
        `deadline` is a `time.monotonic()` instant; `cancel` is checked between tokens and
        between prefill chunks. `draft_from` turns on prompt-lookup decoding: drafts are
        copied from those ids and verified in one forward pass (see `_draft`); the output is
        the same as without it, only faster when the text is copied. `ban(text)` names token
        ids that may not come next after the generated `text`.
        """
        if not prompt_ids:
            raise ValueError("empty prompt")
        with self._lock, torch.inference_mode():
            picker = _Picker(sampling, ban, self.tokenizer)
            return self._generate(list(prompt_ids), max_new_tokens, stop, cancel, deadline,
                                  picker, list(draft_from) if draft_from else None)

    def _generate(self, prompt: list[int], max_new: int, stop: StopRule | None,
                  cancel: threading.Event | None, deadline: float | None,
                  picker: _Picker, source: list[int] | None) -> Generation:
        timing = Timing(prompt_tokens=len(prompt))
        started = time.perf_counter()

        def interrupted() -> str | None:
            if cancel is not None and cancel.is_set():
                return "cancelled"
            if deadline is not None and time.monotonic() > deadline:
                return "timeout"
            return None

        try:
            reused = self._reuse(prompt)
        except Exception:  # a cache that cannot be cropped is only lost work
            self._cache, self._cached_ids, reused = None, [], 0
        timing.reused_tokens = reused
        logits: torch.Tensor | None = None
        pos = reused
        finish: str | None = None
        while pos < len(prompt):
            finish = interrupted()
            if finish:
                break
            chunk = prompt[pos:pos + self.prefill_chunk]
            try:
                logits = self._forward(chunk)[-1]
            except BaseException:
                self._cache, self._cached_ids = None, []
                raise
            pos += len(chunk)
        prefill_done = time.perf_counter()
        timing.prefill_ms = (prefill_done - started) * 1000
        if pos - reused > 256:
            _release_free_memory()

        generated: list[int] = []
        text = ""
        if finish is None:
            assert logits is not None
            text, finish = self._decode(prompt, logits, generated, max_new, stop, picker,
                                        source, interrupted, timing)
        end = time.perf_counter()
        timing.new_tokens = len(generated)
        timing.decode_ms = (end - prefill_done) * 1000
        timing.total_ms = (end - started) * 1000
        return Generation(text=text, token_ids=generated, finish=finish, timing=timing)

    def _decode(self, prompt: list[int], logits: torch.Tensor, generated: list[int],
                max_new: int, stop: StopRule | None, picker: _Picker,
                source: list[int] | None, interrupted: Callable[[], str | None],
                timing: Timing) -> tuple[str, str]:
        """The decode loop; appends to `generated`, returns (text, finish)."""
        text = ""
        pending: int | None = None  # a token already chosen from verified logits
        while True:
            token = picker.pick(logits, generated) if pending is None else pending
            pending = None
            if token in self.end_ids:
                return text, "eos"
            generated.append(token)
            text = self.tokenizer.decode(generated, skip_special_tokens=False)
            if stop is not None and (cut := stop(text)) is not None:
                return text[:cut], "stop"
            if len(generated) >= max_new:
                return text, "length"
            interruption = interrupted()
            if interruption:
                return text, interruption
            draft = _draft(source, prompt + generated, max_new - len(generated) - 1) \
                if source else []
            rows = self._forward([token, *draft], keep=len(draft) + 1)
            accepted = 0
            for i, guess in enumerate(draft):
                choice = picker.pick(rows[i], generated)
                if choice != guess:
                    pending = choice
                    break
                accepted += 1
                if guess in self.end_ids:
                    self._drop_last(len(draft) - accepted)
                    timing.drafted += accepted
                    return text, "eos"
                generated.append(guess)
                text = self.tokenizer.decode(generated, skip_special_tokens=False)
                if stop is not None and (cut := stop(text)) is not None:
                    self._drop_last(len(draft) - accepted)
                    timing.drafted += accepted
                    return text[:cut], "stop"
                if len(generated) >= max_new:
                    self._drop_last(len(draft) - accepted)
                    timing.drafted += accepted
                    return text, "length"
            timing.drafted += accepted
            self._drop_last(len(draft) - accepted)
            logits = rows[accepted]


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int = 0


class _Picker:
    """Chooses the next token: argmax, or a seeded nucleus sample; never a banned one."""

    def __init__(self, sampling: Sampling | None, ban: BanRule | None, tokenizer: Any) -> None:
        self.sampling = sampling
        self.ban = ban
        self.tokenizer = tokenizer
        self.generator: torch.Generator | None = None
        if sampling is not None and sampling.temperature > 0:
            self.generator = torch.Generator().manual_seed(sampling.seed)

    def pick(self, logits: torch.Tensor, generated: list[int]) -> int:
        if self.ban is not None:
            banned = self.ban(self.tokenizer.decode(generated, skip_special_tokens=False))
            if banned:
                logits = logits.clone()
                logits[list(banned)] = float("-inf")
        if self.generator is None or self.sampling is None:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / self.sampling.temperature, dim=-1)
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < self.sampling.top_p
        sorted_probs = sorted_probs * keep
        choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1,
                                   generator=self.generator)
        return int(order[choice])


_DRAFT_NGRAM = (3, 2, 1)
_DRAFT_TOKENS = 10


def _draft(source: list[int], context: list[int], limit: int) -> list[int]:
    """Prompt-lookup drafting: find the context's last n-gram in `source` and propose the
    tokens that followed it there (the latest occurrence, where the copy most likely is)."""
    limit = min(limit, _DRAFT_TOKENS)
    if limit <= 0:
        return []
    for n in _DRAFT_NGRAM:
        if len(context) < n:
            continue
        tail = context[-n:]
        for start in range(len(source) - n - 1, -1, -1):
            if source[start:start + n] == tail:
                follow = source[start + n:start + n + limit]
                if follow:
                    return follow
    return []
