"""Where Tailor keeps its data, so every part (server, CLI, tests) agrees on one layout."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """`TAILOR_HOME`, else `$XDG_DATA_HOME/tailor`, else `~/.local/share/tailor`."""
    home = os.environ.get("TAILOR_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "tailor"


def models_dir() -> Path:
    return data_dir() / "models"


def cache_dir() -> Path:
    return data_dir() / "cache"
