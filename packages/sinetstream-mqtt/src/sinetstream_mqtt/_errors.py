"""paho's failures as sinetstream errors: connecting, and the reason codes of acknowledgements."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from sinetstream.error import AuthorizationError, SinetError
from sinetstream.error import ConnectionError as SinetConnectionError

from ._params import MqttSettings

__all__ = [
    "AUTH_REFUSED",
    "CONNECT_ERRORS",
    "close_leaked_sockets",
    "connect_error",
    "connect_errors",
    "reason_error",
]

#: CONNACK reason codes (MQTT 5 numbering; paho maps 3.1.1 codes onto them)
#: that mean "your credentials were refused".
AUTH_REFUSED = frozenset({0x86, 0x87, 0x8C})  # bad user/password, not authorized, bad auth method
_NOT_AUTHORIZED = 0x87


def reason_error(what: str, reason: ReasonCode) -> SinetError:
    """The sinetstream error for a failure reason code in a PUBACK/SUBACK."""
    if reason.value == _NOT_AUTHORIZED:
        return AuthorizationError(f"{what}: the broker answered 'Not authorized' (check its ACL)")
    return SinetError(f"{what}: the broker answered {reason.getName()!r} (code {reason.value})")


def close_leaked_sockets(exc: BaseException) -> None:
    """Close sockets a failed TLS/websocket handshake left open inside paho.

    paho does not close the socket it was wrapping when the handshake fails;
    it would stay open (and warn at garbage collection) as long as the
    exception's traceback lives.
    """
    tb = exc.__traceback__
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, socket.socket):
                value.close()
        tb = tb.tb_next


_Describe = Callable[[Any, str, MqttSettings], str]
_Classes = type[BaseException] | tuple[type[BaseException], ...]

#: What a failure of paho's ``connect`` says, the first match winning: client
#: exception class(es) -> the message of the ConnectionError, from the exception,
#: the broker's description and the settings.
CONNECT_ERRORS: tuple[
    tuple[type[BaseException] | tuple[type[BaseException], ...], _Describe], ...
] = (
    (
        ssl.SSLCertVerificationError,
        lambda exc, where, s: (
            f"TLS handshake with {where} failed: certificate verify failed: "
            f"{exc.verify_message} (check tls ca_certs, and check_hostname/tls_insecure)"
        ),
    ),
    (
        ssl.SSLError,
        lambda exc, where, s: f"TLS handshake with {where} failed: {exc.reason or exc}",
    ),
    (
        (socket.timeout, TimeoutError),
        lambda exc, where, s: (
            f"{where} did not answer within connection_timeout={s.connection_timeout:g}s"
        ),
    ),
    (
        ConnectionRefusedError,
        lambda exc, where, s: f"{where} refused the connection (nothing listening?)",
    ),
    (
        mqtt.WebsocketConnectionError,
        lambda exc, where, s: (
            f"websocket handshake with {where} failed: {exc} (check ws_options path)"
        ),
    ),
    (socket.gaierror, lambda exc, where, s: f"cannot resolve {s.host!r}: {exc.strerror}"),
    (OSError, lambda exc, where, s: f"cannot connect to {where}: {exc.strerror or exc}"),
)


def connect_error(exc: BaseException, s: MqttSettings) -> SinetConnectionError:
    """The sinetstream error for an exception of paho's ``connect`` to the broker of ``s``.

    Looked up in :data:`CONNECT_ERRORS`; anything else still is a ConnectionError.
    """
    where = f"MQTT broker {s.address}"
    for classes, describe in CONNECT_ERRORS:
        if isinstance(exc, classes):
            return SinetConnectionError(describe(exc, where, s))
    return SinetConnectionError(f"cannot connect to {where}: {exc!r}")


@contextlib.contextmanager
def connect_errors(s: MqttSettings, cleanup: Callable[[], object]) -> Iterator[None]:
    """Raise a failure to connect to the broker of ``s`` as its ConnectionError.

    Sockets a failed handshake left open are closed and ``cleanup`` runs first.
    """
    try:
        yield
    except Exception as exc:
        close_leaked_sockets(exc)
        cleanup()
        raise connect_error(exc, s) from exc
