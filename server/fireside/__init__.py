"""Fireside: a local-first AI coding assistant."""

__version__ = "0.1.0"
