"""A `window/workDoneProgress` bar around a request that takes seconds.

Best effort: a client that does not support progress, or refuses the token, still gets its
answer; it only sees no bar.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable

from lsprotocol import types

from server.app import TailorServer

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def busy(ls: TailorServer, title: str, message: str | None = None
               ) -> AsyncIterator[Callable[[str], None]]:
    """Yields `report(message)`; the bar ends when the block does, however it ends."""
    caps = ls.client_capabilities.window
    token = f"tailor-{uuid.uuid4().hex[:12]}"
    shown = False
    if caps is not None and caps.work_done_progress:
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                title=title, message=message, cancellable=False))
            shown = True
        except Exception:
            log.debug("no progress bar for %s", title, exc_info=True)

    def report(text: str) -> None:
        if shown:
            ls.work_done_progress.report(token, types.WorkDoneProgressReport(message=text))

    try:
        yield report
    finally:
        if shown:
            with contextlib.suppress(Exception):
                ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
