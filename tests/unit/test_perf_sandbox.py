"""The timing harness: limits hold, and the user's code never runs without permission."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from selector.perf.programs import Loop, Op, Program, random_program
from selector.perf.sandbox import (
    Limits,
    NotAllowedError,
    measure_user_function,
    time_programs,
    time_sources,
)

FAST = Limits(seconds=1.0, memory_mb=512, repeats=2, target_seconds=0.001)
OK = "def f():\n    return sum(range(100))\n"


def test_an_infinite_loop_is_cut_off_and_the_next_job_still_runs() -> None:
    results = time_sources(["def f():\n    while True:\n        pass\n", OK], ["", ""],
                           allowed=True, limits=FAST)
    assert [r.status for r in results] == ["timeout", "ok"]
    assert results[1].seconds is not None and results[1].seconds > 0


def test_a_memory_hog_is_stopped_and_the_next_job_still_runs() -> None:
    hog = "def f():\n    keep = []\n    while True:\n        keep.append(bytearray(10**7))\n"
    huge = "def f():\n    return bytearray(10**11)\n"
    # CPU time to spare: touching 512 MB takes 0.25-0.5 s of it alone and more on a loaded
    # machine (with FAST's 1 s the hog was sometimes cut off as a timeout beside other jobs);
    # the memory cap is what stops it
    roomy = Limits(seconds=5.0, memory_mb=512, repeats=2, target_seconds=0.001)
    results = time_sources([hog, huge, OK], ["", "", ""], allowed=True, limits=roomy)
    assert [r.status for r in results] == ["memory", "memory", "ok"]


def test_code_stuck_outside_python_hits_the_wall_clock_backstop() -> None:
    sleeper = "import time\ndef f():\n    time.sleep(600)\n"
    limits = Limits(seconds=0.5, setup_seconds=2.0, wall_factor=2.0, repeats=1)
    results = time_sources([sleeper, OK], ["", ""], allowed=True, limits=limits)
    assert [r.status for r in results] == ["timeout", "ok"]


def test_a_child_that_dies_is_replaced() -> None:
    suicide = "import os, signal\ndef f():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    results = time_sources([suicide, OK], ["", ""], allowed=True, limits=FAST)
    assert [r.status for r in results] == ["killed", "ok"]


def test_errors_are_reported_and_output_does_not_break_the_harness() -> None:
    results = time_sources(["def f():\n    print('noise')\n    raise ValueError('bad')\n",
                            "def f():\n    print('{\"id\": 99}')\n"], ["", ""],
                           allowed=True, limits=FAST)
    assert results[0].status == "error" and "ValueError: bad" in (results[0].error or "")
    assert results[1].status == "ok"


def test_user_code_does_not_run_unless_allowed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"def work(items):\n    open({str(marker)!r}, 'w').close()\n    return len(items)\n"
    with pytest.raises(NotAllowedError):
        measure_user_function(source, "work", allowed=False)
    with pytest.raises(NotAllowedError):
        time_sources([source], [""], entry="work", allowed=False)
    assert not marker.exists()

    timing = measure_user_function(source, "work", allowed=True, limits=FAST)
    assert timing.status == "ok"
    assert marker.exists()


def test_sample_inputs_follow_annotations() -> None:
    source = ("def work(names: list[str], lookup: dict[int, int], n: int, text: str):\n"
              "    assert isinstance(names[0], str) and isinstance(lookup, dict)\n"
              "    assert n == 48 and isinstance(text, str) and len(names) == 48\n")
    assert measure_user_function(source, "work", allowed=True, limits=FAST).status == "ok"


def test_generated_programs_run_and_a_nested_scan_measures_slower() -> None:
    rng = random.Random(7)
    programs = [random_program(rng) for _ in range(15)]
    flat = Program([Loop("items", body=[Op("acc += {v} * 3 % 7", (), ("acc",), "1")])])
    nested = Program([Loop("items", body=[Loop("other", body=[
        Op("if {v} in items:\n    acc += 1", ("items",), ("acc",), "n")])])])
    results = time_programs([*programs, flat, nested], FAST)
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    # n^2 membership scans over n additions: hundreds of times more work
    assert results[-1].seconds and results[-2].seconds
    assert results[-1].seconds > 10 * results[-2].seconds
