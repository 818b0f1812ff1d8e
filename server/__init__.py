"""Tailor's language server: protocol, features, workers and the `tailor` CLI. No ML internals."""

__version__ = "0.1.0"
