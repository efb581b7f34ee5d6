"""Exceptions raised by sinetstream.

Every exception the library raises on purpose derives from :class:`SinetError`,
so ``except SinetError`` catches all of them::

    SinetError                      any sinetstream failure
    ├── NoConfigError               no config file, or several services and none chosen
    ├── NoServiceError              the named service is not in the config
    ├── InvalidConfigError          the config file is malformed
    │   ├── EmptyConfigError        the config file given is empty      (+ NoConfigError)
    │   ├── ConfigSyntaxError       the config file is not valid YAML   (+ NoConfigError)
    │   └── UnsupportedSecretError  an encrypted secret's format is unknown (+ RuntimeError)
    ├── UnsupportedServiceTypeError no usable plugin for ``type``
    ├── InvalidArgumentError        a parameter has a wrong value or type
    │   ├── CompressionLevelError   compression.level out of range      (+ ValueError)
    │   ├── MissingParameterError   a required parameter is absent      (+ KeyError)
    │   ├── ConnectParameterError   a value the broker connection cannot take
    │   │                                                      (+ sinetstream ConnectionError)
    │   └── UnknownKeyVersionError  a message's key version is not configured
    │                                                      (+ InvalidMessageError)
    ├── ConnectionError             the broker cannot be reached or the link failed
    │   ├── AuthenticationError     the broker refused the credentials
    │   └── NotConnectedError       the link is down right now          (+ RuntimeError)
    ├── AlreadyConnectedError       ``open()`` on an object that is already open
    ├── NotOpenError                the object is not open (never opened, or closed)
    ├── UnsupportedOperationError   the backend cannot do this (seek on MQTT) (+ AttributeError)
    ├── InvalidMessageError         a message cannot be encoded or decoded
    └── AuthorizationError          the broker denied access to a topic or group

The names and the first nine classes are those of SINETStream 1.10, so existing
``except`` clauses keep working. :class:`ConnectionError` shadows the builtin of
the same name inside this module only; it does *not* derive from it.

A class marked ``(+ X)`` also derives from ``X`` (a builtin, unless named
otherwise): it is the precise error, and it is also what SINETStream 1.10
raised in the same situation, so a program written for 1.10 (``except
ValueError:``, ``except NoConfigError:``) still catches it.
docs/compatibility.md lists every situation.
"""

from __future__ import annotations

__all__ = [
    "AlreadyConnectedError",
    "AuthenticationError",
    "AuthorizationError",
    "CompressionLevelError",
    "ConfigSyntaxError",
    "ConnectParameterError",
    "ConnectionError",
    "EmptyConfigError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidMessageError",
    "MissingParameterError",
    "NoConfigError",
    "NoServiceError",
    "NotConnectedError",
    "NotOpenError",
    "SinetError",
    "UnknownKeyVersionError",
    "UnsupportedOperationError",
    "UnsupportedSecretError",
    "UnsupportedServiceTypeError",
]


class SinetError(Exception):
    """Base of every sinetstream error: catch it to handle any failure."""


class NoConfigError(SinetError):
    """No configuration could be found, or the service could not be chosen.

    Catch it to fall back to explicit parameters (``no_config=True``).
    """


class NoServiceError(SinetError):
    """The requested service name is not defined in the configuration."""


class InvalidConfigError(SinetError):
    """The configuration file is malformed (YAML syntax, shape, header)."""


class UnsupportedServiceTypeError(SinetError):
    """No plugin is installed for the service ``type``, or the plugin is unusable.

    The message names the entry point, its distribution and what is missing.
    """


class InvalidArgumentError(SinetError):
    """A parameter has a wrong value or type (consistency, crypto, topic, ...)."""


class ConnectionError(SinetError):  # noqa: A001 - the reference's public name
    """The broker cannot be reached, or the connection failed while in use."""


class AuthenticationError(ConnectionError):
    """The broker refused the credentials (user name, password, certificate)."""


class AlreadyConnectedError(SinetError):
    """``open()`` was called on an object that is already open."""


class NotOpenError(SinetError):
    """The object is not open: call ``open()`` (or use ``with``) first.

    A closed object may be opened again.
    """


class InvalidMessageError(SinetError):
    """A message cannot be encoded (writer) or decoded (reader).

    On a reader this means a truncated, garbled, tampered or undecryptable
    message; the message says which, never the secret.
    """


class AuthorizationError(SinetError):
    """The broker denied access to a topic or consumer group."""


# --- precise errors that are also what SINETStream 1.10 raised -----------------------------


class EmptyConfigError(InvalidConfigError, NoConfigError):
    """The config file given as ``config_file`` is empty (or holds an empty document).

    Also a :class:`NoConfigError`: SINETStream 1.10 treated such a file as absent.
    """


class ConfigSyntaxError(InvalidConfigError, NoConfigError):
    """The config file is not valid YAML; the message gives the line and column.

    Also a :class:`NoConfigError`: SINETStream 1.10 treated a file it could not
    scan as absent.
    """


class CompressionLevelError(InvalidArgumentError, ValueError):
    """``compression.level`` is outside the algorithm's range (gzip -1..9, zstd up to 22).

    Also a :class:`ValueError`, what SINETStream 1.10 raised (at the first publish).
    """


class MissingParameterError(InvalidArgumentError, KeyError):
    """A required parameter is absent, e.g. ``crypto.algorithm`` with ``data_encryption``.

    Also a :class:`KeyError`, what SINETStream 1.10 let escape.
    """

    def __str__(self) -> str:
        # KeyError would quote the message as a repr.
        return Exception.__str__(self)


class ConnectParameterError(InvalidArgumentError, ConnectionError):
    """A parameter the broker connection cannot take.

    MQTT ``clean_start`` with 3.1.1 or an MQTT 5 property out of range
    (``receive_maximum: 0``), an unknown Kafka ``type_spec`` key: refused when
    the reader or writer is built; a setting kafka-python itself refuses: at
    ``open()``. Also a :class:`ConnectionError`: SINETStream 1.10 failed at
    ``open()`` with one.
    """


class UnknownKeyVersionError(InvalidMessageError, InvalidArgumentError):
    """A received message is encrypted with a key version this reader was not given.

    An :class:`InvalidMessageError` (``on_invalid_message: skip`` skips it), and
    also an :class:`InvalidArgumentError`, what SINETStream 1.10 raised.
    """


class NotConnectedError(ConnectionError, RuntimeError):
    """A publish while the link to the broker is down (the backend is reconnecting).

    Also a :class:`RuntimeError`, what SINETStream 1.10 let escape from paho.
    """


class UnsupportedSecretError(InvalidConfigError, RuntimeError):
    """An ``!sinetstream/encrypted`` value whose header names an unknown format.

    Also a :class:`RuntimeError`, what SINETStream 1.10 raised.
    """


class UnsupportedOperationError(SinetError, AttributeError):
    """The backend cannot do this, e.g. ``seek_to_beginning()`` on MQTT.

    Also an :class:`AttributeError`, what SINETStream 1.10 let escape (the
    plugin had no such method).
    """
