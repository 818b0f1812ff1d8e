"""The JSON-RPC layer, made strict about answering: a request whose params cannot be read
gets an error reply instead of silence (pygls drops it, and the client waits forever)."""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)


class TailorProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]) -> Any:
        if not isinstance(data, dict) or "jsonrpc" not in data:
            return super().structure_message(data)
        _tolerate_vscode_trigger_kind(data)
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and "method" in data:
                cause = exc.__cause__ or exc
                error = JsonRpcInvalidParams(f"Invalid params for {data['method']}: {cause}")
                self._send_response(data["id"], None, error.to_response_error())
            raise


def _tolerate_vscode_trigger_kind(data: dict[str, Any]) -> None:
    """vscode-languageclient 9 forwards VS Code's 0-based trigger kinds (Invoke=0) where LSP
    3.18 numbers them from 1 (Invoked=1, Automatic=2); read a 0 as an explicit invocation."""
    if data.get("method") != types.TEXT_DOCUMENT_INLINE_COMPLETION:
        return
    params = data.get("params")
    context = params.get("context") if isinstance(params, dict) else None
    if isinstance(context, dict) and context.get("triggerKind") == 0:
        context["triggerKind"] = types.InlineCompletionTriggerKind.Invoked.value
