"""The ``sinetstream`` command line (also ``python -m sinetstream``).

Commands: ``write``, ``read``, ``record``, ``replay``, ``ping``, ``perf``, ``info``,
``config check`` and ``config fetch``. ``read --json``, ``write --json``, ``record``
and ``replay`` share one JSON-lines format (:mod:`.jsonl`).
Every messaging command takes ``-s/--service``, ``--config-file``,
``--no-config`` and ``KEY=VALUE`` overrides (dotted keys build nested
mappings, values are YAML: ``compression.algorithm=zstd``, ``brokers=[a, b]``).
With no config at all, ``perf`` and ``ping`` use the embedded queue backend.

Exit codes (see :data:`EXIT_CODES`): 0 success; 1 a runtime error (broker
unreachable, message rejected, ...); 2 a usage or configuration error; 3
fewer messages than expected arrived in time; 130 interrupted (Ctrl-C);
141 the output pipe was closed.

Each command is one module of this package, listed in :data:`COMMANDS`: its
``add_parser(sub, common)`` adds the command's parser (with ``common``, the
shared options of :mod:`.params`, as parent if it wants them) and sets the
function that runs it as the parser's ``run`` default. :mod:`.output` prints,
:mod:`.status` holds the exit statuses.

This package is imported only by the console script, never by ``import sinetstream``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

from . import bridge, config, info, perf, ping, read, record, replay, write
from .params import common_options
from .status import (
    EXIT_BROKEN_PIPE,
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    Incomplete,
    UsageError,
    exit_code_for,
    note,
)

__all__ = ["COMMANDS", "EXIT_CODES", "build_parser", "main"]

#: The command modules, in the order ``sinetstream --help`` lists them.
COMMANDS = (write, read, record, replay, ping, perf, info, config, bridge)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sinetstream`` command."""
    from sinetstream._version import __version__

    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write, read and measure messages through SINETStream services.",
        epilog=f"exit status:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = common_options()
    for command in COMMANDS:
        command.add_parser(sub, common)
    return parser


@contextmanager
def _broken_pipe_guard() -> Iterator[None]:
    try:
        yield
    except BrokenPipeError:
        # Keep the interpreter from complaining again while flushing at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise


def _fail(message: str) -> NoReturn:
    note(f"error: {message} (see {PROG} --help)")
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # KEY=VALUE overrides after an option (``type=mqtt -t brokers=h:1883``): argparse
        # takes one run of positionals only. Anything else it reports as usual.
        if not hasattr(args, "overrides") or any(item.startswith("-") for item in extra):
            parser.parse_args(argv)
        args.overrides = [*args.overrides, *extra]
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    verbose = getattr(args, "verbose", 0)
    logging.basicConfig(
        level=logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING,
        format=f"{PROG}: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    run: Callable[[argparse.Namespace], int] = args.run
    from sinetstream.error import SinetError

    try:
        with _broken_pipe_guard():
            return run(args)
    except UsageError as exc:
        _fail(str(exc))
    except Incomplete as exc:
        note(str(exc))
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        note("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_BROKEN_PIPE
    except SinetError as exc:
        if verbose:
            logging.getLogger("sinetstream").exception("failed")
        note(f"error: {exc}")
        return exit_code_for(exc)
    except OSError as exc:  # files given on the command line
        note(f"error: {exc}")
        return EXIT_ERROR
