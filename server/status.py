"""`tailor.status` and `tailor.accepted`: what the editor shows about Tailor."""

from __future__ import annotations

import logging
from typing import Any

from server.app import TailorServer
from server.selection import record_accepted

log = logging.getLogger(__name__)


def setup(server: TailorServer) -> None:
    @server.command("tailor.status")
    def status(ls: TailorServer, *args: Any) -> dict[str, Any]:
        return ls.status()

    @server.command("tailor.accepted")
    def accepted(ls: TailorServer, *args: Any) -> None:
        arg = args[0] if args and isinstance(args[0], dict) else {}
        ls.accepted += 1
        chars = arg.get("acceptedChars")
        record_accepted(ls, arg.get("id") if isinstance(arg.get("id"), str) else None,
                        chars if isinstance(chars, int) else 0)
        log.info("suggestion %s accepted (%s chars)", arg.get("id"), arg.get("acceptedChars"))
        ls.publish_status()
