"""What the hints of one edit are, for the server's saves and for `tailor perf`: the
functions changed between two texts, their predicted runtime ratios (rescaled by the
user's own measurements when there are any), and, with `perf.measure` only, a timing of
each in the sandbox.

Apart from the server module so that the command line runs it without loading the server
(and the model runtime the server imports).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MEASURE_SIZE = 200  # elements per generated input: larger than the training programs' 48


def custom_model_dir() -> Path:
    """Where `tailor perf --train` writes a rebuilt predictor (used instead of the shipped
    one when present)."""
    from adapters.paths import data_dir

    return data_dir() / "perf" / "model"


def predictor() -> Any:
    """The rebuilt predictor if there is a valid one, else the one shipped with Tailor."""
    from selector.perf.export import shipped_predictor

    custom = custom_model_dir()
    if (custom / "perf.onnx").exists():
        try:
            return shipped_predictor(str(custom))
        except Exception:
            log.exception("the predictor in %s is unusable; using the shipped one", custom)
    return shipped_predictor()


def compute(old: str, new: str, threshold: float, calibrated: Any = None
            ) -> tuple[dict[str, tuple[Any, float]], set[str]] | None:
    """(hints above the threshold by qualified name, each with its uncalibrated ratio;
    names of every changed function), or None when `new` does not parse. `calibrated`
    rescales ratios by what the user's own measurements showed (`perf.measure`)."""
    from selector.perf.hints import changed_functions, hints_for

    try:
        pairs = changed_functions(old, new)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not pairs:
        return {}, set()
    hints: dict[str, tuple[Any, float]] = {}
    for hint in hints_for(pairs, new, predictor=predictor(), threshold=None):
        raw = hint.predicted_ratio
        if calibrated is not None:
            hint.predicted_ratio = round(calibrated.apply(raw), 4)
        if abs(math.log(hint.predicted_ratio)) >= math.log(threshold):
            hints[hint.qualname] = (hint, raw)
    return hints, {after.qualname for _, after in pairs}


def measure(old: str, new: str, name: str) -> float | None:
    """After / before runtime of the user's top-level function `name`, timed in the
    sandbox on generated inputs; None when either version cannot be timed (it needs other
    modules, fails on the inputs, runs too long...). Called only with `perf.measure` on."""
    from selector.perf.sandbox import Limits, measure_user_function

    limits = Limits(seconds=2.0, setup_seconds=10.0)
    before = measure_user_function(old, name, allowed=True, size=MEASURE_SIZE, limits=limits)
    after = measure_user_function(new, name, allowed=True, size=MEASURE_SIZE, limits=limits)
    if before.status != "ok" or after.status != "ok" or not before.seconds or \
            not after.seconds:
        log.info("perf: %s not measured (%s / %s)", name, before.error or before.status,
                 after.error or after.status)
        return None
    return after.seconds / before.seconds
