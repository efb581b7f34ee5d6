"""``sinetstream info``: the installed backends, value types and compressions."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .output import info_text
from .params import Subparsers
from .status import EXIT_OK

#: The plugin groups of a backend, each one a role it can play.
_BACKEND_GROUPS = ("reader", "writer", "async_reader", "async_writer")

#: Value types and compressions the core implements itself (no entry point).
_BUILTINS: dict[str, tuple[tuple[str, str], ...]] = {
    "value_type": (("byte_array", "sinetstream._value_type"), ("text", "sinetstream._value_type")),
    "compression": (("gzip", "sinetstream._compression"), ("zstd", "sinetstream._compression")),
}


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``info`` (it takes none of the ``common`` options)."""
    p = sub.add_parser(
        "info",
        help="installed backends, value types and compressions",
        description="List every installed plugin with its distribution and version.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print every plugin with its distribution and version, and the config files searched."""
    import platform

    from sinetstream._config import default_config_paths
    from sinetstream._registry import registry
    from sinetstream._version import __version__

    data: dict[str, Any] = {
        "sinetstream": __version__,
        "python": platform.python_version(),
        "config_files": [{"path": str(p), "exists": p.is_file()} for p in default_config_paths()],
        "plugins": {},
    }
    for group in (*_BACKEND_GROUPS, "value_type", "compression"):
        entries: list[dict[str, Any]] = [
            {
                "name": p.name,
                "target": p.target,
                "distribution": p.distribution,
                "version": p.version,
            }
            for p in registry(group).plugins()
        ]
        known = {e["name"] for e in entries}
        entries += [
            {
                "name": name,
                "target": target,
                "distribution": "sinetstream-core (built in)",
                "version": __version__,
            }
            for name, target in _BUILTINS.get(group, ())
            if name not in known
        ]
        data["plugins"][group] = sorted(entries, key=lambda e: e["name"])
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(info_text(data, _BACKEND_GROUPS))
    return EXIT_OK
