"""Adapters on disk: `adapters/<repo-id>/<model>/<version>/`, plus a file `active` per model.

A version is a UTC timestamp and is never overwritten, so training again never touches
the adapter the server is using; the `active` file is the one pointer that changes, and it
is replaced atomically. A corrupt or partial version is reported and skipped: the server
falls back to the base model and the next training simply writes a fresh version.
Temporary directories (names starting with ".") are invisible to every listing.
"""

from __future__ import annotations

import builtins
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.lora import is_valid_adapter, read_metadata
from adapters.paths import data_dir

log = logging.getLogger(__name__)

ACTIVE_FILE = "active"
_VERSION_FORMAT = "%Y%m%dT%H%M%SZ"
_STALE_TMP_SECONDS = 24 * 3600


@dataclass
class AdapterInfo:
    repo_id: str
    model: str
    version: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    active: bool = False
    valid: bool = True
    problem: str | None = None

    @property
    def state(self) -> str:
        """`active`, `inactive` or `corrupt` (a corrupt version is never used, even if named)."""
        if not self.valid:
            return "corrupt"
        return "active" if self.active else "inactive"

    def to_dict(self) -> dict[str, Any]:
        return {"repo_id": self.repo_id, "model": self.model, "version": self.version,
                "path": str(self.path), "state": self.state, "problem": self.problem,
                "metadata": self.metadata}


def _visible_dirs(parent: Path) -> list[Path]:
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))


class AdapterStore:
    """The adapters directory (`<data dir>/adapters` unless `root` is given)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir() / "adapters"

    def model_dir(self, repo_id: str, model: str) -> Path:
        return self.root / repo_id / model

    def new_version_dir(self, repo_id: str, model: str) -> Path:
        """A path for a new version that does not exist yet (not created: `save_adapter`
        renames a finished directory onto it). Also sweeps temporary directories that a
        crashed save left behind long ago."""
        parent = self.model_dir(repo_id, model)
        parent.mkdir(parents=True, exist_ok=True)
        self._sweep_stale(parent)
        moment = datetime.now(UTC).replace(microsecond=0)
        while True:
            version = moment.strftime(_VERSION_FORMAT)
            if not (parent / version).exists():
                return parent / version
            moment += timedelta(seconds=1)

    def _sweep_stale(self, parent: Path) -> None:
        now = time.time()
        for item in parent.iterdir():
            if item.name.startswith(".") and item.is_dir():
                try:
                    if now - item.stat().st_mtime > _STALE_TMP_SECONDS:
                        shutil.rmtree(item, ignore_errors=True)
                except OSError:
                    continue

    def commit_version(self, repo_id: str, model: str, peft_model: Any,
                       metadata: dict[str, Any], *, activate: bool) -> AdapterInfo:
        """Save `peft_model`'s adapter as a new version; make it active only if asked (the
        caller decides whether it beats the base model)."""
        from adapters.lora import save_adapter

        directory = self.new_version_dir(repo_id, model)
        full = {"repo_id": repo_id, "model": model, "version": directory.name,
                "created": datetime.now(UTC).isoformat(timespec="seconds"), **metadata}
        save_adapter(peft_model, directory, full)
        if activate:
            self.activate(repo_id, model, directory.name)
        return self._info(repo_id, model, directory, active_version=self._read_active(
            self.model_dir(repo_id, model)))

    def activate(self, repo_id: str, model: str, version: str) -> None:
        """Point `active` at `version`, atomically (temporary file, then rename)."""
        parent = self.model_dir(repo_id, model)
        ok, problem = is_valid_adapter(parent / version)
        if not ok:
            raise ValueError(f"cannot activate {parent / version}: {problem}")
        fd, tmp = tempfile.mkstemp(prefix=f".{ACTIVE_FILE}-", dir=parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(version + "\n")
            os.replace(tmp, parent / ACTIVE_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def deactivate(self, repo_id: str, model: str) -> None:
        (self.model_dir(repo_id, model) / ACTIVE_FILE).unlink(missing_ok=True)

    @staticmethod
    def _read_active(parent: Path) -> str | None:
        try:
            version = (parent / ACTIVE_FILE).read_text().strip()
        except OSError:
            return None
        return version or None

    def _info(self, repo_id: str, model: str, path: Path,
              active_version: str | None) -> AdapterInfo:
        valid, problem = is_valid_adapter(path)
        metadata: dict[str, Any] = {}
        if valid:
            metadata = read_metadata(path)
        return AdapterInfo(repo_id=repo_id, model=model, version=path.name, path=path,
                           metadata=metadata, active=path.name == active_version,
                           valid=valid, problem=problem)

    def active(self, repo_id: str, model: str) -> AdapterInfo | None:
        """The adapter to use for (repository, model), or None for the base model.

        A named version that is missing or corrupt is logged and skipped rather than
        replaced by an older one: an older adapter was not the one judged best.
        """
        parent = self.model_dir(repo_id, model)
        version = self._read_active(parent)
        if version is None:
            return None
        info = self._info(repo_id, model, parent / version, version)
        if not info.valid:
            log.warning("adapter %s is unusable (%s); using the base model", info.path,
                        info.problem)
            return None
        return info

    def list(self, repo_id: str | None = None) -> builtins.list[AdapterInfo]:
        """Every version (of one repository, or all), oldest first per model, with its state."""
        repos = [self.root / repo_id] if repo_id else _visible_dirs(self.root)
        found: list[AdapterInfo] = []
        for repo in repos:
            for model_dir in _visible_dirs(repo):
                active_version = self._read_active(model_dir)
                for version_dir in _visible_dirs(model_dir):
                    found.append(self._info(repo.name, model_dir.name, version_dir,
                                            active_version))
        return found

    def remove(self, repo_id: str, model: str | None = None,
               version: str | None = None) -> builtins.list[Path]:
        """Delete one version, every version of one model, or everything of a repository;
        returns what was deleted. Removing the active version clears `active`."""
        if version is not None and model is None:
            raise ValueError("a version needs its model")
        repo = self.root / repo_id
        targets: list[Path]
        if version is not None:
            assert model is not None
            targets = [repo / model / version]
        elif model is not None:
            targets = [repo / model]
        else:
            targets = [repo]
        removed = [t for t in targets if t.exists()]
        for target in removed:
            if (version is not None and model is not None
                    and self._read_active(repo / model) == version):
                self.deactivate(repo_id, model)
            shutil.rmtree(target)
        for empty in (repo / model if model and version else None, repo):
            if empty is not None and empty.is_dir() and not any(empty.iterdir()):
                empty.rmdir()
        return removed
