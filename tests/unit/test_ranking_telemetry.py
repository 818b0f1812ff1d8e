"""Acceptance telemetry: counted per repository, model and adapter; robust to a corrupt or
unwritable file; live acceptance overrules the predicted order only where there is enough."""

from __future__ import annotations

from pathlib import Path

import pytest

from selector.ranking.telemetry import MIN_SHOWN, Live, Telemetry, apply_live


def test_counts_per_repository_and_model_with_adapters_summed(tmp_path: Path) -> None:
    t = Telemetry(tmp_path / "t.sqlite3")
    for _ in range(4):
        t.shown("/r", "m1", None)
    t.shown("/r", "m1", "r/1")
    t.accepted("/r", "m1", None, chars=12)
    t.accepted("/r", "m1", "r/1", chars=3)
    t.shown("/r", "m2", None)
    t.shown("/other", "m1", None)
    counts = t.by_model("/r")
    assert counts == {"m1": Live(5, 2), "m2": Live(1, 0)}
    assert counts["m1"].rate == pytest.approx(0.4)
    t.close()
    assert Telemetry(tmp_path / "t.sqlite3").by_model("/r")["m1"] == Live(5, 2)  # persisted


def test_a_corrupt_file_is_kept_aside_and_counting_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    t = Telemetry(path)
    t.shown("/r", "m", None)
    assert t.by_model("/r") == {"m": Live(1, 0)}
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")


def test_an_unusable_location_costs_nothing_but_the_count(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data directory should be")
    t = Telemetry(blocker / "t.sqlite3")
    t.shown("/r", "m", None)  # logged, not raised
    assert t.by_model("/r") == {}
    assert blocker.read_text().startswith("a file")


def test_a_failing_write_is_logged_not_raised(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    t = Telemetry(tmp_path / "t.sqlite3")
    t.shown("/r", "m", None)
    t._connect().execute("DROP TABLE acceptance")  # stands in for a full or broken disk
    t.accepted("/r", "m", None)
    assert "telemetry not recorded" in caplog.text
    assert t.by_model("/r") == {}


def row(model: str, available: bool = True) -> dict[str, object]:
    return {"model": model, "available": available, "predicted_score": 0.0}


def test_live_acceptance_reorders_only_models_with_enough_of_it() -> None:
    rows = [row("a"), row("b"), row("c"), row("d")]
    live = {"a": Live(MIN_SHOWN, 3), "c": Live(MIN_SHOWN * 2, 30),
            "d": Live(MIN_SHOWN - 1, MIN_SHOWN - 1)}  # d: a perfect rate, too few shown
    out = apply_live(rows, live)
    assert [r["model"] for r in out] == ["c", "b", "a", "d"]
    assert out[0]["live"] == {"shown": MIN_SHOWN * 2, "accepted": 30, "rate": 0.5}
    assert out[1]["live"] is None and out[3]["live"]["shown"] == MIN_SHOWN - 1
    assert [r["model"] for r in apply_live(rows, {})] == ["a", "b", "c", "d"]
