"""``sinetstream config fetch NAME [-o FILE]`` and ``sinetstream config check --config NAME``.

``config`` (:mod:`sinetstream._cli.config`) adds these arguments with
:func:`add_arguments`; ``config fetch`` runs :func:`run`, and so does
``config check`` when :func:`wants` says the arguments are ours.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from sinetstream._configserver._http import DEFAULT_TIMEOUT
from sinetstream._configserver._protocol import AUTH_FILE
from sinetstream._secrets import PRIVATE_KEY_PATH

from .status import EXIT_OK, EXIT_USAGE, UsageError, note

__all__ = ["add_arguments", "run", "wants"]


def _server_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration server")
    group.add_argument(
        "--auth-file", type=Path, default=AUTH_FILE, metavar="PATH", help=f"default: {AUTH_FILE}"
    )
    group.add_argument(
        "--private-key",
        type=Path,
        default=PRIVATE_KEY_PATH,
        metavar="PATH",
        help=f"RSA key the secrets are encrypted for (default: {PRIVATE_KEY_PATH})",
    )
    group.add_argument(
        "--ca-bundle", metavar="PATH", help="CA certificates to verify the server with"
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"per connection and per read (default: {DEFAULT_TIMEOUT:g})",
    )


def add_arguments(config_commands: Any, check: argparse.ArgumentParser) -> None:
    """Add ``config fetch`` to ``config_commands`` and ``--config NAME`` to ``check``."""
    check.add_argument(
        "--config",
        dest="server_config",
        metavar="NAME",
        help="check configuration NAME of the configuration server instead of a file",
    )
    _server_options(check)
    fetch = config_commands.add_parser(
        "fetch",
        help="download a configuration from the configuration server",
        description="Write configuration NAME of the configuration server as a config file. "
        "Secrets stay encrypted (!sinetstream/encrypted) for your private key.",
    )
    fetch.add_argument("name", metavar="NAME", help="configuration name on the server")
    fetch.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write FILE (mode 0600), not stdout"
    )
    _server_options(fetch)
    fetch.set_defaults(run=run)


def wants(args: argparse.Namespace) -> bool:
    """Whether the ``config`` command line is one of the configuration server's."""
    return args.config_command == "fetch" or getattr(args, "server_config", None) is not None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def run(args: argparse.Namespace) -> int:
    """Run ``config fetch`` or ``config check --config``; return the exit status.

    Errors of the server or the key are raised as :class:`SinetError` for the
    command line to report.
    """
    from sinetstream._config import check_config_document
    from sinetstream._configserver import ServerOptions, config_yaml, fetch_config_file

    options = ServerOptions(args.auth_file, args.private_key, args.ca_bundle, args.timeout)
    if args.config_command == "fetch":
        text = config_yaml(args.name, options)
        if args.output is None:
            sys.stdout.write(text)
        else:
            _write_private(args.output, text)
            note(f"wrote {args.output} (secrets encrypted)")
        return EXIT_OK
    if args.path is not None:
        raise UsageError("give a PATH or --config NAME, not both")
    label = f"config-server:{args.server_config}"
    # Fetched with every secret decrypted, then checked as `config check` checks a file.
    problems = check_config_document(fetch_config_file(args.server_config, options=options))
    for problem in problems:
        print(problem)
    if problems:
        note(f"{len(problems)} problem(s) in {label}")
        return EXIT_USAGE
    print(f"{label}: no problems found")
    return EXIT_OK
