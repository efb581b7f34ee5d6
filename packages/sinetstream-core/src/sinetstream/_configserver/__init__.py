"""Client of the SINETStream configuration server (``config=NAME``), as in 1.10.

Two entry points, each taking the same :class:`ServerOptions` (``auth_file``,
``private_key``, ``ca_bundle``, ``timeout``), so that tests and the command
line need not use the user's home directory:

- :func:`fetch_config_file`: what ``MessageReader(config=NAME)`` and the other
  constructors load, secrets decrypted in memory only;
- :func:`config_yaml`: the YAML text of ``sinetstream config fetch``, secrets
  left as ``!sinetstream/encrypted``.

It imports nothing of ``_config`` but the file format (``_config_file``):
``_config`` calls it for ``config=NAME``, never the other way round.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinetstream._configserver._http import DEFAULT_TIMEOUT
from sinetstream._configserver._protocol import AUTH_FILE, Sealed, fetch, read_credentials
from sinetstream._secrets import (
    PRIVATE_KEY_PATH,
    decrypt_with_key,
    load_private_key,
    public_key_fingerprint,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from sinetstream._config_file import ConfigFile

__all__ = [
    "AUTH_FILE",
    "DEFAULT_TIMEOUT",
    "PRIVATE_KEY_PATH",
    "ServerOptions",
    "config_yaml",
    "fetch_config_file",
]


class _UserKey:
    """The user's private key, loaded on first use: it may ask for a passphrase."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: RSAPrivateKey | None = None

    def get(self) -> RSAPrivateKey:
        if self._key is None:
            self._key = load_private_key(self.path)
        return self._key

    def fingerprint(self) -> str:
        return public_key_fingerprint(self.get().public_key())


@dataclass(frozen=True)
class ServerOptions:
    """Where the credentials and the key are, and how to reach the server."""

    auth_file: Path = AUTH_FILE
    private_key: Path = PRIVATE_KEY_PATH
    ca_bundle: str | None = None  # else "ca-bundle" in auth.json, else the system's
    timeout: float = DEFAULT_TIMEOUT  # seconds, per connection and per read


def _fetch(name: str, service: str | None, key: _UserKey, options: ServerOptions) -> ConfigFile:
    return fetch(
        name,
        credentials=read_credentials(options.auth_file),
        fingerprint=key.fingerprint,
        service=service,
        ca_bundle=options.ca_bundle,
        timeout=options.timeout,
    )


def _opened(node: Any, key: _UserKey, source: str) -> Any:
    if isinstance(node, Sealed):
        where = f"{source}: secret for {node.target}"
        return decrypt_with_key(node.blob, key.get(), source=where, key_path=key.path)
    if isinstance(node, dict):
        return {k: _opened(v, key, source) for k, v in node.items()}
    if isinstance(node, list):
        return [_opened(v, key, source) for v in node]
    return node


def fetch_config_file(
    name: str, service: str | None = None, options: ServerOptions = ServerOptions()
) -> ConfigFile:
    """Configuration ``name`` from the server, secrets decrypted (in memory only).

    With ``service``, only that service's secrets (and those for ``*``) are fetched.
    Errors: :class:`NoConfigError` (no ``auth.json``, empty config),
    :class:`AuthorizationError` (401), :class:`NoServiceError` (404),
    :class:`InvalidConfigError` (malformed answer, name mismatch, wrong key,
    corrupt secret), :class:`ConnectionError` (anything else).
    """
    key = _UserKey(options.private_key)
    config = _fetch(name, service, key, options)
    config.services = {
        svc: _opened(params, key, str(config.path)) for svc, params in config.services.items()
    }
    return config


def _yaml_dumper() -> Any:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def sealed(dumper: yaml.SafeDumper, value: Sealed) -> Any:
        text = base64.b64encode(value.blob).decode("ascii")
        return dumper.represent_scalar("!sinetstream/encrypted", text)

    Dumper.add_representer(Sealed, sealed)
    return Dumper


def config_yaml(name: str, options: ServerOptions = ServerOptions()) -> str:
    """Configuration ``name`` as config-file YAML; secrets stay ``!sinetstream/encrypted``.

    Loading the text with ``config_file=`` decrypts them with the same private key.
    Attachments are written as they came (``!!binary`` for bytes), so a file
    holding them should be as private as the private key.
    """
    import yaml

    config = _fetch(name, None, _UserKey(options.private_key), options)
    document = {"header": {"version": config.version}, "config": config.services}
    heading = f"# {config.path}: secrets are encrypted for the key {options.private_key}\n"
    body: str = yaml.dump(document, Dumper=_yaml_dumper(), sort_keys=False, allow_unicode=True)
    return heading + body
