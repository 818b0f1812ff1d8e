"""Settings from the client: every key optional, a bad value reported by its dotted name and
replaced by its default, never fatal."""

from __future__ import annotations

import pytest

from server.settings import Settings, parse_settings


@pytest.fixture(autouse=True)
def _no_pinned_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/conftest.py pins servers under test to torch; these test the defaults."""
    monkeypatch.delenv("TAILOR_BACKEND", raising=False)


@pytest.mark.parametrize("data", [None, {}])
def test_nothing_given_means_defaults(data):
    settings, errors = parse_settings(data)
    assert settings == Settings()
    assert errors == []


def test_camel_case_nested_keys_are_applied():
    settings, errors = parse_settings({
        "model": "/models/mine",
        "logLevel": "debug",
        "completion": {"maxPromptTokens": 2048, "maxNewTokens": 32, "multiline": "never",
                       "timeoutMs": 800, "enable": False},
        "adapters": {"maxLoaded": 2},
        "training": {"budget": "200k-tokens"},
        "perf": {"threshold": 2.5},
        "selector": {"autoSwitch": True, "latencyBudgetMs": 250, "candidates": ["a", "b"],
                     "idleSeconds": 10},
    })
    assert errors == []
    assert settings.model == "/models/mine"
    assert settings.log_level == "debug"
    c = settings.completion
    assert (c.max_prompt_tokens, c.max_new_tokens, c.multiline, c.timeout_ms, c.enable) == \
        (2048, 32, "never", 800, False)
    assert settings.adapters.max_loaded == 2
    assert settings.training.budget == "200k-tokens"
    assert settings.perf.threshold == 2.5
    s = settings.selector
    assert (s.auto_switch, s.latency_budget_ms, s.candidates, s.idle_seconds) == \
        (True, 250, ["a", "b"], 10)


def test_section_nested_under_tailor_is_accepted():
    settings, errors = parse_settings({"tailor": {"completion": {"maxNewTokens": 16}}})
    assert errors == []
    assert settings.completion.max_new_tokens == 16


@pytest.mark.parametrize(
    ("data", "key", "attr"),
    [
        pytest.param({"completion": {"maxPromptTokens": "big"}}, "completion.maxPromptTokens",
                     ("completion", "max_prompt_tokens"), id="string-for-number"),
        pytest.param({"completion": {"maxPromptTokens": 10}}, "completion.maxPromptTokens",
                     ("completion", "max_prompt_tokens"), id="below-range"),
        pytest.param({"completion": {"maxNewTokens": 5000}}, "completion.maxNewTokens",
                     ("completion", "max_new_tokens"), id="above-range"),
        pytest.param({"completion": {"timeoutMs": 100.5}}, "completion.timeoutMs",
                     ("completion", "timeout_ms"), id="fraction-for-int"),
        pytest.param({"completion": {"maxNewTokens": True}}, "completion.maxNewTokens",
                     ("completion", "max_new_tokens"), id="bool-for-number"),
        pytest.param({"completion": {"enable": "yes"}}, "completion.enable",
                     ("completion", "enable"), id="string-for-bool"),
        pytest.param({"completion": {"multiline": "sometimes"}}, "completion.multiline",
                     ("completion", "multiline"), id="unknown-choice"),
        pytest.param({"backend": "cuda-magic"}, "backend", ("backend",), id="unknown-backend"),
        pytest.param({"logLevel": "loud"}, "logLevel", ("log_level",), id="unknown-log-level"),
        pytest.param({"model": ""}, "model", ("model",), id="empty-model"),
        pytest.param({"model": 3}, "model", ("model",), id="number-for-string"),
        pytest.param({"training": {"budget": "ten minutes"}}, "training.budget",
                     ("training", "budget"), id="bad-budget"),
        pytest.param({"training": {"budget": "10d"}}, "training.budget",
                     ("training", "budget"), id="budget-unknown-unit"),
        pytest.param({"perf": {"threshold": 0.5}}, "perf.threshold", ("perf", "threshold"),
                     id="float-below-range"),
        pytest.param({"selector": {"candidates": "a,b"}}, "selector.candidates",
                     ("selector", "candidates"), id="string-for-list"),
        pytest.param({"selector": {"candidates": ["a", 1]}}, "selector.candidates",
                     ("selector", "candidates"), id="list-with-number"),
        pytest.param({"completion": "fast"}, "completion", ("completion",),
                     id="section-not-object"),
        pytest.param({"completion": ["maxNewTokens", 4]}, "completion", ("completion",),
                     id="section-is-list"),
    ],
)
def test_bad_value_is_reported_by_dotted_key_and_default_kept(data, key, attr):
    settings, errors = parse_settings(data)
    assert len(errors) == 1, errors
    assert f"tailor.{key}:" in errors[0]
    default, got = Settings(), settings
    for name in attr:
        default, got = getattr(default, name), getattr(got, name)
    assert got == default


def test_unknown_keys_are_reported_and_ignored():
    settings, errors = parse_settings({"modle": "x", "completion": {"maxTokens": 9}})
    assert settings == Settings()
    assert len(errors) == 2
    assert any("tailor.modle" in e and "unknown" in e for e in errors)
    assert any("tailor.completion.maxTokens" in e and "unknown" in e for e in errors)


def test_snake_case_keys_are_not_silently_taken():
    settings, errors = parse_settings({"completion": {"max_new_tokens": 8}})
    assert settings.completion.max_new_tokens == Settings().completion.max_new_tokens
    assert any("completion.max_new_tokens" in e for e in errors)


def test_good_keys_beside_bad_ones_still_apply():
    settings, errors = parse_settings({
        "completion": {"maxNewTokens": 0, "maxPromptTokens": 512, "multiline": "always"},
        "perf": "on",
        "telemetry": {"enable": False},
    })
    assert settings.completion.max_new_tokens == Settings().completion.max_new_tokens
    assert settings.completion.max_prompt_tokens == 512
    assert settings.completion.multiline == "always"
    assert settings.perf == Settings().perf
    assert settings.telemetry.enable is False
    assert len(errors) == 2
    assert any("tailor.completion.maxNewTokens" in e for e in errors)
    assert any("tailor.perf:" in e for e in errors)


def test_whole_section_of_wrong_type_is_reported():
    settings, errors = parse_settings(["not", "an", "object"])
    assert settings == Settings()
    assert len(errors) == 1 and errors[0].startswith("tailor:")


def test_default_is_named_in_the_message():
    _, errors = parse_settings({"completion": {"maxNewTokens": -1}})
    assert str(Settings().completion.max_new_tokens) in errors[0]



@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_are_rejected_not_fatal(value):
    # Python's JSON reader accepts Infinity and NaN, so a client can send them.
    settings, errors = parse_settings({"completion": {"maxNewTokens": value},
                                       "perf": {"threshold": value}})
    assert settings.completion == Settings().completion
    assert settings.perf == Settings().perf
    assert len(errors) == 2


def test_tailor_backend_pins_the_default_and_a_sent_value_wins(monkeypatch) -> None:
    monkeypatch.setenv("TAILOR_BACKEND", "onnxruntime")
    assert parse_settings(None)[0].backend == "onnxruntime"
    assert parse_settings({"backend": "torch"})[0].backend == "torch"
    monkeypatch.setenv("TAILOR_BACKEND", "gpu")  # not a backend: ignored
    assert parse_settings({})[0].backend == "auto"
