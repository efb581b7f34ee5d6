"""The configuration server's protocol (SINETStream 1.10), answers checked field by field.

``auth.json`` → ``POST /authentication`` (201, ``accessToken``) →
``GET /configs/{name}`` (200: ``name``, ``config: {header, config}``,
``attachments: [{target, value}]``, ``secrets: [{id | ids, target}]``) →
``GET /secrets/{id}`` with ``SINETStream-config-publickey: <fingerprint>``
(200: ``id``, ``target``, ``value``, ``fingerprint``?).

A ``target`` is ``"<service or *>.<dotted.path>"``. Attachments are set there
as bytes; secrets as :class:`Sealed` blobs, still encrypted for the user's key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sinetstream._config_file import ConfigFile, parse_config_document
from sinetstream._configserver._http import DEFAULT_TIMEOUT, Client
from sinetstream.error import InvalidConfigError, NoConfigError

__all__ = ["AUTH_FILE", "Credentials", "Sealed", "fetch", "read_credentials"]

AUTH_FILE = Path("~/.config/sinetstream/auth.json")
_PUBLIC_KEY_HEADER = "SINETStream-config-publickey"
_ROTATED_KEY = ["crypto", "key"]  # a secret here with ``ids`` fills crypto._keys


@dataclass(frozen=True)
class Credentials:
    """The ``config-server`` entry of ``auth.json``; its repr hides the secret key."""

    address: str
    user: str
    secret_key: str = field(repr=False)
    ca_bundle: str | None = None


@dataclass(frozen=True)
class Sealed:
    """A secret from the server, still encrypted for the user's public key."""

    target: str
    blob: bytes = field(repr=False)


def _field(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]`` of type ``kind``; the error names the key, never the value."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InvalidConfigError(f"{where}: key {key!r} is missing or not a {names}")
    return value


def read_credentials(path: Path = AUTH_FILE) -> Credentials:
    """Read ``auth.json``; a missing file is a :class:`NoConfigError` naming it."""
    where = path.expanduser()
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NoConfigError(
            f"{where}: the configuration server's credentials file is missing; create it with "
            '{"config-server": {"address": URL, "user": NAME, "secret-key": KEY}} '
            "(see docs/config-server.md)"
        ) from None
    except OSError as exc:
        raise NoConfigError(f"{where}: cannot read it: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        # ``from None``: the decode error carries the whole text, secret key included.
        line = getattr(exc, "lineno", "?")
        raise InvalidConfigError(f"{where}: not valid JSON (line {line})") from None
    server = _field(doc, "config-server", dict, str(where))
    section = f"{where}: config-server"
    ca_bundle = server.get("ca-bundle")
    if ca_bundle is not None and not isinstance(ca_bundle, str):
        raise InvalidConfigError(f"{section}: key 'ca-bundle' must be a file path")
    return Credentials(
        address=_field(server, "address", str, section),
        user=_field(server, "user", str, section),
        secret_key=_field(server, "secret-key", str, section),
        ca_bundle=str(Path(ca_bundle).expanduser()) if ca_bundle else None,
    )


def _split_target(target: Any, where: str) -> tuple[str, list[str]]:
    if not isinstance(target, str) or len(target.split(".")) < 2 or "" in target.split("."):
        raise InvalidConfigError(
            f"{where}: target {target!r} is not '<service or *>.<dotted.path>'"
        )
    service, *path = target.split(".")
    return service, path


def _set_path(params: dict[str, Any], path: list[str], value: Any, where: str) -> None:
    node = params
    for i, key in enumerate(path[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise InvalidConfigError(
                f"{where}: key {'.'.join(path[: i + 1])!r} must be a mapping to hold "
                f"{'.'.join(path)!r}"
            )
        node = child
    node[path[-1]] = value


def _place(services: dict[str, Any], target: str, value: Any, where: str) -> None:
    service, path = _split_target(target, where)
    for name in services if service == "*" else [service] if service in services else []:
        _set_path(services[name], path, value, f"{where}: service {name!r}")


def _b64(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidConfigError(f"{where}: 'value' is missing or not a string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidConfigError(f"{where}: 'value' is not base64") from None


def _versions(entry: Mapping[str, Any], where: str) -> dict[int, str]:
    """``ids: [{id, version}]`` as {version: id}."""
    ids = _field(entry, "ids", list, where)
    versions: dict[int, str] = {}
    for item in ids:
        versions[_field(item, "version", int, f"{where}: ids")] = _field(
            item, "id", str, f"{where}: ids"
        )
    if not versions:
        raise InvalidConfigError(f"{where}: 'ids' is empty")
    return versions


class _Session:
    """One fetch: the client, the config's name and the user's key fingerprint."""

    def __init__(self, client: Client, name: str, fingerprint: Callable[[], str]) -> None:
        self.client = client
        self.label = f"config-server:{name}"
        self._fingerprint = fingerprint

    def secret(self, secret_id: str, target: str) -> Sealed:
        where = f"{self.label}: secret {secret_id!r}"
        mine = self._fingerprint()
        answer = self.client.call(
            "GET",
            f"/secrets/{quote(secret_id, safe='')}",
            what=where,
            expect=200,
            headers={_PUBLIC_KEY_HEADER: mine},
        )
        if _field(answer, "id", str, where) != secret_id:
            raise InvalidConfigError(f"{where}: the server answered with another secret's id")
        if _field(answer, "target", str, where) != target:
            raise InvalidConfigError(f"{where}: the server's target is not {target!r}")
        theirs = answer.get("fingerprint")
        if theirs is not None and theirs != mine:
            raise InvalidConfigError(
                f"{where}: encrypted for the public key SHA256:{theirs}, "
                f"but the private key in use is SHA256:{mine}"
            )
        return Sealed(target, _b64(answer.get("value"), where))

    def place_secret(self, services: dict[str, Any], entry: Any, wanted: str | None) -> None:
        where = f"{self.label}: secrets"
        target = _field(entry, "target", str, where)
        service, path = _split_target(target, where)
        if service != "*" and service not in services:
            return
        if wanted is not None and service not in ("*", wanted):
            return  # another service's secret: not fetched, as in SINETStream 1.10
        if "ids" not in entry:
            _place(services, target, self.secret(_field(entry, "id", str, where), target), where)
            return
        versions = _versions(entry, f"{where}: {target}")
        if path == _ROTATED_KEY:
            keys = {v: self.secret(versions[v], target) for v in sorted(versions)}
            _place(services, f"{service}.crypto._keys", keys, where)
        else:
            _place(services, target, self.secret(versions[max(versions)], target), where)


def fetch(
    name: str,
    *,
    credentials: Credentials,
    fingerprint: Callable[[], str],
    service: str | None = None,
    ca_bundle: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ConfigFile:
    """Fetch configuration ``name``; attachments and secrets are set at their targets.

    ``fingerprint`` is called only if there is a secret to fetch (it may need the
    private key's passphrase). With ``service``, other services' secrets are skipped.
    """
    with Client(
        credentials.address, ca_bundle=ca_bundle or credentials.ca_bundle, timeout=timeout
    ) as client:
        login = client.call(
            "POST",
            "/authentication",
            what=f"{credentials.address}: authentication as {credentials.user!r}",
            expect=201,
            body={
                "user": credentials.user,
                "secret-key": credentials.secret_key,
                "strategy": "api-access",
            },
            not_found=False,
        )
        client.set_token(_field(login, "accessToken", str, f"{credentials.address}: login"))
        session = _Session(client, name, fingerprint)
        where = session.label
        answer = client.call("GET", f"/configs/{quote(name, safe='')}", what=where, expect=200)
        if _field(answer, "name", str, where) != name:
            raise InvalidConfigError(f"{where}: the server answered with another config's name")
        content = _field(answer, "config", dict, where)
        _field(_field(content, "header", dict, f"{where}: config"), "version", int, where)
        if not content.get("config"):
            raise NoConfigError(f"{where}: the configuration defines no service")
        config = parse_config_document(content, Path(where))
        services = config.services
        for index, attachment in enumerate(_field_list(answer, "attachments", where)):
            at = f"{where}: attachments[{index}]"
            target = _field(attachment, "target", str, at)
            _place(services, target, _b64(attachment.get("value"), at), at)
        for entry in _field_list(answer, "secrets", where):
            session.place_secret(services, entry, service)
    return config


def _field_list(answer: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """An optional list of mappings (``attachments``, ``secrets``)."""
    if answer.get(key) is None:
        return []
    items: list[Any] = _field(answer, key, list, where)
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidConfigError(f"{where}: {key}[{index}] is not a mapping")
    return items
