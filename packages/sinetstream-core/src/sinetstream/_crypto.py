"""Message encryption, byte-compatible with SINETStream 1.10 (built on ``cryptography``).

Encrypted block = ``salt ‖ IV/nonce ‖ ciphertext ‖ tag``:

* the salt (``key_derivation.salt_bytes`` long) is random once per writer and
  feeds PBKDF2 when a password is used; with a raw key it is still sent;
* IV, ciphertext and tag are the cipher mode's (:mod:`._crypto_modes`);
* with ``padding: pkcs7`` the plaintext is padded to the block size first.

A reader derives keys per (key version, salt); those keys are kept in a
bounded LRU cache and new derivations are rate-limited (token bucket), so a
stream of messages with fresh salts cannot exhaust memory or CPU.
The ``crypto`` parameters are checked by :mod:`._crypto_config`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from ._crypto_config import CryptoConfig
from ._crypto_modes import BLOCK, KeyedCipher, make_cipher, truncated
from .error import InvalidMessageError, UnknownKeyVersionError

__all__ = ["MessageDecryptor", "MessageEncryptor"]

_urandom = os.urandom


# --- key derivation and padding ------------------------------------------------------------


def _derive(config: CryptoConfig, salt: bytes) -> bytes:
    assert config.password is not None
    return hashlib.pbkdf2_hmac(
        config.prf, config.password, salt, config.iteration, config.key_length // 8
    )


_PADS = tuple(bytes((n,)) * n for n in range(BLOCK + 1))


def _pad(data: bytes) -> bytes:
    """PKCS#7 padding to the AES block size."""
    return data + _PADS[BLOCK - len(data) % BLOCK]


def _unpad(data: bytes) -> bytes:
    n = data[-1] if data else 0
    if not 1 <= n <= BLOCK or len(data) % BLOCK or data[-n:] != _PADS[n]:
        raise InvalidMessageError(
            "cannot decrypt message: bad PKCS#7 padding (wrong key or password, "
            "or the message was altered)"
        )
    return data[:-n]


# --- writer / reader --------------------------------------------------------------------------


class MessageEncryptor:
    """A writer's cipher: one random salt and one key for its lifetime, fresh IV per message."""

    __slots__ = ("_cipher", "_pkcs7", "_salt", "encrypt", "key_version")

    def __init__(self, config: CryptoConfig) -> None:
        self.key_version = config.max_version
        self._salt = _urandom(config.salt_bytes)
        key = config.keys[self.key_version] if config.keys else _derive(config, self._salt)
        self._cipher = make_cipher(config.mode, key)
        self._pkcs7 = config.pkcs7
        #: ``encrypt(data)``: ``salt ‖ iv ‖ ciphertext ‖ tag`` of ``data``.
        self.encrypt = self.sealer(b"")

    def sealer(self, header: bytes) -> Callable[[bytes], bytes]:
        """A function giving ``header ‖ encrypt(data)``, built once for the hot path."""
        seal = self._cipher.sealer(header + self._salt, self._salt)
        if self._pkcs7:
            return lambda data: seal(_pad(data))
        return seal

    def __repr__(self) -> str:
        return f"MessageEncryptor(key_version={self.key_version})"


class MessageDecryptor:
    """A reader's cipher: picks the key by version, derives and caches keys per salt.

    Derivations beyond the budget (a burst of :attr:`DERIVE_BURST`, then
    :attr:`DERIVE_RATE` per second) are refused with :class:`InvalidMessageError`.
    """

    # Each writer has its own salt, so the cache must hold one key per active writer;
    # a cipher object is small, a PBKDF2 run costs milliseconds of CPU.
    #: Derived keys kept per reader (LRU over (key version, salt)).
    KEY_CACHE_SIZE = 256
    #: Key derivations allowed at once before rate limiting starts.
    DERIVE_BURST = 64
    #: Sustained key derivations allowed per second.
    DERIVE_RATE = 16.0

    __slots__ = (
        "_cache",
        "_config",
        "_fixed",
        "_last",
        "_lock",
        "_pkcs7",
        "_stamp",
        "_tokens",
        "max_version",
        "salt_len",
    )

    def __init__(self, config: CryptoConfig) -> None:
        self._config = config
        self._pkcs7 = config.pkcs7
        #: Length of the salt in front of each encrypted block.
        self.salt_len = config.salt_bytes
        self.max_version = config.max_version
        # Raw keys: one cipher per version, salt ignored.
        self._fixed = {v: make_cipher(config.mode, k) for v, k in config.keys.items()}
        self._cache: OrderedDict[tuple[int, bytes], KeyedCipher] = OrderedDict()
        # (key version, salt, start, opener) of the last block :meth:`decrypt` opened
        self._last: tuple[int, bytes, int, Callable[[bytes], bytes]] | None = None
        self._lock = threading.Lock()
        self._tokens = float(self.DERIVE_BURST)
        self._stamp = time.monotonic()

    def _derived(self, key_version: int, salt: bytes) -> KeyedCipher:
        if key_version != 1:
            raise self._unknown(key_version)
        ident = (key_version, salt)
        with self._lock:
            cipher = self._cache.get(ident)
            if cipher is not None:
                self._cache.move_to_end(ident)
            else:
                now = time.monotonic()
                self._tokens = min(
                    float(self.DERIVE_BURST), self._tokens + (now - self._stamp) * self.DERIVE_RATE
                )
                self._stamp = now
                if self._tokens < 1.0:
                    raise InvalidMessageError(
                        "too many distinct salts: key derivation rate limit exceeded "
                        f"(burst {self.DERIVE_BURST}, {self.DERIVE_RATE:g}/s); message dropped"
                    )
                self._tokens -= 1.0
                cipher = make_cipher(self._config.mode, _derive(self._config, salt))
                self._cache[ident] = cipher
                if len(self._cache) > self.KEY_CACHE_SIZE:
                    self._cache.popitem(last=False)
        return cipher

    def _unknown(self, key_version: int) -> UnknownKeyVersionError:
        return UnknownKeyVersionError(
            f"key_version={key_version} not found: this reader has key versions "
            f"{list(self._config.versions)}"
        )

    def opener(self, key_version: int, salt: bytes, start: int) -> Callable[[bytes], bytes]:
        """The plaintext of the block at ``buf[start:]`` of the writer of ``salt``, as a
        function of ``buf``: built once per writer, then called per message."""
        if self._fixed:
            cipher = self._fixed.get(key_version)
            if cipher is None:
                raise self._unknown(key_version)
        else:
            cipher = self._derived(key_version, salt)
        open_block = cipher.opener(start, self.salt_len)
        if not self._pkcs7:
            return open_block

        def open_padded(buf: bytes) -> bytes:
            return _unpad(open_block(buf))

        return open_padded

    def decrypt(self, key_version: int, buf: bytes, start: int = 0) -> bytes:
        """Plaintext of the block ``buf[start:]``, written with ``key_version``."""
        salt_len = self.salt_len
        if len(buf) < start + salt_len:
            raise truncated(len(buf) - start, salt_len)
        salt = buf[start : start + salt_len]
        last = self._last  # the same writer as the previous message, checked inline
        if last is not None and last[1] == salt and last[0] == key_version and last[2] == start:
            return last[3](buf)
        open_block = self.opener(key_version, salt, start)
        self._last = (key_version, salt, start, open_block)
        return open_block(buf)

    def __repr__(self) -> str:
        return f"MessageDecryptor({self._config!r})"
