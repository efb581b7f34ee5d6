"""AES cipher modes behind one small protocol, :class:`KeyedCipher`.

Each mode turns one key into a cipher with two operations, each built once
and then called per message: ``sealer`` (per message it draws a fresh IV and
gives ``head ‖ iv ‖ ciphertext ‖ tag``) and ``opener`` (the plaintext of the
block at a fixed offset of a message).

* the IV/nonce is random per message: 16 bytes, except OPENPGP whose 18-byte
  field is the encrypted IV with its 2 check bytes. IVs are drawn from the
  OS CSPRNG 256 at a time (see :func:`fresh_iv`);
* GCM (16-byte tag) and EAX (8-byte tag) authenticate ``salt ‖ nonce`` as
  associated data. Unlike the reference, the tag is verified on receipt.

CFB is CFB-8 and CTR uses the whole 16-byte block as the initial counter, as
pycryptodome does.
"""

from __future__ import annotations

import hmac
import os
import sys
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

try:  # cryptography >= 47 moved the legacy modes (still needed for wire compatibility)
    from cryptography.hazmat.decrepit.ciphers.modes import CFB, CFB8, OFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import (  # type: ignore[assignment,unused-ignore]
        CFB,
        CFB8,
        OFB,
    )

from .error import InvalidMessageError

__all__ = ["BLOCK", "KeyedCipher", "fresh_iv", "make_cipher", "truncated"]

_urandom = os.urandom

#: The AES block size in bytes.
BLOCK = 16
_EAX_TAG = 8
_GCM_TAG = 16
_OPENPGP_IV = BLOCK + 2
_ZERO_BLOCK = bytes(BLOCK)


# --- IVs ---------------------------------------------------------------------------------

# One getrandom() call per 256 IVs instead of one per message: 0.47 -> 0.18 µs per IV
# (timeit), a sixth of an AES-GCM encode at 1 KiB. The IVs stay OS-random and
# unpredictable (CBC needs that, GCM needs them unique). Each is handed out once:
# ``next`` on a list iterator is atomic under the GIL (a lock does it without the
# GIL), and a forked child drops the pool it inherited, so parent and child never
# send the same IV.
_IV_POOL_BYTES = 256 * BLOCK
_ivs: Iterator[bytes] = iter(())
_iv_lock = threading.Lock()


def _refill_ivs() -> bytes:
    global _ivs
    block = _urandom(_IV_POOL_BYTES)
    ivs = iter([block[i : i + BLOCK] for i in range(0, _IV_POOL_BYTES, BLOCK)])
    iv = next(ivs)
    _ivs = ivs
    return iv


def _next_iv() -> bytes:
    iv = next(_ivs, None)
    return _refill_ivs() if iv is None else iv


def _next_iv_locked() -> bytes:
    with _iv_lock:
        return _next_iv()


def _forget_ivs() -> None:
    global _ivs
    _ivs = iter(())


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_ivs)

#: 16 fresh random bytes for one message's IV or nonce.
fresh_iv: Callable[[], bytes] = (
    _next_iv if getattr(sys, "_is_gil_enabled", lambda: True)() else _next_iv_locked
)


# --- per-key ciphers ------------------------------------------------------------------------


class KeyedCipher(Protocol):
    """One AES mode with one key: what the encryptor and decryptor need of it."""

    def sealer(self, head: bytes, salt: bytes) -> Callable[[bytes], bytes]:
        """A function of ``data`` giving ``head ‖ iv ‖ ciphertext ‖ tag``, built once per writer.

        ``head`` ends with ``salt`` (the writer puts the packet header in front
        of it, so the message is assembled with one copy).
        """
        ...

    def opener(self, start: int, salt_len: int) -> Callable[[bytes], bytes]:
        """A function of ``buf`` giving the plaintext of the block ``buf[start:]``.

        The block's first ``salt_len`` bytes are the salt. Raises
        :class:`InvalidMessageError` for a truncated, altered or undecryptable block.
        """
        ...


def truncated(size: int, need: int) -> InvalidMessageError:
    """The error for an encrypted block of ``size`` bytes that needs ``need``."""
    return InvalidMessageError(f"truncated encrypted message: {size} bytes, at least {need} needed")


_AUTH_FAILED = (
    "cannot decrypt message: authentication failed (wrong key or password, "
    "or the message was altered)"
)


# Above this many bytes, the GCM ciphertext is handed to ``cryptography`` as a view of
# the message rather than a copy. A view has a fixed cost a copy only passes at about
# 8 KiB (timeit, cryptography 51: decrypt 1.32 µs with a copy, 1.57 with a view at
# 1 KiB; 21.1 and 19.6 µs at 64 KiB; 82 and 73 µs at 256 KiB).
_VIEW_ABOVE = 16384


class _Gcm:
    __slots__ = ("_decrypt", "_encrypt")

    def __init__(self, key: bytes) -> None:
        aead = AESGCM(key)
        self._encrypt = aead.encrypt
        self._decrypt = aead.decrypt

    def sealer(self, head: bytes, salt: bytes) -> Callable[[bytes], bytes]:
        # One closure over the AEAD function, the IV drawn inline rather than by
        # fresh_iv(): 1,000 instructions less per message (callgrind), a sixth of
        # the AESGCM.encrypt call on 100 bytes.
        encrypt = self._encrypt
        join = b"".join
        if fresh_iv is not _next_iv:  # free-threaded build: the locked IV source

            def seal_locked(data: bytes) -> bytes:
                nonce = fresh_iv()
                return join((head, nonce, encrypt(nonce, data, salt + nonce)))

            return seal_locked

        def seal(data: bytes) -> bytes:
            nonce = next(_ivs, None) or _refill_ivs()
            return join((head, nonce, encrypt(nonce, data, salt + nonce)))

        return seal

    def opener(self, start: int, salt_len: int) -> Callable[[bytes], bytes]:
        iv_at = start + salt_len
        ct_at = iv_at + BLOCK
        decrypt = self._decrypt

        def open_gcm(buf: bytes) -> bytes:
            # One call verifies the tag and decrypts ciphertext ‖ tag.
            try:
                if len(buf) <= _VIEW_ABOVE:
                    return decrypt(buf[iv_at:ct_at], buf[ct_at:], buf[start:ct_at])
                return decrypt(buf[iv_at:ct_at], memoryview(buf)[ct_at:], buf[start:ct_at])
            except (InvalidTag, ValueError):
                pass
            if len(buf) < ct_at + _GCM_TAG:
                raise truncated(len(buf) - start, ct_at + _GCM_TAG - start)
            raise InvalidMessageError(_AUTH_FAILED)

        return open_gcm


class _PartialSealer:
    """``sealer`` and ``opener`` for ciphers whose per-message work is a ``seal`` and
    an ``open`` method."""

    __slots__ = ()

    def seal(self, head: bytes, salt: bytes, data: bytes) -> bytes:
        raise NotImplementedError

    def sealer(self, head: bytes, salt: bytes) -> Callable[[bytes], bytes]:
        return partial(self.seal, head, salt)

    def open(self, start: int, salt_len: int, buf: bytes) -> bytes:
        raise NotImplementedError

    def opener(self, start: int, salt_len: int) -> Callable[[bytes], bytes]:
        return partial(self.open, start, salt_len)


class _Eax(_PartialSealer):
    """EAX (Bellare, Rogaway, Wagner) from AES-CMAC and AES-CTR, tag truncated to 8 bytes."""

    __slots__ = ("_aes", "_omac")

    def __init__(self, key: bytes) -> None:
        self._aes = algorithms.AES(key)
        # OMAC^t(M) = CMAC([t]_128 ‖ M): prime one CMAC per t and copy it per message.
        self._omac = []
        for t in range(3):
            c = cmac.CMAC(self._aes)
            c.update(bytes(BLOCK - 1) + bytes((t,)))
            self._omac.append(c)

    def _mac(self, t: int, data: bytes) -> bytes:
        c = self._omac[t].copy()
        c.update(data)
        return c.finalize()

    def _tag(self, n: bytes, h: bytes, c: bytes) -> bytes:
        x = int.from_bytes(n, "big") ^ int.from_bytes(h, "big") ^ int.from_bytes(c, "big")
        return x.to_bytes(BLOCK, "big")[:_EAX_TAG]

    def seal(self, head: bytes, salt: bytes, data: bytes) -> bytes:
        nonce = fresh_iv()
        n = self._mac(0, nonce)
        ct = Cipher(self._aes, modes.CTR(n)).encryptor().update(data)
        tag = self._tag(n, self._mac(1, salt + nonce), self._mac(2, ct))
        return b"".join((head, nonce, ct, tag))

    def open(self, start: int, salt_len: int, buf: bytes) -> bytes:
        iv_at = start + salt_len
        ct_at = iv_at + BLOCK
        if len(buf) < ct_at + _EAX_TAG:
            raise truncated(len(buf) - start, ct_at + _EAX_TAG - start)
        ct = buf[ct_at:-_EAX_TAG]
        n = self._mac(0, buf[iv_at:ct_at])
        tag = self._tag(n, self._mac(1, buf[start:ct_at]), self._mac(2, ct))
        if not hmac.compare_digest(tag, buf[-_EAX_TAG:]):
            raise InvalidMessageError(_AUTH_FAILED)
        return Cipher(self._aes, modes.CTR(n)).decryptor().update(ct)


class _Classic(_PartialSealer):
    """CBC, CFB-8, OFB and CTR: ``salt ‖ iv ‖ ciphertext``, no tag."""

    __slots__ = ("_aes", "_mode")

    def __init__(self, key: bytes, mode: Any) -> None:
        self._aes = algorithms.AES(key)
        self._mode = mode

    def seal(self, head: bytes, salt: bytes, data: bytes) -> bytes:
        iv = fresh_iv()
        enc = Cipher(self._aes, self._mode(iv)).encryptor()
        try:
            return b"".join((head, iv, enc.update(data), enc.finalize()))
        except ValueError as exc:  # CBC without padding on a partial block
            raise InvalidMessageError(
                f"cannot encrypt: {exc} (set crypto.padding: pkcs7 for CBC)"
            ) from None

    def open(self, start: int, salt_len: int, buf: bytes) -> bytes:
        iv_at = start + salt_len
        ct_at = iv_at + BLOCK
        if len(buf) < ct_at:
            raise truncated(len(buf) - start, ct_at - start)
        dec = Cipher(self._aes, self._mode(buf[iv_at:ct_at])).decryptor()
        try:
            return dec.update(buf[ct_at:]) + dec.finalize()
        except ValueError:
            raise InvalidMessageError(
                "cannot decrypt message: ciphertext is not a whole number of blocks"
            ) from None


class _OpenPgp(_PartialSealer):
    """pycryptodome's OpenPGP mode: CFB-128, IV sent encrypted with 2 check bytes."""

    __slots__ = ("_aes",)

    def __init__(self, key: bytes) -> None:
        self._aes = algorithms.AES(key)

    def seal(self, head: bytes, salt: bytes, data: bytes) -> bytes:
        iv = fresh_iv()
        eiv = Cipher(self._aes, CFB(_ZERO_BLOCK)).encryptor().update(iv + iv[-2:])
        ct = Cipher(self._aes, CFB(eiv[-BLOCK:])).encryptor().update(data)
        return b"".join((head, eiv, ct))

    def open(self, start: int, salt_len: int, buf: bytes) -> bytes:
        iv_at = start + salt_len
        ct_at = iv_at + _OPENPGP_IV
        if len(buf) < ct_at:
            raise truncated(len(buf) - start, ct_at - start)
        eiv = buf[iv_at:ct_at]
        iv = Cipher(self._aes, CFB(_ZERO_BLOCK)).decryptor().update(eiv)
        if iv[-2:] != iv[-4:-2]:
            raise InvalidMessageError(
                "cannot decrypt message: OpenPGP IV check failed (wrong key or password, "
                "or the message was altered)"
            )
        return Cipher(self._aes, CFB(eiv[-BLOCK:])).decryptor().update(buf[ct_at:])


_CLASSIC_MODES: dict[str, Any] = {"CBC": modes.CBC, "CFB": CFB8, "OFB": OFB, "CTR": modes.CTR}


def make_cipher(mode: str, key: bytes) -> KeyedCipher:
    """The cipher of ``mode`` (a canonical name of ``MODES``) with ``key``."""
    if mode == "GCM":
        return _Gcm(key)
    if mode == "EAX":
        return _Eax(key)
    if mode == "OPENPGP":
        return _OpenPgp(key)
    return _Classic(key, _CLASSIC_MODES[mode])
