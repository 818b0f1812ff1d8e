"""Local acceptance telemetry: which suggestions were shown and accepted, per model and adapter.

The offline ranking predicts quality; what the user actually accepts measures it. Counts
are kept per (repository, model, adapter) in a small SQLite file in the data directory
(SQLite: atomic increments, safe if two servers share a data directory) and never leave
the machine. A corrupt file is moved aside (kept, not deleted) and a new one started; a
write that fails (full disk, read-only directory) is logged and dropped: telemetry must
never cost the user a suggestion.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from adapters.paths import data_dir

log = logging.getLogger(__name__)

MIN_SHOWN = 30  # suggestions shown before a model's live acceptance rate is trusted

_SCHEMA = """CREATE TABLE IF NOT EXISTS acceptance (
    repo TEXT NOT NULL, model TEXT NOT NULL, adapter TEXT NOT NULL,
    shown INTEGER NOT NULL DEFAULT 0, accepted INTEGER NOT NULL DEFAULT 0,
    accepted_chars INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (repo, model, adapter))"""


@dataclass(frozen=True)
class Live:
    shown: int
    accepted: int

    @property
    def rate(self) -> float:
        return self.accepted / self.shown if self.shown else 0.0

    @property
    def enough(self) -> bool:
        return self.shown >= MIN_SHOWN

    def to_dict(self) -> dict[str, float | int]:
        return {"shown": self.shown, "accepted": self.accepted, "rate": round(self.rate, 4)}


def telemetry_path() -> Path:
    return data_dir() / "telemetry" / "acceptance.sqlite3"


class Telemetry:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or telemetry_path()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=2.0)
            db.execute(_SCHEMA)
            db.execute("SELECT count(*) FROM acceptance").fetchone()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.warning("telemetry file %s is unreadable (%s); kept as %s, starting anew",
                        self.path, exc, aside.name)
            self.path.replace(aside)
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=2.0)
            db.execute(_SCHEMA)
        self._db = db
        return db

    def _add(self, repo: str, model: str, adapter: str | None, shown: int, accepted: int,
             chars: int) -> None:
        with self._lock:
            try:
                db = self._connect()
                with db:
                    db.execute(
                        "INSERT INTO acceptance VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (repo, model, adapter) DO UPDATE SET "
                        "shown = shown + excluded.shown, accepted = accepted + excluded.accepted,"
                        " accepted_chars = accepted_chars + excluded.accepted_chars, "
                        "updated = excluded.updated",
                        (repo, model, adapter or "", shown, accepted, chars, time.time()))
            except (sqlite3.Error, OSError) as exc:
                log.warning("telemetry not recorded: %s", exc)

    def shown(self, repo: str, model: str, adapter: str | None) -> None:
        self._add(repo, model, adapter, 1, 0, 0)

    def accepted(self, repo: str, model: str, adapter: str | None, chars: int = 0) -> None:
        self._add(repo, model, adapter, 0, 1, max(0, chars))

    def by_model(self, repo: str) -> dict[str, Live]:
        """Counts per model on one repository, adapters summed (the ranking is of bases)."""
        with self._lock:
            try:
                rows = self._connect().execute(
                    "SELECT model, sum(shown), sum(accepted) FROM acceptance WHERE repo = ? "
                    "GROUP BY model", (repo,)).fetchall()
            except (sqlite3.Error, OSError) as exc:
                log.warning("telemetry not readable: %s", exc)
                return {}
        return {model: Live(int(shown), int(accepted)) for model, shown, accepted in rows}

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def apply_live(rows: list[dict[str, object]], live: dict[str, Live]) -> list[dict[str, object]]:
    """Attach live counts to ranking rows and let them overrule the prediction where there
    is enough: the rows with a trusted acceptance rate are reordered among the places they
    hold, by that rate (so a switch that users accept less than the old model is undone by
    the next ranking), the others keep their places."""
    out = [dict(row, live=live[str(row["model"])].to_dict() if str(row["model"]) in live
                else None) for row in rows]
    places = [i for i, row in enumerate(out) if str(row["model"]) in live
              and live[str(row["model"])].enough and row.get("available", True)]
    ordered = sorted((out[i] for i in places),
                     key=lambda row: live[str(row["model"])].rate, reverse=True)
    for i, row in zip(places, ordered, strict=True):
        out[i] = row
    return out
