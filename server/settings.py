"""Typed settings, parsed once from the client's camelCase JSON into defaulted dataclasses.

Every key is optional. A bad value never stops the server: it is replaced by that key's
default and reported (the caller shows the messages with `window/showMessage`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, get_type_hints

_BUDGET = re.compile(r"^\d+(s|m|h)$|^\d+k?-tokens$")


@dataclass
class CompletionSettings:
    enable: bool = True
    max_prompt_tokens: int = 1024
    max_new_tokens: int = 64
    multiline: str = "auto"
    timeout_ms: int = 3000


@dataclass
class AdapterSettings:
    enable: bool = True
    max_loaded: int = 4


@dataclass
class TrainingSettings:
    budget: str = "10m"


@dataclass
class DiagnosticsSettings:
    enable: bool = False


@dataclass
class CommitSettings:
    max_prompt_tokens: int = 1536
    max_new_tokens: int = 96
    timeout_ms: int = 60_000


@dataclass
class RepairSettings:
    candidates: int = 3
    timeout_ms: int = 90_000


@dataclass
class PerfSettings:
    enable: bool = True
    threshold: float = 1.5
    measure: bool = False


@dataclass
class SelectorSettings:
    enable: bool = True
    auto_switch: bool = False
    latency_budget_ms: int = 500
    candidates: list[str] = field(default_factory=list)
    idle_seconds: int = 30
    # real LoRA fine-tunes one ranking may run; candidates that get the expensive proxies
    # (both 0: selector.ranking.rank's FINE_TUNES and FULL_TOP say why)
    fine_tunes: int = 0
    finalists: int = 0
    train_budget: str = "50000-tokens"  # one full fine-tune of the ranking's search


@dataclass
class TelemetrySettings:
    enable: bool = True


@dataclass
class Settings:
    model: str = "smollm2-135m-instruct"
    backend: str = "auto"
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    adapters: AdapterSettings = field(default_factory=AdapterSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    diagnostics: DiagnosticsSettings = field(default_factory=DiagnosticsSettings)
    commit: CommitSettings = field(default_factory=CommitSettings)
    repair: RepairSettings = field(default_factory=RepairSettings)
    perf: PerfSettings = field(default_factory=PerfSettings)
    selector: SelectorSettings = field(default_factory=SelectorSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    log_level: str = "info"


# Constraints beyond the type: allowed values and ranges, by dotted camelCase key.
_CHOICES: dict[str, tuple[str, ...]] = {
    "backend": ("auto", "torch", "onnxruntime"),
    "completion.multiline": ("auto", "always", "never"),
    "logLevel": ("debug", "info", "warning", "error"),
}
_RANGES: dict[str, tuple[float, float]] = {
    "completion.maxPromptTokens": (32, 32768),
    "completion.maxNewTokens": (1, 1024),
    "completion.timeoutMs": (50, 600_000),
    "adapters.maxLoaded": (1, 64),
    "repair.candidates": (1, 16),
    "repair.timeoutMs": (1000, 600_000),
    "commit.maxPromptTokens": (128, 32768),
    "commit.maxNewTokens": (8, 1024),
    "commit.timeoutMs": (1000, 600_000),
    "perf.threshold": (1.0, 1000.0),
    "selector.latencyBudgetMs": (1, 600_000),
    "selector.idleSeconds": (1, 86_400),
    "selector.fineTunes": (0, 50),
    "selector.finalists": (0, 50),
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _check(key: str, kind: Any, value: Any) -> Any:
    """Return the value if it fits, else raise ValueError with a readable reason."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if kind is int or kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        if kind is int and float(value) != int(value):
            raise ValueError("expected a whole number")
        low, high = _RANGES.get(key, (float("-inf"), float("inf")))
        if not low <= value <= high:
            raise ValueError(f"expected a value between {low:g} and {high:g}")
        return kind(value)
    if kind is str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("expected a non-empty string")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ValueError("expected one of " + ", ".join(_CHOICES[key]))
        if key in ("training.budget", "selector.trainBudget") and not _BUDGET.match(value):
            raise ValueError("expected a budget such as 90s, 10m, 1h or 200k-tokens")
        return value
    if kind == list[str]:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ValueError("expected a list of strings")
    raise ValueError("unsupported setting")


def _fill(target: Any, data: Any, path: str, errors: list[str]) -> None:
    if not isinstance(data, dict):
        errors.append(f"tailor{'.' + path if path else ''}: expected an object; using defaults")
        return
    hints = get_type_hints(type(target))
    fields = {camel(f.name): f for f in dataclasses.fields(target)}
    for key, value in data.items():
        dotted = f"{path}.{key}" if path else key
        f = fields.get(key)
        if f is None:
            errors.append(f"tailor.{dotted}: unknown setting, ignored")
            continue
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            _fill(getattr(target, f.name), value, dotted, errors)
            continue
        try:
            setattr(target, f.name, _check(dotted, kind, value))
        except ValueError as exc:
            errors.append(f"tailor.{dotted}: {exc}; using the default "
                          f"{getattr(target, f.name)!r}")


def parse_settings(data: Any) -> tuple[Settings, list[str]]:
    """Settings from `initializationOptions` or the `tailor` configuration section.

    Accepts `{"tailor": {...}}` too, since clients differ in how they nest the section.
    """
    settings = Settings()
    errors: list[str] = []
    # `TAILOR_BACKEND` pins the backend's default for a process (e.g. a machine where
    # building the onnxruntime graphs in the background is unwanted); a sent value wins.
    pinned = os.environ.get("TAILOR_BACKEND")
    if pinned in _CHOICES["backend"]:
        settings.backend = pinned
    if data is None:
        return settings, errors
    if isinstance(data, dict) and set(data) == {"tailor"}:
        data = data["tailor"]
    _fill(settings, data, "", errors)
    return settings, errors
