"""The completion cache: answer a repeated prompt, or typing through a shown suggestion,
without running the model.

Entries map (model, adapter, repository context, text before the cursor) to the model's raw
output. When the user types the first characters of a shown suggestion, the new prefix is
an old prefix plus characters the old output starts with, so the rest of that output is
the answer: a recent-entries index in memory finds it by looking back over the typed
characters. The disk tier (diskcache) keeps answers across restarts; a corrupt or
unwritable cache directory is reported once and the cache carries on in memory.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_LOOKBACK_CHARS = 512


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


class CompletionCache:
    def __init__(self, directory: Path | None, *, memory_entries: int = 512,
                 size_limit: int = 64 * 2**20) -> None:
        self._memory: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._memory_entries = memory_entries
        self._disk: Any = None
        if directory is not None:
            self._disk = self._open(directory, size_limit)

    @staticmethod
    def _open(directory: Path, size_limit: int) -> Any:
        import diskcache

        try:
            return diskcache.Cache(str(directory), size_limit=size_limit)
        except Exception as exc:  # corrupt database: move it aside, start again
            log.warning("completion cache at %s is unusable (%s); starting a new one",
                        directory, exc)
            try:
                aside = directory.with_name(f"{directory.name}.corrupt-{int(time.time())}")
                shutil.move(str(directory), str(aside))
                return diskcache.Cache(str(directory), size_limit=size_limit)
            except Exception as exc2:
                log.warning("completion cache disabled on disk: %s", exc2)
                return None

    def get(self, scope: str, prefix: str) -> tuple[str, int] | None:
        """(raw output, characters already typed from it) for `prefix` under `scope`."""
        raw = self._memory.get((scope, prefix))
        if raw is not None:
            return raw, 0
        # A suggestion being typed through wins over an older answer on disk, so the ghost
        # text does not change under the user's fingers.
        for typed in range(1, min(len(prefix), _LOOKBACK_CHARS) + 1):
            earlier = self._memory.get((scope, prefix[:-typed]))
            if earlier is not None and earlier.startswith(prefix[-typed:]):
                self._memory.move_to_end((scope, prefix[:-typed]))
                return earlier, typed
        if self._disk is not None:
            try:
                raw = self._disk.get(_digest(scope, prefix))
            except Exception as exc:
                log.warning("completion cache read failed: %s", exc)
        if raw is None:
            return None
        self._remember(scope, prefix, raw)  # so typing through it is found in memory
        return raw, 0

    def _remember(self, scope: str, prefix: str, raw: str) -> None:
        self._memory[(scope, prefix)] = raw
        self._memory.move_to_end((scope, prefix))
        while len(self._memory) > self._memory_entries:
            self._memory.popitem(last=False)

    def put(self, scope: str, prefix: str, raw: str) -> None:
        self._remember(scope, prefix, raw)
        if self._disk is not None:
            try:
                self._disk.set(_digest(scope, prefix), raw, expire=7 * 86400)
            except Exception as exc:  # a full disk costs the persistence, nothing else
                log.warning("completion cache write failed: %s", exc)

    def close(self) -> None:
        if self._disk is not None:
            self._disk.close()


def scope_key(*parts: str) -> str:
    """The cache scope of a request: model, adapter and the prompt's repository context."""
    return _digest(*parts)
