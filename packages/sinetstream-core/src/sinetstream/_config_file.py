"""One config file: YAML (with ``!sinetstream/encrypted`` secrets) → header and services.

Where the file is looked for, and what is done with its services, is
:mod:`._config`'s business; this module only reads and checks one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .error import ConfigSyntaxError, InvalidConfigError, NoConfigError

__all__ = [
    "LATEST_CONFIG_VERSION",
    "ConfigFile",
    "decrypt_secrets",
    "parse_config_document",
    "read_yaml",
]

LATEST_CONFIG_VERSION = 3


class _Encrypted:
    """A ``!sinetstream/encrypted`` scalar, decrypted after the whole file is read."""

    __slots__ = ("blob",)

    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    def __repr__(self) -> str:
        return "<encrypted secret>"


def _yaml_loader() -> Any:
    import base64

    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc]
        pass

    def encrypted(loader: Any, node: Any) -> _Encrypted:
        text = "".join(str(loader.construct_scalar(node)).split())
        return _Encrypted(base64.b64decode(text))

    Loader.add_constructor("!sinetstream/encrypted", encrypted)
    return Loader


def read_yaml(path: Path) -> Any:
    """The YAML document in ``path``; encrypted secrets are left for :func:`decrypt_secrets`."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NoConfigError(f"{path}: cannot read the config file: {exc.strerror}") from exc
    try:
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigSyntaxError(f"{path}: malformed YAML{at}: {problem}") from exc


def decrypt_secrets(node: Any, path: Path) -> Any:
    """``node`` with every encrypted secret read from ``path`` replaced by its plaintext."""
    if isinstance(node, _Encrypted):
        from ._secrets import decrypt_secret

        return decrypt_secret(node.blob, source=str(path))
    if isinstance(node, dict):
        return {k: decrypt_secrets(v, path) for k, v in node.items()}
    if isinstance(node, list):
        return [decrypt_secrets(v, path) for v in node]
    return node


@dataclass
class ConfigFile:
    """A parsed config file: its version and its services."""

    path: Path
    version: int
    services: dict[str, Any]


def parse_config_document(doc: Any, path: Path) -> ConfigFile:
    """Check the shape of a loaded YAML document and split header from services."""
    if not isinstance(doc, dict):
        raise InvalidConfigError(
            f"{path}: the top level must be a mapping of services, not {type(doc).__name__}"
        )
    if "header" in doc:
        header = doc["header"]
        if header is None:
            header = {}
        if not isinstance(header, dict):
            raise InvalidConfigError(f"{path}: key 'header' must be a mapping")
        version = header.get("version", LATEST_CONFIG_VERSION)
        if version not in (2, 3) or isinstance(version, bool):
            raise InvalidConfigError(
                f"{path}: key 'header.version' is {version!r}; it must be 2 or 3"
            )
        if "config" not in doc:
            raise InvalidConfigError(f"{path}: a file with a 'header' needs a 'config' mapping")
        services = doc["config"]
        where = "config"
    else:
        version = 1
        services = doc
        where = "the top level"
    if not isinstance(services, dict):
        raise InvalidConfigError(f"{path}: {where} must be a mapping of service names")
    if not services:
        raise InvalidConfigError(f"{path}: no service is defined in {where}")
    for name, params in services.items():
        if not isinstance(params, dict):
            raise InvalidConfigError(
                f"{path}: service {name!r} must be a mapping of parameters, "
                f"not {type(params).__name__}"
            )
    return ConfigFile(path, int(version), services)
