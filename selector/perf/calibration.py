"""Refining the predictor with the user's own measurements (`perf.measure`).

The predictor learned from small generated programs; on real code it gets directions right
far more often than sizes. When the user allows timing their functions, each measured edit
(predicted ratio, measured ratio) is kept, and later predictions are rescaled in log space
by a slope fitted through the origin: log(measured) ~ slope * log(predicted). The slope is
shrunk toward 1 (a prior worth `PRIOR` log-units squared of evidence), so one measurement
nudges it and many decide it. Kept as JSON lines under the data directory; a corrupt line is
skipped, never fatal.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

log = logging.getLogger(__name__)

PRIOR = 4.0
SLOPE_RANGE = (0.1, 2.0)


class Calibration:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.pairs: list[tuple[float, float]] = []  # (log predicted, log measured)
        try:
            lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc)
            lines = []
        for line in lines:
            try:
                row = json.loads(line)
                self.pairs.append((float(row["predicted"]), float(row["measured"])))
            except (ValueError, KeyError, TypeError):
                log.warning("skipping a corrupt line in %s", path)

    def add(self, predicted_ratio: float, measured_ratio: float) -> None:
        if predicted_ratio <= 0 or measured_ratio <= 0:
            return
        pair = (math.log(predicted_ratio), math.log(measured_ratio))
        self.pairs.append(pair)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"predicted": pair[0], "measured": pair[1]}) + "\n")
        except OSError as exc:  # a full disk loses a measurement, nothing else
            log.warning("cannot record a measurement in %s: %s", self.path, exc)

    def slope(self) -> float:
        num = sum(p * m for p, m in self.pairs) + PRIOR
        den = sum(p * p for p, _ in self.pairs) + PRIOR
        return min(max(num / den, SLOPE_RANGE[0]), SLOPE_RANGE[1])

    def apply(self, ratio: float) -> float:
        """The predicted ratio rescaled by what was measured so far (unchanged without
        measurements)."""
        if not self.pairs or ratio <= 0:
            return ratio
        return math.exp(self.slope() * math.log(ratio))
