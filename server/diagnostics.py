"""One `publishDiagnostics` per document, merged from every feature that reports.

A publish replaces all of a document's diagnostics on the client, so Tailor's own checks
(repair) and the performance hints cannot publish separately: each sets its own part here
and the union is sent.
"""

from __future__ import annotations

from lsprotocol import types

from server.app import TailorServer


def _parts(ls: TailorServer) -> dict[str, dict[str, list[types.Diagnostic]]]:
    if not isinstance(ls.diagnostic_parts, dict):
        ls.diagnostic_parts = {}
    return ls.diagnostic_parts


def update(ls: TailorServer, uri: str, part: str, diagnostics: list[types.Diagnostic],
           version: int | None = None) -> None:
    """Set `part`'s diagnostics for `uri` and publish the document's union."""
    parts = _parts(ls).setdefault(uri, {})
    parts[part] = diagnostics
    merged = [d for name in sorted(parts) for d in parts[name]]
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
        uri=uri, version=version, diagnostics=merged))


def get(ls: TailorServer, uri: str, part: str) -> list[types.Diagnostic]:
    return list(_parts(ls).get(uri, {}).get(part, []))


def forget(ls: TailorServer, uri: str) -> None:
    """A closed document: clear what Tailor showed for it."""
    if _parts(ls).pop(uri, None):
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, diagnostics=[]))
