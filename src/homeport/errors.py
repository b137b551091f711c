"""One exception root for homeport; subclasses carry the fields a message needs.

The CLI turns any :class:`HomeportError` into one line per problem and an exit code,
so no user ever sees a traceback unless they asked for ``--debug``.
"""

from __future__ import annotations

from dataclasses import dataclass


class HomeportError(Exception):
    """Root of every error homeport reports to a user.

    Attributes:
        exit_code: Process exit code the CLI uses for this error.
    """

    exit_code: int = 1

    def lines(self) -> list[str]:
        """Return the error as user-facing lines, one problem per line."""
        return [str(self)]


class UsageError(HomeportError):
    """Bad input from the user: a flag, a file, a value (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a config file.

    Attributes:
        file: Path of the file as the user gave it.
        line: 1-based line number, or 0 when unknown.
        field: Dotted path of the field, e.g. ``apps[1].image``; empty for the whole file.
        message: What is wrong and, when possible, how to fix it.
    """

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(UsageError):
    """homeport.yaml (or another input file) is missing, unparsable or invalid."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__(str(problems[0]) if problems else "invalid configuration")

    def lines(self) -> list[str]:
        """Return one line per problem, in file order."""
        return [str(p) for p in self.problems]


class SealError(HomeportError):
    """Sealing or unsealing a secret failed (wrong key, corrupt data)."""

    exit_code = 2


class PlaintextSecretError(HomeportError):
    """Something tried to write a plain Secret with data into the GitOps tree."""

    exit_code = 2


class RenderError(HomeportError):
    """The GitOps tree could not be rendered or written."""


class ClusterError(HomeportError):
    """A cluster operation failed (unreachable API server, missing permission, ...)."""
