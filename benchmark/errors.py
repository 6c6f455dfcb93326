"""Exceptions with messages meant for people, not for stack traces."""

from __future__ import annotations


class BenchmarkError(Exception):
    """Base class of every error the suite raises on purpose."""


class InputError(BenchmarkError, ValueError):
    """The data or the options given by the user cannot be used; the message says why and how to fix it."""


class UnknownNameError(BenchmarkError, KeyError):
    """A method, dataset or metric name that is not registered."""

    def __init__(self, kind: str, name: str, valid: list[str]):
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s are: {', '.join(sorted(valid)) or '(none)'}")

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return self.args[0]


class MethodUnavailableError(BenchmarkError):
    """A registered method whose optional dependencies are not installed."""


class JobTimeout(BenchmarkError):
    """A job ran past its time budget."""
