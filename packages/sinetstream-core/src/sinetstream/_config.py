"""Configuration: find the YAML file, pick the service, merge, validate.

Lookup (first match wins): ``config=NAME``, the configuration server
(``_configserver``); ``config_file=`` if given; else
``./.sinetstream_config.yml``; else ``~/.config/sinetstream/config.yml``.
``no_config=True`` skips files. Parameters are deep-merged as
library defaults ← the service's parameters ← constructor keyword arguments.

Every error names the file, the service and the key at fault.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._config_file import (
    LATEST_CONFIG_VERSION,
    ConfigFile,
    decrypt_secrets,
    parse_config_document,
    read_yaml,
)
from ._params import copy_params, deep_merge, parse_consistency, with_defaults
from .error import (
    EmptyConfigError,
    InvalidArgumentError,
    InvalidConfigError,
    NoConfigError,
    NoServiceError,
    SinetError,
)
from .spi import ConfigVersion

__all__ = [
    "CONFIG_FILE_NAME",
    "ResolvedConfig",
    "check_config_document",
    "check_config_file",
    "default_config_paths",
    "load_service",
    "remove_temp_files",
    "resolve",
    "write_inline_files",
]

CONFIG_FILE_NAME = ".sinetstream_config.yml"


# --- lookup ----------------------------------------------------------------------------------


def default_config_paths() -> list[Path]:
    """The files searched when neither ``config_file`` nor ``no_config`` is given."""
    return [Path.cwd() / CONFIG_FILE_NAME, Path.home() / ".config" / "sinetstream" / "config.yml"]


def _find_config_file(config_file: str | os.PathLike[str] | None) -> ConfigFile:
    if config_file is not None:
        path = Path(config_file).expanduser()
        if not path.is_file():
            raise NoConfigError(f"{path}: config file not found (given as config_file)")
        doc = read_yaml(path)
        if not doc:  # None (no content) or an empty mapping or list
            raise EmptyConfigError(f"{path}: the config file is empty (no services)")
        return parse_config_document(doc, path)
    searched = default_config_paths()
    for path in searched:
        if not path.is_file():
            continue
        doc = read_yaml(path)
        if not doc:
            import logging

            logging.getLogger("sinetstream").warning("%s: empty config file skipped", path)
            continue
        return parse_config_document(doc, path)
    raise NoConfigError(
        "no config file found (searched "
        + ", ".join(str(p) for p in searched)
        + "); pass config_file=..., create one of these, or use no_config=True"
    )


# --- merge and resolve -------------------------------------------------------------------------


@dataclass
class ResolvedConfig:
    """Everything a reader or writer needs from the configuration."""

    service: str | None
    version: ConfigVersion
    params: dict[str, Any]
    source: Path | None
    temp_files: list[str] = field(default_factory=list)

    def where(self) -> str:
        """A prefix for error messages: ``file: service 'x': ``."""
        parts = []
        if self.source is not None:
            parts.append(str(self.source))
        if self.service is not None:
            parts.append(f"service {self.service!r}")
        return ": ".join(parts) + (": " if parts else "")


def load_service(
    service: str | None,
    config: str | None = None,
    config_file: str | os.PathLike[str] | None = None,
    no_config: bool = False,
) -> tuple[str | None, ConfigVersion, dict[str, Any], Path | None]:
    """Find the service's parameters: (service name, version, params, file)."""
    if config is not None:  # the configuration server: sinetstream/_configserver/
        from ._configserver import fetch_config_file

        cfg = fetch_config_file(config, service)
    elif no_config:
        return service, ConfigVersion(LATEST_CONFIG_VERSION), {}, None
    else:
        cfg = _find_config_file(config_file)
    if service is None:
        if len(cfg.services) > 1:
            raise NoConfigError(
                f"{cfg.path}: several services are defined ("
                + ", ".join(map(str, cfg.services))
                + "); pass service=... to choose one"
            )
        service = next(iter(cfg.services))
    if service not in cfg.services:
        raise NoServiceError(
            f"{cfg.path}: service {service!r} is not defined; defined services: "
            + ", ".join(map(str, cfg.services))
        )
    params = decrypt_secrets(copy.deepcopy(cfg.services[service]), cfg.path)
    return service, ConfigVersion(cfg.version), params, cfg.path


def resolve(
    service: str | None,
    config: str | None,
    config_file: str | os.PathLike[str] | None,
    kwargs: Mapping[str, Any],
) -> ResolvedConfig:
    """Load, merge and normalise the parameters of one reader or writer.

    Inline ``*_data`` values are *not* written out here (see :func:`write_inline_files`).
    """
    kwargs = dict(kwargs)
    no_config = bool(kwargs.pop("no_config", False))
    name, version, file_params, source = load_service(service, config, config_file, no_config)
    params = with_defaults(file_params)
    deep_merge(params, copy_params(kwargs))
    resolved = ResolvedConfig(name, version, params, source)
    prefix = resolved.where()
    params["consistency"] = parse_consistency(params.get("consistency"), prefix)
    if not params.get("client_id"):
        params["client_id"] = f"sinetstream-{uuid.uuid4()}"
    crypto = params.get("crypto")
    if isinstance(crypto, dict) and isinstance(crypto.get("password"), str):
        crypto["password"] = {"value": crypto["password"]}
    if "type" not in params or params["type"] in (None, ""):
        raise InvalidConfigError(
            f"{prefix}key 'type' is missing: name the backend (queue, kafka, mqtt, ...)"
        )
    if not isinstance(params["type"], str):
        raise InvalidConfigError(f"{prefix}key 'type' must be a string, not {params['type']!r}")
    if params.get("message_format") not in (2, 3):
        raise InvalidArgumentError(
            f"{prefix}message_format: {params.get('message_format')!r} must be 2 or 3"
        )
    if name is not None:
        params["service"] = name
    return resolved


# Keys ending in ``_data`` that are real parameters of a client library, not inline files.
_NOT_INLINE = frozenset({"auth_data"})


def _inline_items(node: Any) -> Iterator[tuple[dict[str, Any], str]]:
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            if (
                isinstance(key, str)
                and key.endswith("_data")
                and key not in _NOT_INLINE
                and len(key) > len("_data")
                and not isinstance(value, Mapping)
            ):
                yield node, key
            else:
                yield from _inline_items(value)
    elif isinstance(node, list):
        for item in node:
            yield from _inline_items(item)


def write_inline_files(resolved: ResolvedConfig) -> None:
    """Write every ``<name>_data`` value to a private temp file; set ``<name>`` to its path.

    The files (mode 0600) are listed in ``resolved.temp_files``; the caller
    removes them with :func:`remove_temp_files` when the object closes.
    """
    for node, key in list(_inline_items(resolved.params)):
        value = node.pop(key)
        data = value.encode("utf-8") if isinstance(value, str) else value
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidArgumentError(
                f"{resolved.where()}{key}: inline data must be a string or bytes, "
                f"not {type(value).__name__}"
            )
        fd, path = tempfile.mkstemp(prefix="sinetstream-", suffix=".tmp")
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        resolved.temp_files.append(path)
        node[key[: -len("_data")]] = path


def remove_temp_files(paths: list[str]) -> None:
    """Remove the temp files written by :func:`write_inline_files`."""
    while paths:
        path = paths.pop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def check_config_file(path: str | os.PathLike[str]) -> list[str]:
    """Validate a config file without connecting; return one line per problem.

    Each line names the file, the service and the key. An empty list means
    the file is fine as far as can be told without a broker.
    """
    p = Path(path).expanduser()
    try:
        doc = read_yaml(p)
        if doc is None:
            return [f"{p}: the config file is empty"]
        cfg = parse_config_document(doc, p)
        cfg.services = decrypt_secrets(cfg.services, p)  # else a sealed crypto.key is "not bytes"
    except SinetError as exc:
        return [str(exc)]
    return check_config_document(cfg)


def check_config_document(cfg: ConfigFile) -> list[str]:
    """The per-service checks of :func:`check_config_file`, on a parsed config."""
    from ._registry import registry

    p = cfg.path
    problems: list[str] = []
    for name, service_params in cfg.services.items():
        prefix = f"{p}: service {name!r}: "
        params = with_defaults(service_params)
        try:
            parse_consistency(params.get("consistency"), prefix)
        except SinetError as exc:
            problems.append(str(exc))
        if not isinstance(params.get("telemetry"), bool):
            problems.append(f"{prefix}telemetry: {params.get('telemetry')!r} must be true or false")
        backend = params.get("type")
        if not backend:
            problems.append(f"{prefix}key 'type' is missing")
        elif (
            not isinstance(backend, str)
            or backend not in registry("reader").names() + registry("writer").names()
        ):
            problems.append(f"{prefix}type: no backend plugin named {backend!r} is installed")
        if cfg.version >= 3:
            extra = sorted(
                k for k in service_params if k not in _common_keys() and k != "type_spec"
            )
            if extra:
                problems.append(
                    f"{prefix}keys {', '.join(extra)} are ignored in a version 3 config: "
                    "move messaging-system parameters under 'type_spec'"
                )
        try:
            from ._pipeline import Decoder, Encoder

            Encoder(params)
            Decoder(params)
        except SinetError as exc:
            problems.append(f"{prefix}{exc}")
        except Exception as exc:  # a plugin's own bug must not hide the other problems
            problems.append(f"{prefix}{type(exc).__name__}: {exc}")
    return problems


def _common_keys() -> frozenset[str]:
    from .spi import COMMON_PARAMS

    return COMMON_PARAMS
