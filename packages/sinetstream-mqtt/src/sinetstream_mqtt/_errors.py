"""paho's failures as sinetstream errors: connecting, and the reason codes of acknowledgements."""

from __future__ import annotations

import socket
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from sinetstream.error import AuthorizationError, SinetError
from sinetstream.error import ConnectionError as SinetConnectionError

from ._params import MqttSettings

__all__ = ["AUTH_REFUSED", "close_leaked_sockets", "connect_error", "reason_error"]

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


def connect_error(exc: BaseException, s: MqttSettings) -> SinetConnectionError:
    """The sinetstream error for an exception of paho's ``connect`` to the broker of ``s``."""
    where = f"MQTT broker {s.address}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SinetConnectionError(
            f"TLS handshake with {where} failed: certificate verify failed: "
            f"{exc.verify_message} (check tls ca_certs, and check_hostname/tls_insecure)"
        )
    if isinstance(exc, ssl.SSLError):
        return SinetConnectionError(f"TLS handshake with {where} failed: {exc.reason or exc}")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return SinetConnectionError(
            f"{where} did not answer within connection_timeout={s.connection_timeout:g}s"
        )
    if isinstance(exc, ConnectionRefusedError):
        return SinetConnectionError(f"{where} refused the connection (nothing listening?)")
    if isinstance(exc, mqtt.WebsocketConnectionError):
        return SinetConnectionError(
            f"websocket handshake with {where} failed: {exc} (check ws_options path)"
        )
    if isinstance(exc, socket.gaierror):
        return SinetConnectionError(f"cannot resolve {s.host!r}: {exc.strerror}")
    if isinstance(exc, OSError):
        return SinetConnectionError(f"cannot connect to {where}: {exc.strerror or exc}")
    return SinetConnectionError(f"cannot connect to {where}: {exc!r}")
