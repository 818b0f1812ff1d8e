"""Shared fixtures for unit tests: a char-level fake tokenizer and tiny in-memory models.

Nothing here touches the network or the real default model.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from adapters.engine import Engine

SPECIALS = ("<|endoftext|>", "<file_sep>", "<repo_name>", "<unk>")
CHARS = string.printable  # letters, digits, punctuation and whitespace (\n, \t, ...)


class CharTokenizer:
    """One token per character; the specials come first (`<|endoftext|>` is id 0, eos)."""

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIALS)}
        for ch in CHARS:
            self._vocab.setdefault(ch, len(self._vocab))
        self._by_id = {i: tok for tok, i in self._vocab.items()}
        self.unk_token_id = self._vocab["<unk>"]
        self.eos_token_id = self._vocab["<|endoftext|>"]

    def __len__(self) -> int:
        return len(self._vocab)

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [self._vocab.get(ch, self.unk_token_id) for ch in text]}

    def encode(self, text: str) -> list[int]:
        return self(text)["input_ids"]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        out = []
        for i in ids:
            tok = self._by_id[int(i)]
            if skip_special_tokens and tok in SPECIALS:
                continue
            out.append(tok)
        return "".join(out)

    def get_vocab(self) -> dict[str, int]:
        return dict(self._vocab)


def tiny_llama(vocab_size: int, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, vocab_size=vocab_size,
                         max_position_embeddings=512,
                         # The default (0.02) leaves a model this small nearly blind to
                         # earlier tokens; larger weights make its choices depend on the whole
                         # prompt, so a wrong KV cache shows up as different tokens.
                         initializer_range=0.3)
    model = LlamaForCausalLM(config)
    model.eval()
    return model


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory (`TAILOR_HOME`) for the test."""
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def tokenizer() -> CharTokenizer:
    return CharTokenizer()


@pytest.fixture
def model(tokenizer: CharTokenizer) -> LlamaForCausalLM:
    return tiny_llama(len(tokenizer))


@pytest.fixture
def make_engine(tokenizer: CharTokenizer) -> Callable[..., Engine]:
    """Engines over independent copies of the same tiny model (same seed, same weights)."""

    def make(*, seed: int = 0, prefill_chunk: int = 512) -> Engine:
        model = tiny_llama(len(tokenizer), seed)
        # Never end early, so every generation is long enough to compare.
        forbid_tokens(model, [tokenizer.get_vocab()[s] for s in SPECIALS])
        return Engine(model, tokenizer, prefill_chunk=prefill_chunk)

    return make


def script_output(model: torch.nn.Module, tokens: Sequence[int]) -> Callable[[], None]:
    """Make the model's greedy choice follow `tokens`, one per forward call.

    A hook on the output layer adds a large bonus to the scripted token's logit; the first
    call (the prefill) picks tokens[0], each decode step the next one. Returns a remover.
    """
    state = {"step": 0}

    def hook(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        step = min(state["step"], len(tokens) - 1)
        state["step"] += 1
        bonus = torch.zeros(output.shape[-1], dtype=output.dtype)
        bonus[tokens[step]] = 1e4
        return output + bonus

    handle = model.lm_head.register_forward_hook(hook)
    return handle.remove


def hf_char_tokenizer():
    """The same char-level vocabulary as a real `PreTrainedTokenizerFast`, for tests that
    save and load a model directory."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(vocab=CharTokenizer().get_vocab(), unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>",
                                   unk_token="<unk>",
                                   additional_special_tokens=["<file_sep>", "<repo_name>"])


def forbid_tokens(model: torch.nn.Module, tokens: Sequence[int]) -> Callable[[], None]:
    """Make the model never choose `tokens` (a large penalty on their logits)."""
    penalty = torch.zeros(model.config.vocab_size)
    penalty[list(tokens)] = -1e4

    def hook(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        return output + penalty.to(output.dtype)

    return model.lm_head.register_forward_hook(hook).remove


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    """Write text or bytes files under `root`, creating folders (for test repositories)."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def script_by_position(model: torch.nn.Module, start: int, tokens: Sequence[int]
                       ) -> Callable[[], None]:
    """Make the greedy choice after absolute position `start + i - 1` be `tokens[i]`, however
    many positions one forward call feeds (drafted tokens are verified in one call).

    The KV cache's length before the call says where its positions begin."""
    state = {"past": 0}

    def before(_module: torch.nn.Module, _args: object, kwargs: dict) -> None:
        cache = kwargs.get("past_key_values", kwargs.get("cache"))
        state["past"] = cache.get_seq_length() if cache is not None else 0
        ids = kwargs.get("input_ids")
        state["fed"] = ids.shape[-1] if ids is not None else 0

    def after(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        rows = output.shape[-2]
        end = state["past"] + state["fed"]  # positions [end - rows, end) are in `output`
        bonus = torch.zeros_like(output)
        for r in range(rows):
            i = end - rows + r - start + 1  # index of the token chosen after that position
            if 0 <= i < len(tokens):
                bonus[..., r, tokens[i]] = 1e4
        return output + bonus

    h1 = model.model.register_forward_pre_hook(before, with_kwargs=True)
    h2 = model.lm_head.register_forward_hook(after)

    def remove() -> None:
        h1.remove()
        h2.remove()

    return remove
