"""The zoo trainer on a tiny budget: it must beat the unigram baseline on held-out code."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import CharTokenizer

from selector.ranking.catalogue import ZooRecipe
from selector.ranking.zoo import stdlib_sources, token_stream, train_zoo, unigram_loss


def test_unigram_loss_by_hand() -> None:
    # Train counts a:3, b:1, c:0 with add-one smoothing over 3 symbols: p = 4/7, 2/7, 1/7.
    loss = unigram_loss([0, 0, 0, 1], [0, 2], vocab=3)
    assert loss == pytest.approx(-(math.log(4 / 7) + math.log(1 / 7)) / 2)


def test_stdlib_split_is_stable_and_disjoint() -> None:
    train, held = stdlib_sources(max_files=80)
    again_train, again_held = stdlib_sources(max_files=80)
    assert (train, held) == (again_train, again_held)
    assert train and held and not set(train) & set(held)


def test_tiny_budget_beats_unigram(tokenizer: CharTokenizer) -> None:
    torch.set_num_threads(1)
    train_texts, held_texts = stdlib_sources(max_files=60, max_chars=4000)
    train_ids = token_stream(tokenizer, train_texts)
    held_ids = token_stream(tokenizer, held_texts)
    recipe = ZooRecipe(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       num_key_value_heads=1, intermediate_size=64, tokens=40_000, seq_len=64)
    model, result = train_zoo(recipe, tokenizer, train_ids, held_ids, batch_size=8, lr=1e-2,
                              eval_tokens=4000)
    assert result.tokens >= 40_000 and result.heldout_tokens > 1000
    assert result.beats_unigram, result
    assert model.config.num_hidden_layers == 2
