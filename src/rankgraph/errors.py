"""Errors that the CLI turns into one clear line and a non-zero exit.

Raise them where the bad value enters, naming the file, the field and the value,
so a user can fix the input without reading a traceback.
"""

from __future__ import annotations


class RankGraphError(Exception):
    """Base class of every error RankGraph reports to a user."""


class ConfigError(RankGraphError):
    """A configuration file or override is wrong (unknown key, bad type, inconsistent fields)."""


class InputError(RankGraphError):
    """An input data file is wrong.

    The message always names the file; the column and the first offending row when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        column: str | None = None,
        row: int | None = None,
        value: object | None = None,
    ) -> None:
        self.path, self.column, self.row, self.value = path, column, row, value
        parts = []
        if path is not None:
            parts.append(f"{path}")
        if column is not None:
            parts.append(f"column '{column}'")
        if row is not None:
            parts.append(f"row {row}")
        where = ", ".join(parts)
        text = f"{where}: {message}" if where else message
        if value is not None:
            text += f" (value: {value!r})"
        super().__init__(text)


class ArtifactError(RankGraphError):
    """An artifact directory is missing, corrupt, or does not match its manifest."""


class NotBuiltError(RankGraphError):
    """A CLI command whose stage is not implemented yet."""
