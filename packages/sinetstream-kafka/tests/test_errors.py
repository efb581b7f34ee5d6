"""kafka-python's failures as SinetErrors: the table, and the context manager that applies it."""

from __future__ import annotations

import ssl

import kafka.errors as kerr
import pytest
from sinetstream.error import (
    AuthenticationError,
    AuthorizationError,
    ConnectionError,  # noqa: A004
    InvalidArgumentError,
    InvalidMessageError,
    SinetError,
)
from sinetstream_kafka._errors import kafka_errors, to_sinet_error


@pytest.mark.parametrize(
    ("exc", "expected", "says"),
    [
        (kerr.UnsupportedSaslMechanismError(), AuthenticationError, "SASL mechanism"),
        (kerr.SaslAuthenticationFailedError(), AuthenticationError, "refused the credentials"),
        (kerr.TopicAuthorizationFailedError(), AuthorizationError, "denied access"),
        (kerr.MessageSizeTooLargeError(), InvalidMessageError, "too large"),
        (kerr.KafkaConnectionError("gone"), ConnectionError, "connection failed"),
        (ssl.SSLError("bad"), ConnectionError, "connection failed"),
        (kerr.KafkaConfigurationError("no"), InvalidArgumentError, "rejected a setting"),
        (kerr.IllegalStateError("odd"), SinetError, "kafka error while"),
    ],
)
def test_each_client_error_has_its_sinet_error(
    exc: Exception, expected: type[SinetError], says: str
) -> None:
    err = to_sinet_error(exc, "doing it")
    assert type(err) is expected
    assert says in str(err)
    assert "doing it" in str(err)
    assert err.__cause__ is exc


def test_a_sinet_error_is_kept() -> None:
    err = InvalidArgumentError("mine")
    assert to_sinet_error(err, "doing it") is err


def test_the_context_manager_cleans_up_then_raises_the_mapped_error() -> None:
    cleaned: list[bool] = []
    with (
        pytest.raises(ConnectionError, match="while publishing") as info,
        kafka_errors("publishing", cleanup=lambda: cleaned.append(True)),
    ):
        raise kerr.KafkaTimeoutError("slow")
    assert cleaned == [True]
    assert isinstance(info.value.__cause__, kerr.KafkaTimeoutError)


def test_the_context_manager_passes_sinet_errors_through_after_cleanup() -> None:
    cleaned: list[bool] = []
    err = ConnectionError("no partitions")
    with (
        pytest.raises(ConnectionError) as info,
        kafka_errors("subscribing", cleanup=lambda: cleaned.append(True)),
    ):
        raise err
    assert info.value is err
    assert cleaned == [True]


def test_the_context_manager_leaves_other_classes_alone() -> None:
    cleaned: list[bool] = []
    with (
        pytest.raises(KeyError),
        kafka_errors("publishing", (kerr.KafkaError,), lambda: cleaned.append(True)),
    ):
        raise KeyError("a bug")
    assert cleaned == []
