"""Which adapter a request uses: the active one of its repository for the loaded base model.

Looked up per request (on the inference thread), so a file of another repository switches
slots at once. Store reads are cached for a few seconds per repository: a keystroke must
not cost directory listings. An adapter that fails to load is reported once and skipped
until the store names another version.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.completion import Completer
from adapters.dataset import repo_identity
from adapters.repo_context import find_repo_root
from adapters.slots import AdapterLoadError, Slots
from adapters.store import AdapterInfo, AdapterStore

log = logging.getLogger(__name__)

_TTL = 5.0


@dataclass(frozen=True)
class Choice:
    repo_id: str
    key: str | None  # "<repo-id>/<version>", None for the base model
    state: str  # active | none | not-better | corrupt | disabled


class AdapterSelector:
    def __init__(self, store: AdapterStore, slots: Slots, completer: Completer,
                 model_name: str, on_problem: Callable[[str], None] = lambda message: None,
                 ) -> None:
        self.store = store
        self.slots = slots
        self.completer = completer
        self.model_name = model_name
        self.on_problem = on_problem
        self._repo_ids: dict[Path, str] = {}
        self._lookups: dict[str, tuple[float, AdapterInfo | None, str]] = {}
        self._failed: set[str] = set()
        self.last: Choice | None = None

    def repo_id(self, path: Path) -> str:
        root = find_repo_root(path.parent) or path.parent
        if root not in self._repo_ids:
            self._repo_ids[root] = repo_identity(root)
        return self._repo_ids[root]

    def _lookup(self, repo_id: str) -> tuple[AdapterInfo | None, str]:
        now = time.monotonic()
        hit = self._lookups.get(repo_id)
        if hit and now - hit[0] < _TTL:
            return hit[1], hit[2]
        info = self.store.active(repo_id, self.model_name)
        if info is not None:
            state = "active"
        else:
            versions = [v for v in self.store.list(repo_id) if v.model == self.model_name]
            state = ("not-better" if any(v.valid for v in versions)
                     else "corrupt" if versions else "none")
        self._lookups[repo_id] = (now, info, state)
        return info, state

    def invalidate(self, repo_id: str | None = None) -> None:
        if repo_id is None:
            self._lookups.clear()
        else:
            self._lookups.pop(repo_id, None)

    def select(self, path: Path, enabled: bool = True) -> Choice:
        """Activate the adapter for `path`'s repository (or the base model) in the model."""
        repo_id = self.repo_id(path)
        info, state = self._lookup(repo_id) if enabled else (None, "disabled")
        key = f"{repo_id}/{info.version}" if info is not None else None
        if key is not None and key in self._failed:
            key, state = None, "corrupt"
        try:
            changed = self.slots.use(key, info.path if info is not None else None)
        except AdapterLoadError as exc:
            assert key is not None
            self._failed.add(key)
            self.on_problem(f"The adapter at {info.path if info else key} cannot be used "
                            f"({exc}); using the base model. Training again writes a fresh "
                            "version.")
            key, state, changed = None, "corrupt", True
        if changed:
            self.completer.engine.reset()  # its KV cache was computed with other weights
        self.completer.adapter = key or "base"
        self.last = Choice(repo_id=repo_id, key=key, state=state)
        return self.last
