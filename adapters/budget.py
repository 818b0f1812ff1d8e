"""How much training to do, parsed from the user's words (`90s`, `200k-tokens`).

Its own module, free of torch, so that the command line can show and check budgets without
importing the training code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h)")
_TOKENS = re.compile(r"(\d+(?:\.\d+)?)\s*([km]?)[-\s]?tokens")
_SCALE = {"s": 1, "m": 60, "h": 3600, "": 1, "k": 1_000}


@dataclass(frozen=True)
class Budget:
    """How much training to do: wall-clock seconds, trained tokens, or whichever ends first."""

    seconds: float | None = None
    tokens: int | None = None

    def __post_init__(self) -> None:
        if self.seconds is None and self.tokens is None:
            raise ValueError("a budget needs seconds or tokens")
        if (self.seconds is not None and self.seconds <= 0) or (
                self.tokens is not None and self.tokens <= 0):
            raise ValueError("a budget must be positive")

    @classmethod
    def parse(cls, text: str) -> Budget:
        """`90s`, `10m`, `1h` (wall clock) or `200k-tokens`, `5000-tokens`, `1m-tokens`."""
        cleaned = text.strip().lower()
        if match := _DURATION.fullmatch(cleaned):
            seconds = float(match[1]) * _SCALE[match[2]]
            if seconds > 0:
                return cls(seconds=seconds)
        elif match := _TOKENS.fullmatch(cleaned):
            tokens = int(float(match[1]) * (1_000_000 if match[2] == "m" else _SCALE[match[2]]))
            if tokens > 0:
                return cls(tokens=tokens)
        raise ValueError(f"bad training budget {text!r}: give a positive duration such as "
                         "90s, 10m or 1h, or a token count such as 200k-tokens")

    def describe(self) -> str:
        parts = []
        if self.seconds is not None:
            parts.append(f"{self.seconds:g}s")
        if self.tokens is not None:
            parts.append(f"{self.tokens} tokens")
        return " or ".join(parts)
