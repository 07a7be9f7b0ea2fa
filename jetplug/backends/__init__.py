"""Inference backends: one module per backend, each a default plugin or an entry point."""

from .base import Backend

__all__ = ["Backend"]
