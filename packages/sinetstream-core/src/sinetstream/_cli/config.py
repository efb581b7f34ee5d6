"""``sinetstream config``: configuration tools (``config check``, ``config fetch``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import config_server
from .params import Subparsers
from .status import EXIT_OK, EXIT_USAGE, UsageError, note


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``config`` and its subcommands ``check`` and ``fetch`` (no ``common`` options)."""
    p = sub.add_parser("config", help="configuration tools")
    p.set_defaults(run=_needs_subcommand)
    csub = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    c = csub.add_parser(
        "check",
        help="validate a config file",
        description="Validate a config file; explain every problem with file, service and key.",
    )
    c.add_argument("path", nargs="?", type=Path, help="config file (default: the one in use)")
    c.set_defaults(run=check)
    config_server.add_arguments(csub, c)


def _needs_subcommand(args: argparse.Namespace) -> int:
    raise UsageError(
        "config needs a subcommand: config check [PATH | --config NAME], config fetch NAME"
    )


def check(args: argparse.Namespace) -> int:
    """Print every problem of the config file; exit status 2 if there is any."""
    from sinetstream._config import check_config_file, default_config_paths

    if config_server.wants(args):
        return config_server.run(args)
    path: Path | None = args.path
    if path is None:
        found = [p for p in default_config_paths() if p.is_file()]
        if not found:
            searched = ", ".join(str(p) for p in default_config_paths())
            raise UsageError(f"no config file found (searched {searched}); give a PATH")
        path = found[0]
    if not path.expanduser().is_file():
        raise UsageError(f"{path}: no such file")
    problems = check_config_file(path)
    if problems:
        for problem in problems:
            print(problem)
        note(f"{len(problems)} problem(s) in {path}")
        return EXIT_USAGE
    print(f"{path}: no problems found")
    return EXIT_OK
