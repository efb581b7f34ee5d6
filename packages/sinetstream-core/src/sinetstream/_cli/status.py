"""Exit statuses of the command line and the exceptions and errors that lead to them."""

from __future__ import annotations

import sys

PROG = "sinetstream"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: Exit status -> meaning, as documented in ``sinetstream --help``.
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_ERROR: "runtime error (broker unreachable, authentication, rejected message, file I/O)",
    EXIT_USAGE: "usage or configuration error (bad option, config file, parameter)",
    EXIT_INCOMPLETE: "fewer messages than expected arrived in time (read/record -C, ping, perf)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_BROKEN_PIPE: "the output pipe was closed",
}


class UsageError(Exception):
    """A command-line mistake: printed with the usage hint, exit status 2."""


class Incomplete(Exception):
    """Fewer messages than expected: exit status 3."""


def note(text: str) -> None:
    """Tell the user something on stderr, prefixed with the program name."""
    sys.stderr.write(f"{PROG}: {text}\n")


def exit_code_for(error: BaseException) -> int:
    """The exit status of a :class:`~sinetstream.SinetError`: 2 for configuration, else 1."""
    from sinetstream import error as e

    config_errors = (
        e.NoConfigError,
        e.NoServiceError,
        e.InvalidConfigError,
        e.InvalidArgumentError,
        e.UnsupportedServiceTypeError,
    )
    return EXIT_USAGE if isinstance(error, config_errors) else EXIT_ERROR
