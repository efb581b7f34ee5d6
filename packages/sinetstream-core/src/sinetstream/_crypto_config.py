"""The ``crypto`` parameters: names, defaults and checks of SINETStream 1.10.

:func:`parse_crypto` turns the parameter into a :class:`CryptoConfig`, or
raises :class:`InvalidArgumentError` naming the key at fault. Passwords are
encoded as Latin-1 before PBKDF2, as the reference (pycryptodome) does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ._wire import MAX_KEY_VERSION
from .error import InvalidArgumentError, MissingParameterError
from .spi.params import check_choice, check_int

__all__ = [
    "AUTHENTICATED_MODES",
    "MODES",
    "CryptoConfig",
    "parse_crypto",
    "warn_if_unauthenticated",
]

_log = logging.getLogger("sinetstream")

#: Canonical mode names (OPENPGPCFB is accepted as an alias of OPENPGP).
MODES = ("CBC", "CFB", "CTR", "EAX", "GCM", "OFB", "OPENPGP")
#: Modes whose tag detects tampering and wrong keys.
AUTHENTICATED_MODES = frozenset({"EAX", "GCM"})
_MODE_ALIASES = {"OPENPGPCFB": "OPENPGP"}
_KEY_LENGTHS = (128, 192, 256)
_PRFS = {"HMAC-SHA256": "sha256", "HMAC-SHA384": "sha384", "HMAC-SHA512": "sha512"}
_KDF_ALGORITHMS = ("pbkdf2", "PBKDF2WithHmacSHA256")
_MAX_SALT_BYTES = 1024  # far beyond any use; bounds what a config can make us allocate


class CryptoConfig:
    """Validated ``crypto`` parameters. Its repr never shows the password or keys."""

    __slots__ = (
        "iteration",
        "key_length",
        "keys",
        "mode",
        "password",
        "pkcs7",
        "prf",
        "salt_bytes",
    )

    def __init__(
        self,
        *,
        key_length: int,
        mode: str,
        pkcs7: bool,
        salt_bytes: int,
        iteration: int,
        prf: str,
        password: bytes | None,
        keys: Mapping[int, bytes],
    ) -> None:
        self.key_length = key_length  # bits
        self.mode = mode
        self.pkcs7 = pkcs7
        self.salt_bytes = salt_bytes
        self.iteration = iteration
        self.prf = prf  # hashlib name
        self.password = password
        self.keys = dict(keys)

    @property
    def versions(self) -> tuple[int, ...]:
        """Key versions available, ascending (a password gives version 1)."""
        return tuple(sorted(self.keys)) if self.keys else (1,)

    @property
    def max_version(self) -> int:
        """The key version a writer uses: the highest one."""
        return self.versions[-1]

    def describe(self) -> str:
        """E.g. ``AES-128-GCM`` (no secrets)."""
        return f"AES-{self.key_length}-{self.mode}"

    def __repr__(self) -> str:
        source = f"keys v{list(self.versions)}" if self.keys else "password"
        return f"CryptoConfig({self.describe()}, pkcs7={self.pkcs7}, {source})"


def _password_bytes(password: Any) -> bytes:
    """The password as PBKDF2 input; the message of any error omits the secret."""
    if isinstance(password, Mapping):
        if "value" in password and password["value"] is not None:
            password = password["value"]
        elif password.get("path") is not None:
            path = password["path"]
            try:
                with open(os.path.expanduser(str(path)), encoding="utf-8") as f:
                    password = f.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidArgumentError(
                    f"crypto.password.path: cannot read {str(path)!r}: {type(exc).__name__}"
                ) from None
        else:
            raise InvalidArgumentError("crypto.password: a mapping needs 'value' or 'path'")
    if isinstance(password, (bytes, bytearray)):
        return bytes(password)
    if not isinstance(password, str):
        raise InvalidArgumentError(
            f"crypto.password: must be a string, {{value: ...}} or {{path: ...}}, "
            f"got {type(password).__name__}"
        )
    try:
        # SINETStream 1.10 (pycryptodome) encodes the password as Latin-1.
        return password.encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidArgumentError(
            "crypto.password: contains characters outside Latin-1, which SINETStream cannot "
            "encode (the reference library encodes passwords as Latin-1)"
        ) from None


def _raw_key(key: Any, length: int, what: str) -> bytes:
    if isinstance(key, str):
        raise InvalidArgumentError(f"{what}: must be bytes (use !!binary in YAML), not a string")
    if not isinstance(key, (bytes, bytearray)):
        raise InvalidArgumentError(f"{what}: must be bytes, got {type(key).__name__}")
    if len(key) != length // 8:
        raise InvalidArgumentError(
            f"{what}: {length // 8} bytes needed for key_length {length}, got {len(key)}"
        )
    return bytes(key)


def parse_crypto(crypto: Any) -> CryptoConfig:
    """Validate the ``crypto`` parameter (SINETStream 1.10 names and defaults).

    Raises :class:`InvalidArgumentError` naming the offending key.
    """
    if not isinstance(crypto, Mapping):
        raise InvalidArgumentError(
            "crypto: data_encryption is true but crypto is "
            f"{'missing' if crypto is None else type(crypto).__name__}; "
            "give at least crypto.algorithm, crypto.mode and crypto.password (or key)"
        )
    algorithm = crypto.get("algorithm")
    if algorithm is None:
        raise MissingParameterError("crypto.algorithm: required when data_encryption is true (AES)")
    check_choice("crypto.algorithm", algorithm, ("AES",), ignore_case=True)
    key_length = crypto.get("key_length", 128)
    if isinstance(key_length, bool) or key_length not in _KEY_LENGTHS:
        raise InvalidArgumentError(f"crypto.key_length: {key_length!r} is not one of 128, 192, 256")
    mode = crypto.get("mode")
    if mode is None:
        raise InvalidArgumentError(
            f"crypto.mode: required when data_encryption is true ({', '.join(MODES)})"
        )
    if isinstance(mode, str) and mode.upper() in _MODE_ALIASES:
        mode = _MODE_ALIASES[mode.upper()]
    mode = check_choice("crypto.mode", mode, (*MODES, "OPENPGPCFB"), ignore_case=True)
    pad = crypto.get("padding")
    if pad is None:
        pkcs7 = False
    else:
        padding = ("none", "NoPadding", "pkcs7")
        pkcs7 = check_choice("crypto.padding", pad, padding, ignore_case=True) == "pkcs7"
    kdf = crypto.get("key_derivation") or {}
    if not isinstance(kdf, Mapping):
        raise InvalidArgumentError(
            f"crypto.key_derivation: must be a mapping, got {type(kdf).__name__}"
        )
    check_choice(
        "crypto.key_derivation.algorithm",
        kdf.get("algorithm", "pbkdf2"),
        _KDF_ALGORITHMS,
        ignore_case=True,
    )
    salt_bytes = check_int(
        "crypto.key_derivation.salt_bytes",
        kdf.get("salt_bytes", 8),
        minimum=0,
        maximum=_MAX_SALT_BYTES,
    )
    iteration = check_int("crypto.key_derivation.iteration", kdf.get("iteration", 10000), minimum=1)
    prf = _PRFS[
        check_choice(
            "crypto.key_derivation.prf",
            kdf.get("prf", "HMAC-SHA256"),
            tuple(_PRFS),
            ignore_case=True,
        )
    ]

    password_param = crypto.get("password")
    key_param = crypto.get("key")
    keys_param = crypto.get("_keys")
    if password_param is not None and (key_param is not None or keys_param):
        raise InvalidArgumentError("crypto: give either crypto.password or crypto.key, not both")
    keys: dict[int, bytes] = {}
    password: bytes | None = None
    if keys_param:
        if not isinstance(keys_param, Mapping):
            raise InvalidArgumentError("crypto._keys: must be a mapping {version: key bytes}")
        for version, key in keys_param.items():
            try:
                v = int(version)
            except (TypeError, ValueError):
                raise InvalidArgumentError(
                    f"crypto._keys: key version {version!r} is not an integer"
                ) from None
            if isinstance(version, bool) or not 1 <= v <= MAX_KEY_VERSION:
                raise InvalidArgumentError(
                    f"crypto._keys: key version {version!r} is outside 1..{MAX_KEY_VERSION}"
                )
            keys[v] = _raw_key(key, key_length, f"crypto._keys[{v}]")
    elif key_param is not None:
        keys[1] = _raw_key(key_param, key_length, "crypto.key")
    elif password_param is not None:
        password = _password_bytes(password_param)
    else:
        raise InvalidArgumentError(
            "crypto: data_encryption is true but neither crypto.password nor crypto.key is set"
        )
    return CryptoConfig(
        key_length=key_length,
        mode=mode,
        pkcs7=pkcs7,
        salt_bytes=salt_bytes,
        iteration=iteration,
        prf=prf,
        password=password,
        keys=keys,
    )


def warn_if_unauthenticated(config: CryptoConfig, who: str) -> None:
    """Log once (per caller) that the configured mode cannot detect tampering."""
    if config.mode not in AUTHENTICATED_MODES:
        _log.warning(
            "%s: crypto.mode %s does not authenticate messages, so altered messages and wrong "
            "keys may go undetected; prefer GCM or EAX",
            who,
            config.mode,
        )
