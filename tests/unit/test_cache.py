"""The completion cache: repeated prompts and typing through a shown suggestion are answered
without the model; a broken cache directory never breaks completion."""

from __future__ import annotations

import logging

import pytest

from adapters.cache import CompletionCache, scope_key

SCOPE = scope_key("model", "base", "context-digest")
PREFIX = "def add(a, b):\n    return "
RAW = "a + b\n"


@pytest.fixture
def cache(tmp_path):
    c = CompletionCache(tmp_path / "cache")
    yield c
    c.close()


def test_exact_prefix_hits(cache):
    cache.put(SCOPE, PREFIX, RAW)
    assert cache.get(SCOPE, PREFIX) == (RAW, 0)


def test_empty_cache_misses(cache):
    assert cache.get(SCOPE, PREFIX) is None


def test_typing_through_the_suggestion_hits(cache):
    cache.put(SCOPE, PREFIX, RAW)
    for k in range(1, len(RAW) + 1):
        assert cache.get(SCOPE, PREFIX + RAW[:k]) == (RAW, k)


def test_typing_something_else_misses(cache):
    cache.put(SCOPE, PREFIX, RAW)
    assert cache.get(SCOPE, PREFIX + "b") is None
    assert cache.get(SCOPE, PREFIX + "a -") is None
    assert cache.get(SCOPE, PREFIX[:-1]) is None  # a deletion


def test_other_scope_misses(cache):
    cache.put(SCOPE, PREFIX, RAW)
    for other in (scope_key("model", "repo-adapter", "context-digest"),
                  scope_key("other-model", "base", "context-digest"),
                  scope_key("model", "base", "other-context")):
        assert cache.get(other, PREFIX) is None
        assert cache.get(other, PREFIX + "a") is None


def test_scope_key_separates_its_parts():
    assert scope_key("ab", "c") != scope_key("a", "bc")


def test_newer_answer_replaces_older(cache):
    cache.put(SCOPE, PREFIX, RAW)
    cache.put(SCOPE, PREFIX, "b + a\n")
    assert cache.get(SCOPE, PREFIX) == ("b + a\n", 0)


def test_memory_tier_is_bounded():
    cache = CompletionCache(None, memory_entries=3)
    for i in range(5):
        cache.put(SCOPE, f"x{i} = ", str(i))
    assert cache.get(SCOPE, "x0 = ") is None
    assert cache.get(SCOPE, "x4 = ") == ("4", 0)


def test_disk_tier_answers_after_restart(tmp_path):
    first = CompletionCache(tmp_path / "cache")
    first.put(SCOPE, PREFIX, RAW)
    first.close()
    second = CompletionCache(tmp_path / "cache")
    try:
        assert second.get(SCOPE, PREFIX) == (RAW, 0)
        assert second.get(scope_key("other"), PREFIX) is None
    finally:
        second.close()


def test_corrupt_directory_is_moved_aside_and_cache_works(tmp_path, caplog):
    directory = tmp_path / "cache"
    directory.mkdir()
    (directory / "cache.db").write_bytes(b"this is not a sqlite database\0" * 100)
    with caplog.at_level(logging.WARNING):
        cache = CompletionCache(directory)
    try:
        assert any("unusable" in r.getMessage() for r in caplog.records)
        aside = [p for p in tmp_path.iterdir() if p.name.startswith("cache.corrupt-")]
        assert len(aside) == 1 and (aside[0] / "cache.db").exists()
        cache.put(SCOPE, PREFIX, RAW)
        assert cache.get(SCOPE, PREFIX) == (RAW, 0)
    finally:
        cache.close()
    reopened = CompletionCache(directory)  # the new database persists
    try:
        assert reopened.get(SCOPE, PREFIX) == (RAW, 0)
    finally:
        reopened.close()


def test_unwritable_directory_does_not_raise(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cache = CompletionCache(blocker / "cache")  # cannot be created under a file
    cache.put(SCOPE, PREFIX, RAW)
    assert cache.get(SCOPE, PREFIX) == (RAW, 0)
    assert cache.get(SCOPE, PREFIX + "a") == (RAW, 1)
    cache.close()
