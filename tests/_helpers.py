"""Helpers shared by test modules."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def registered(*classes):
    """Register test-only method classes for the duration of a block."""
    from benchmark import methods

    methods._discover()
    for cls in classes:
        methods.register(cls)
    try:
        yield
    finally:
        for cls in classes:
            methods._REGISTRY.pop(cls.info.name, None)
