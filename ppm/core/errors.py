"""Errors a user can act on. Raised anywhere, caught once at the CLI edge."""

from __future__ import annotations

from typing import Any


class PpmError(Exception):
    """An error with a message meant for the user; the CLI prints it and exits non-zero."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # What was done before the error, for machine-readable output (`ppm build --json`
        # prints the build summary of a failed build): set by whoever has one.
        self.summary: Any = None

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ManifestError(PpmError):
    """ppm.toml is malformed or names something unknown."""


class GraphError(PpmError):
    """The component graph is invalid (a cycle, an unknown need)."""


class ToolchainError(PpmError):
    """A toolchain is missing, unusable or could not be provisioned."""


class ActionFailed(PpmError):
    """A builder's command exited non-zero or did not produce its outputs."""


class CacheError(PpmError):
    """The content-addressed store holds something it should not."""
