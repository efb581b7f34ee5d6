"""sinetstream.spi.params: each check accepts what it should, and its message names the key."""

from __future__ import annotations

import math
from typing import Any

import pytest
from sinetstream.error import InvalidArgumentError
from sinetstream.spi import ConfigVersion
from sinetstream.spi import params as params_module
from sinetstream.spi.params import (
    CONSISTENCY_NAMES,
    Params,
    check_bool,
    check_bytes,
    check_choice,
    check_consistency,
    check_int,
    check_number,
    check_str,
    check_str_list,
    check_text,
    service_where,
)


def test_all_is_sorted_and_complete() -> None:
    assert params_module.__all__ == sorted(params_module.__all__)
    assert all(hasattr(params_module, name) for name in params_module.__all__)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("YES", True),
        ("On", True),
        ("false", False),
        ("no", False),
        ("OFF", False),
    ],
)
def test_bool_accepts(value: Any, expected: bool) -> None:
    assert check_bool("retain", value) is expected


@pytest.mark.parametrize("value", [1, 0, 1.0, None, "maybe", "", [True]])
def test_bool_rejects_ints_and_other_words(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^retain: must be true or false, got "):
        check_bool("retain", value)


@pytest.mark.parametrize(
    ("kwargs", "value"),
    [({}, -5), ({"minimum": 0}, 0), ({"minimum": 1, "maximum": 3}, 3), ({"maximum": 2}, -9)],
)
def test_int_accepts(kwargs: dict[str, int], value: int) -> None:
    assert check_int("n", value, **kwargs) == value


@pytest.mark.parametrize(
    ("kwargs", "value", "message"),
    [
        ({}, True, "n: must be an integer, got True"),
        ({}, False, "n: must be an integer, got False"),
        ({}, 1.0, "n: must be an integer, got 1.0"),
        ({}, "3", "n: must be an integer, got '3'"),
        ({"minimum": 1}, 0, "n: must be an integer >= 1, got 0"),
        ({"maximum": 2}, 3, "n: must be an integer <= 2, got 3"),
        ({"minimum": 0, "maximum": 1024}, 4096, "n: must be an integer in 0..1024, got 4096"),
        ({"minimum": 1, "maximum": 5}, True, "n: must be an integer in 1..5, got True"),
    ],
)
def test_int_rejects_bools_floats_strings_and_out_of_range(
    kwargs: dict[str, int], value: Any, message: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        check_int("n", value, **kwargs)
    assert str(info.value) == message


def test_int_message_is_the_crypto_message() -> None:
    # sinetstream._crypto words its integer errors this way; its tests match on it.
    with pytest.raises(InvalidArgumentError, match=r"salt_bytes: must be an integer in 0\.\.1024"):
        check_int("crypto.key_derivation.salt_bytes", 4096, minimum=0, maximum=1024)


@pytest.mark.parametrize(
    ("kwargs", "value", "expected"),
    [
        ({}, 3, 3.0),
        ({}, -2.5, -2.5),
        ({"positive": True}, 0.001, 0.001),
        ({"minimum": 0}, 0, 0.0),
        ({"minimum": 0, "maximum": 1}, 1, 1.0),
        ({"allow_inf": True}, math.inf, math.inf),
        ({"minimum": 0, "allow_inf": True}, math.inf, math.inf),
    ],
)
def test_number_accepts(kwargs: dict[str, Any], value: Any, expected: float) -> None:
    result = check_number("t", value, **kwargs)
    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize(
    ("kwargs", "value", "message"),
    [
        ({}, True, "t: must be a number, got True"),
        ({}, "1", "t: must be a number, got '1'"),
        ({}, None, "t: must be a number, got None"),
        ({}, math.nan, "t: must be a number, got nan"),
        ({"allow_inf": True}, math.nan, "t: must be a number (or inf), got nan"),
        ({}, math.inf, "t: must be a finite number, got inf"),
        ({}, -math.inf, "t: must be a finite number, got -inf"),
        ({"positive": True}, 0, "t: must be a positive number, got 0"),
        (
            {"positive": True, "unit": "seconds"},
            -1.5,
            "t: must be a positive number of seconds, got -1.5",
        ),
        (
            {"positive": True, "unit": "seconds"},
            math.inf,
            "t: must be a finite positive number of seconds, got inf",
        ),
        (
            {"positive": True, "unit": "seconds", "allow_inf": True},
            0,
            "t: must be a positive number of seconds (or inf), got 0",
        ),
        ({"minimum": 0, "allow_inf": True}, -1, "t: must be a number >= 0 (or inf), got -1"),
        (
            {"minimum": 0, "allow_inf": True},
            -math.inf,
            "t: must be a number >= 0 (or inf), got -inf",
        ),
        ({"minimum": 1, "maximum": 2}, 2.5, "t: must be a number in 1..2, got 2.5"),
    ],
)
def test_number_rejects(kwargs: dict[str, Any], value: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        check_number("t", value, **kwargs)
    assert str(info.value) == message


def test_choice_is_case_sensitive_by_default() -> None:
    assert check_choice("transport", "tcp", ("tcp", "websockets")) == "tcp"
    with pytest.raises(
        InvalidArgumentError, match=r"^transport: 'TCP' is not one of tcp, websockets$"
    ):
        check_choice("transport", "TCP", ("tcp", "websockets"))


def test_choice_ignoring_case_returns_the_allowed_spelling() -> None:
    allowed = ("none", "NoPadding", "pkcs7")
    assert check_choice("crypto.padding", "NOPADDING", allowed, ignore_case=True) == "NoPadding"
    assert check_choice("crypto.padding", "PKCS7", allowed, ignore_case=True) == "pkcs7"


@pytest.mark.parametrize("value", [None, 1, ["tcp"], b"tcp"])
def test_choice_rejects_what_is_not_a_string(value: Any) -> None:
    # An unhashable value (a list) must be an InvalidArgumentError, not a TypeError.
    with pytest.raises(InvalidArgumentError, match=r"^mode: .* is not one of a, b$"):
        check_choice("mode", value, ("a", "b"), ignore_case=True)


def test_choice_message_is_the_crypto_message() -> None:
    modes = ("CBC", "CFB", "CTR", "EAX", "GCM", "OFB", "OPENPGP")
    with pytest.raises(
        InvalidArgumentError, match=r"crypto\.mode: 'XYZ' is not one of CBC, CFB, CTR, EAX, GCM"
    ):
        check_choice("crypto.mode", "XYZ", modes, ignore_case=True)


def test_consistency_from_member_name_or_number() -> None:
    from sinetstream import Consistency

    assert check_consistency("consistency", Consistency.EXACTLY_ONCE) == "EXACTLY_ONCE"
    assert check_consistency("consistency", "AT_LEAST_ONCE") == "AT_LEAST_ONCE"
    assert [check_consistency("c", n) for n in (1, 2, 3)] == list(CONSISTENCY_NAMES)


@pytest.mark.parametrize("value", [None, True, 0, 4, "at_least_once", "SOMETIMES", 2.0])
def test_consistency_rejects(value: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        check_consistency("consistency", value, where="w: ")
    assert str(info.value) == (
        f"w: consistency: {value!r} is not one of AT_MOST_ONCE, AT_LEAST_ONCE, EXACTLY_ONCE"
    )


def test_str() -> None:
    assert check_str("name", "") == ""
    assert check_str("name", "x", allow_empty=False) == "x"
    with pytest.raises(InvalidArgumentError, match=r"^name: must be a string, got b'x'$"):
        check_str("name", b"x")
    with pytest.raises(InvalidArgumentError, match=r"^name: must be a non-empty string, got ''$"):
        check_str("name", "", allow_empty=False)


def test_text_decodes_utf8_bytes_and_never_shows_the_value() -> None:
    assert check_text("user", "alice") == "alice"
    assert check_text("user", "ä".encode()) == "ä"
    assert check_text("user", bytearray(b"bob")) == "bob"
    with pytest.raises(InvalidArgumentError) as info:
        check_text("password", b"\xffsecret")
    assert str(info.value) == "password: must be valid UTF-8"
    with pytest.raises(InvalidArgumentError) as info:
        check_text("password", 12345)
    assert str(info.value) == "password: must be a string or UTF-8 bytes, got int"


def test_bytes_encodes_strings() -> None:
    assert check_bytes("auth_data", "ä") == "ä".encode()
    assert check_bytes("auth_data", bytearray(b"\x00\x01")) == b"\x00\x01"
    assert type(check_bytes("auth_data", bytearray(b"x"))) is bytes
    with pytest.raises(
        InvalidArgumentError, match=r"^auth_data: must be bytes or a string, got int$"
    ):
        check_bytes("auth_data", 5)


def test_str_list() -> None:
    assert check_str_list("topics", "a") == ["a"]
    assert check_str_list("topics", ("a", "b")) == ["a", "b"]
    for bad in ([], "", ["a", ""], ["a", 1], None, {"a": 1}):
        with pytest.raises(InvalidArgumentError, match=r"^topics: must be a non-empty string or"):
            check_str_list("topics", bad)


def test_where_prefixes_every_message() -> None:
    checks = [
        lambda: check_bool("k", 1, where="w: "),
        lambda: check_int("k", "1", where="w: "),
        lambda: check_number("k", "1", where="w: "),
        lambda: check_choice("k", "x", ("y",), where="w: "),
        lambda: check_consistency("k", "x", where="w: "),
        lambda: check_str("k", 1, where="w: "),
        lambda: check_text("k", 1, where="w: "),
        lambda: check_bytes("k", 1, where="w: "),
        lambda: check_str_list("k", 1, where="w: "),
    ]
    for check in checks:
        with pytest.raises(InvalidArgumentError, match=r"^w: k: "):
            check()


def test_service_where() -> None:
    assert service_where({"service": "sensors"}, "mqtt") == "mqtt service 'sensors': "
    assert service_where({}, "mqtt") == "mqtt: "
    assert service_where({"service": None}, "kafka") == "kafka: "


def test_params_messaging_reads_type_spec_in_v3_and_the_top_level_before() -> None:
    v3 = Params.messaging(
        ConfigVersion(3), {"service": "s", "type_spec": {"batch": 0}, "batch": 5}, "mybroker"
    )
    with pytest.raises(InvalidArgumentError) as info:
        v3.get_int("batch", 100, minimum=1)
    assert (
        str(info.value) == "mybroker service 's': type_spec.batch: must be an integer >= 1, got 0"
    )

    v2 = Params.messaging(ConfigVersion(2), {"batch": 0, "topic": "t"}, "mybroker")
    assert v2.values == {"batch": 0}
    with pytest.raises(InvalidArgumentError, match=r"^mybroker: batch: must be an integer >= 1"):
        v2.get_int("batch", 100, minimum=1)


def test_params_defaults_and_null() -> None:
    p = Params({"a": None, "b": 7, "flag": "yes"}, prefix="x.")
    # Absent: the default, unchecked.
    assert p.get_int("missing", 60, minimum=1) == 60
    assert p.get_int("missing", None) is None
    # Null: allowed where the default is None (an optional setting)...
    assert p.get_int("a", None) is None
    assert p.get_number("a", None) is None
    # ...and an error where there is a default, as it always was.
    with pytest.raises(InvalidArgumentError, match=r"^x\.a: must be an integer >= 1, got None$"):
        p.get_int("a", 60, minimum=1)
    assert p.get_int("b", None, maximum=9) == 7
    assert p.get_bool("flag", False) is True
    assert p.key("b") == "x.b"


def test_params_getters_check_as_the_functions_do() -> None:
    p = Params(
        {
            "n": 2.5,
            "mode": "FAST",
            "name": "",
            "user": b"al",
            "data": "d",
            "topics": "t",
            "on": "off",
        },
        where="svc: ",
    )
    assert p.get_number("n", 1.0, minimum=0) == 2.5
    assert p.get_choice("mode", "safe", ("fast", "safe"), ignore_case=True) == "fast"
    assert p.get_str("name", "x") == ""
    assert p.get_text("user", None) == "al"
    assert p.get_bytes("data", None) == b"d"
    assert p.get_str_list("topics", None) == ["t"]
    assert p.get_bool("on", True) is False
    with pytest.raises(InvalidArgumentError, match=r"^svc: n: must be an integer, got 2\.5$"):
        p.get_int("n", 1)
    with pytest.raises(InvalidArgumentError, match=r"^svc: mode: 'FAST' is not one of fast"):
        p.get_choice("mode", "safe", ("fast", "safe"))
    with pytest.raises(InvalidArgumentError, match=r"^svc: name: must be a non-empty string"):
        p.get_str("name", "x", allow_empty=False)
