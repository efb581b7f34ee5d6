"""Map kafka-python failures to the sinetstream error tree."""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import kafka.errors as kerr
from kafka.net.compat import KafkaNetClient
from sinetstream.error import (
    AuthenticationError,
    AuthorizationError,
    ConnectionError,  # noqa: A004 - sinetstream's name
    ConnectParameterError,
    InvalidArgumentError,
    InvalidMessageError,
    SinetError,
)

__all__ = ["ERRORS", "kafka_errors", "open_client", "to_sinet_error"]

_AUTHENTICATION = (
    kerr.SaslAuthenticationFailedError,
    kerr.UnsupportedSaslMechanismError,
    kerr.IllegalSaslStateError,
)
_CONNECTION = (
    kerr.KafkaConnectionError,
    kerr.KafkaTimeoutError,
    kerr.NodeNotReadyError,
    kerr.RequestTimedOutError,
    kerr.NotLeaderForPartitionError,
    ssl.SSLError,
    OSError,
)
_ARGUMENT = (kerr.KafkaConfigurationError, ValueError, TypeError)

_Describe = Callable[[BaseException, str], SinetError]


#: How a kafka-python failure is said as a SinetError, the first match winning:
#: client exception class(es) -> build the error from the exception and what was
#: being done ("publishing to 't'").
ERRORS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], _Describe], ...] = (
    (
        kerr.UnsupportedSaslMechanismError,
        lambda exc, doing: AuthenticationError(
            f"kafka does not enable the SASL mechanism asked for while {doing} ({exc}); "
            "set sasl_mechanism to one the broker's listener enables"
        ),
    ),
    (
        _AUTHENTICATION,
        lambda exc, doing: AuthenticationError(
            f"kafka refused the credentials while {doing} ({type(exc).__name__}); check "
            "sasl_mechanism, sasl_plain_username and sasl_plain_password"
        ),
    ),
    (
        kerr.AuthorizationError,
        lambda exc, doing: AuthorizationError(
            f"kafka denied access while {doing}: {type(exc).__name__}; "
            "grant the ACL to this principal"
        ),
    ),
    (
        (kerr.MessageSizeTooLargeError, kerr.RecordListTooLargeError),
        lambda exc, doing: InvalidMessageError(
            f"kafka: the message is too large while {doing}; raise max_request_size "
            "(writer) and the broker's message.max.bytes, or send less"
        ),
    ),
    (
        _CONNECTION,
        lambda exc, doing: ConnectionError(
            f"kafka connection failed while {doing}: {type(exc).__name__}: {exc}"
        ),
    ),
    (
        _ARGUMENT,
        lambda exc, doing: InvalidArgumentError(f"kafka rejected a setting while {doing}: {exc}"),
    ),
)


def to_sinet_error(exc: BaseException, doing: str) -> SinetError:
    """The SinetError for ``exc``, raised while ``doing`` (e.g. "publishing to 't'").

    Looked up in :data:`ERRORS`; a SinetError is returned as it is, anything
    not in the table is a plain SinetError. The result's cause is ``exc``.
    """
    if isinstance(exc, SinetError):
        return exc
    for classes, describe in ERRORS:
        if isinstance(exc, classes):
            err = describe(exc, doing)
            break
    else:
        err = SinetError(f"kafka error while {doing}: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


@contextlib.contextmanager
def kafka_errors(
    doing: str,
    catch: type[Exception] | tuple[type[Exception], ...] = Exception,
    cleanup: Callable[[], object] | None = None,
) -> Iterator[None]:
    """Raise a failure inside (one of the classes ``catch``) as its SinetError.

    ``cleanup`` runs first (close a half-built client, abort a transaction);
    a SinetError then passes through unchanged, anything else is looked up in
    :data:`ERRORS`. Failures of other classes pass through untouched.
    """
    try:
        yield
    except catch as exc:
        if cleanup is not None:
            cleanup()
        if isinstance(exc, SinetError):
            raise
        raise to_sinet_error(exc, doing) from exc


T = TypeVar("T")


class _ClientCapture:
    """A ``kafka_client`` factory that connects the client and keeps it, to close it on failure.

    kafka-python connects (bootstraps) at construction only when ``api_version``
    is not given; this connects in every case, within ``bootstrap_timeout_ms``,
    before the producer or consumer starts its I/O thread.
    """

    def __init__(self) -> None:
        self.client: Any = None

    def __call__(self, **configs: Any) -> Any:
        self.client = KafkaNetClient(**configs)
        self.client.check_version(timeout_ms=configs["bootstrap_timeout_ms"])
        return self.client


class _FailureTap(logging.Filter):
    """Collects the exceptions kafka-python logs while it retries a bootstrap.

    kafka-python retries failed bootstrap connections until ``bootstrap_timeout_ms``
    and then raises a bare timeout; the causes (SASL refusal, TLS verification
    failure) are only logged. The bootstrap runs in the opening thread (see
    :class:`_ClientCapture`), so only that thread's records are collected: a
    client opening at the same time in another thread keeps its failures.
    Records pass through unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[BaseException] = []
        self._thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread == self._thread:
            args = record.args if isinstance(record.args, tuple) else ()
            self.errors.extend(a for a in args if isinstance(a, BaseException))
        return True


_MANAGER_LOG = logging.getLogger("kafka.net.manager")


def open_client(factory: Callable[..., T], config: dict[str, Any], *args: Any) -> T:
    """Create a KafkaProducer/KafkaConsumer connected to the cluster, or raise the right SinetError.

    Refused credentials give AuthenticationError, anything else that keeps the
    broker unreachable ConnectionError, both within ``bootstrap_timeout_ms``,
    also when ``api_version`` is given (see :class:`_ClientCapture`). The
    half-built client is closed so no I/O thread is left behind.
    """
    capture = _ClientCapture()
    tap = _FailureTap()
    _MANAGER_LOG.addFilter(tap)
    try:
        return factory(*args, kafka_client=capture, **config)
    except Exception as exc:
        client = capture.client
        if client is not None:
            with contextlib.suppress(Exception):  # best effort: a half-built client
                client.close()
        raise _open_error(exc, tap.errors, config) from exc
    finally:
        _MANAGER_LOG.removeFilter(tap)


def _open_error(exc: Exception, logged: list[BaseException], config: dict[str, Any]) -> SinetError:
    servers = config.get("bootstrap_servers")
    auth = [e for e in logged if isinstance(e, (*_AUTHENTICATION, kerr.AuthorizationError))]
    if auth:
        return to_sinet_error(auth[-1], f"connecting to {servers}")
    if isinstance(exc, kerr.KafkaTimeoutError):
        tls = config.get("security_protocol", "PLAINTEXT")
        causes = [e for e in logged if not isinstance(e, kerr.KafkaTimeoutError)]
        cause = f"; last error: {causes[-1]}" if causes else ""
        return ConnectionError(
            f"kafka: no broker of {servers} answered within "
            f"{config.get('bootstrap_timeout_ms')} ms (security_protocol {tls}){cause}; "
            "check 'brokers', that the broker runs, and the tls/SASL settings "
            "(type_spec.bootstrap_timeout_ms sets this limit)"
        )
    if isinstance(exc, _ARGUMENT):
        # A setting kafka-python refuses when the client is created: SINETStream
        # 1.10 raised ConnectionError here, so the error is both.
        return ConnectParameterError(
            f"kafka rejected a setting while connecting to {servers}: {exc}"
        )
    return to_sinet_error(exc, f"connecting to {servers}")
