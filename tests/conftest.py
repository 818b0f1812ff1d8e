"""Shared test set-up.

Converted models live in one persistent directory (`TAILOR_TEST_HOME`, default
`.tailor-home/test`), so the shipped GGUF is converted once (about 30 s) and reused by every
later test and run. Everything else a server writes (caches, telemetry, adapters) goes to a
fresh data directory per test session, whose `models/` links to the persistent one, so no
test sees answers cached by an earlier run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_persistent = Path(os.environ.setdefault("TAILOR_TEST_HOME",
                                         str(ROOT / ".tailor-home" / "test")))
(_persistent / "models").mkdir(parents=True, exist_ok=True)
_session = Path(tempfile.mkdtemp(prefix="tailor-test-home-"))
(_session / "models").symlink_to(_persistent / "models", target_is_directory=True)
os.environ["TAILOR_TEST_SESSION_HOME"] = str(_session)
# Servers under test run PyTorch unless a test asks for another backend: a background export
# started by an idle server would compete with the tests for the CPU.
os.environ.setdefault("TAILOR_BACKEND", "torch")
