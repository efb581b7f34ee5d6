"""Exceptions raised by sinetstream.

Every exception the library raises on purpose derives from :class:`SinetError`,
so ``except SinetError`` catches all of them::

    SinetError                    any sinetstream failure
    ├── NoConfigError             no config file, or several services and none chosen
    ├── NoServiceError            the named service is not in the config
    ├── InvalidConfigError        the config file is malformed
    ├── UnsupportedServiceTypeError  no usable plugin for ``type``
    ├── InvalidArgumentError      a parameter has a wrong value or type
    ├── ConnectionError           the broker cannot be reached or the link failed
    │   └── AuthenticationError   the broker refused the credentials
    ├── AlreadyConnectedError     ``open()`` on an object that is already open
    ├── NotOpenError              the object is not open (never opened, or closed)
    ├── InvalidMessageError       a message cannot be encoded or decoded
    └── AuthorizationError        the broker denied access to a topic or group

The names and the first nine classes are those of SINETStream 1.10, so existing
``except`` clauses keep working. :class:`ConnectionError` shadows the builtin of
the same name inside this module only; it does *not* derive from it.
"""

from __future__ import annotations

__all__ = [
    "AlreadyConnectedError",
    "AuthenticationError",
    "AuthorizationError",
    "ConnectionError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidMessageError",
    "NoConfigError",
    "NoServiceError",
    "NotOpenError",
    "SinetError",
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
