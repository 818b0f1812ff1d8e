"""The user's own measurements rescale later predictions: a little with one, a lot with
many; kept across restarts; a corrupt record or an unwritable disk loses nothing else."""

from __future__ import annotations

import math
from pathlib import Path

from selector.perf.calibration import Calibration


def test_no_measurements_change_nothing(tmp_path: Path) -> None:
    calibration = Calibration(tmp_path / "measured.jsonl")
    assert calibration.apply(300.0) == 300.0


def test_one_measurement_nudges_and_many_decide(tmp_path: Path) -> None:
    calibration = Calibration(tmp_path / "measured.jsonl")
    calibration.add(300.0, 20.0)  # predicted 300x, measured 20x
    once = calibration.apply(300.0)
    assert 20.0 < once < 300.0
    for _ in range(30):
        calibration.add(300.0, 20.0)
    many = calibration.apply(300.0)
    assert many < once and abs(math.log(many) - math.log(20.0)) < 0.2
    assert calibration.apply(1 / 300.0) == 1 / many  # both directions alike, in log space


def test_measurements_persist_and_corrupt_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "perf" / "measured.jsonl"
    first = Calibration(path)
    first.add(50.0, 5.0)
    with path.open("a") as out:
        out.write("{not json\n")
    again = Calibration(path)
    assert len(again.pairs) == 1 and again.apply(50.0) == first.apply(50.0)


def test_an_unwritable_record_keeps_the_measurement_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    calibration = Calibration(blocker / "measured.jsonl")  # its directory cannot exist
    calibration.add(10.0, 2.0)
    assert calibration.apply(10.0) < 10.0
